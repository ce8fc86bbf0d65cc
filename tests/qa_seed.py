"""Seed analysed calls for QA tests: hand-written transcripts run through the real
``analyze_transcript`` (intent, sentiment, flags, guardrail, scorecard) and stored with the
service's own ``repo.store_analysis``, exactly as a worker would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from callintel.domain import ChannelMap, Transcript, Turn
from callintel.pipeline import analyze_transcript
from callintel.storage import repo
from callintel.storage.db import transaction

CALLS = Path(__file__).resolve().parent / "fixtures" / "qa" / "calls.yaml"


def transcript_of(turns: list[list[str]]) -> Transcript:
    out, clock = [], 0.0
    for i, (speaker, text) in enumerate(turns):
        length = 0.35 * len(text.split()) + 0.4
        out.append(Turn(index=i, speaker=speaker, start=round(clock, 2), end=round(clock + length, 2),  # type: ignore[arg-type]
                        text=text, channel=0 if speaker == "agent" else 1))
        clock += length + 0.6
    return Transcript(turns=tuple(out), language="en", duration_s=round(clock, 2), channels=2,
                      channel_map=ChannelMap())


@dataclass(frozen=True)
class Seeded:
    ids: dict[str, str]
    """Fixture call name → call id."""
    documents: dict[str, dict[str, Any]]


def analyse_all(analyzers: Any) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """name → (spec, analysis document); computed once and reused by every seeding."""
    specs = yaml.safe_load(CALLS.read_text(encoding="utf-8"))
    out = {}
    for spec in specs:
        analysis, _ = analyze_transcript(transcript_of(spec["turns"]), analyzers=analyzers,
                                         call_id=f"call_{spec['name']}")
        out[spec["name"]] = (spec, analysis.to_dict())
    return out


def seed(sessions: Any, analysed: dict[str, tuple[dict[str, Any], dict[str, Any]]], *,
         tenant_id: str = "default", prefix: str = "") -> Seeded:
    """Store every analysed fixture call for ``tenant_id`` (ids prefixed to stay unique)."""
    now = datetime.now(UTC).replace(microsecond=0)
    ids: dict[str, str] = {}
    docs: dict[str, dict[str, Any]] = {}
    for name, (spec, document) in analysed.items():
        call_id = f"call_{prefix}{name}"
        doc = {**document, "call_id": call_id}
        with transaction(sessions) as session:
            call = repo.create_call(session, repo.NewCall(
                tenant_id=tenant_id, agent_id=spec["agent_id"], customer_id=spec["customer_id"],
                queue=spec["queue"], started_at=now - timedelta(days=spec["day"], hours=1),
            ), call_id=call_id)
            job = repo.create_job(session, call_id=call_id, deadline_s=3600)
            repo.store_analysis(session, call=call, job=job, document=doc, raw_transcript=None,
                                redacted_audio_key=None)
        ids[name], docs[name] = call_id, doc
    return Seeded(ids=ids, documents=docs)
