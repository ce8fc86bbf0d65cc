"""Tenant scorecards: load a tenant's scorecard (else the default) and re-score stored calls with it.

Workers may score new calls with ``tenant_scorecard`` too; ``rescore_call`` stores the result as the
call's next analysis version (earlier versions are kept, as with corrections).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.orm import Session

from callintel.domain import Escalation, Flag, IntentResult, Transcript, Turn, to_jsonable
from callintel.errors import Conflict, NotFound
from callintel.ml.protocols import Embedder
from callintel.storage import qa_repo, repo
from callintel.understanding.qa import Scorecard, load_scorecard, score_call

_CACHE: dict[tuple[str, str], Scorecard] = {}


def tenant_scorecard(session: Session, *, tenant_id: str, embedder: Embedder) -> Scorecard:
    """The tenant's stored scorecard, or the packaged default; loaded once per distinct text."""
    stored = repo.get_tenant_setting(session, tenant_id=tenant_id, key="scorecard")
    text = stored if isinstance(stored, str) else ""
    key = (hashlib.sha256(text.encode()).hexdigest(), embedder.name)
    if key not in _CACHE:
        _CACHE[key] = load_scorecard(text or None, embedder=embedder)
    return _CACHE[key]


def transcript_of(doc: dict[str, Any]) -> Transcript:
    turns = tuple(
        Turn(index=int(t["index"]), speaker=t.get("speaker", "unknown"), start=float(t.get("start", 0.0)),
             end=float(t.get("end", 0.0)), text=str(t.get("text", "")))
        for t in (doc.get("transcript") or {}).get("turns", [])
    )
    return Transcript(turns=turns, language=str(doc.get("language") or "en"),
                      duration_s=float(doc.get("duration_s") or 0.0),
                      channels=int((doc.get("transcript") or {}).get("channels") or 1))


def signals_of(doc: dict[str, Any]) -> tuple[tuple[Flag, ...], Escalation | None, IntentResult | None]:
    flags = tuple(Flag(topic=str(f["topic"]), turns=tuple(f.get("turns") or ()),
                       confidence=float(f.get("confidence") or 0.0), raised_by=f.get("raised_by", "unknown"))
                  for f in doc.get("flags") or [])
    esc = doc.get("escalation")
    escalation = Escalation(decision=esc.get("decision", "none"), priority=esc.get("priority", "normal"),
                            reasons=(), handoff_brief=None) if esc else None
    intent = doc.get("intent")
    result = IntentResult(label=str(intent["label"]), confidence=float(intent.get("confidence") or 0.0),
                          low_confidence=bool(intent.get("low_confidence"))) if intent else None
    return flags, escalation, result


def rescore_call(session: Session, *, tenant_id: str, call_id: str, embedder: Embedder) -> dict[str, Any]:
    """Score the call's current analysis with the tenant's scorecard; a new analysis version."""
    call = repo.get_call(session, tenant_id=tenant_id, call_id=call_id)
    if call is None:
        raise NotFound("call not found", call_id=call_id)
    row = repo.latest_analysis(session, call_id)
    if row is None:
        raise Conflict("the call has no analysis to score", status=call.status)
    card = tenant_scorecard(session, tenant_id=tenant_id, embedder=embedder)
    flags, escalation, intent = signals_of(row.document)
    result = score_call(transcript_of(row.document), scorecard=card, flags=flags, escalation=escalation,
                        intent=intent)
    document = {**row.document, "qa": to_jsonable(result)}
    qa_repo.save_analysis_version(session, call_id=call_id, document=document)
    call.qa_score = result.score
    session.flush()
    return document
