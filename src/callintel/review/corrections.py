"""Reviewer corrections: apply them to an analysis document, record them, and keep the original.

A correction never edits a stored analysis in place: it writes the corrected document as the
call's next analysis version (the earlier versions and every ``corrections`` row stay), marks each
corrected object with ``"corrected": true`` and lists the corrected fields under ``"corrected"``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from callintel.errors import Conflict, InvalidInput, NotFound, ScorecardInvalid
from callintel.storage import qa_repo, repo
from callintel.storage.models import Call
from callintel.understanding.qa import DEFAULT_SCORECARD, parse_scorecard

OUTCOMES = ("resolved", "escalated", "pending", "unresolved")
SENTIMENT_SIGN = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
QA_RESULTS = ("pass", "fail", "n/a")


@dataclass(frozen=True)
class TurnLabel:
    turn: int
    label: str


@dataclass(frozen=True)
class QAOverride:
    id: str
    result: str
    note: str = ""


@dataclass(frozen=True)
class SummaryFix:
    reason: str | None = None
    outcome: str | None = None
    next_steps: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CorrectionRequest:
    """What a reviewer changes; None/empty means unchanged."""

    intent: str | None = None
    flags: tuple[str, ...] | None = None
    sentiment: tuple[TurnLabel, ...] = ()
    qa: tuple[QAOverride, ...] = ()
    summary: SummaryFix | None = None
    reviewed: bool = False
    note: str = ""


@dataclass
class Change:
    field: str
    original: Any
    corrected: Any


@dataclass
class Applied:
    document: dict[str, Any]
    changes: list[Change] = field(default_factory=list)


def intent_text(doc: dict[str, Any]) -> str:
    """What an intent example is made of: the intent's evidence turns, else the summary's reason
    turns, else the customer's first two turns (the head classifies single utterances)."""
    turns = {t["index"]: t for t in doc.get("transcript", {}).get("turns", [])}
    reason = ((doc.get("summary") or {}).get("reason") or {}).get("turns") or []
    for indexes in ((doc.get("intent") or {}).get("turns") or [], reason):
        texts = [turns[i]["text"] for i in indexes if i in turns]
        if texts:
            return " ".join(texts[:2]).strip()
    own = [t["text"] for t in turns.values() if t.get("speaker") == "customer"] or \
        [t["text"] for t in turns.values()]
    return " ".join(own[:2]).strip()


def _mark(doc: dict[str, Any], name: str) -> None:
    marked = doc.setdefault("corrected", [])
    if name not in marked:
        marked.append(name)


def fix_intent(applied: Applied, label: str) -> None:
    doc = applied.document
    intent = doc.get("intent") or {"label": None, "confidence": 0.0, "secondary": [], "turns": []}
    original = {"label": intent.get("label"), "confidence": intent.get("confidence")}
    doc["intent"] = {**intent, "label": label, "confidence": 1.0, "low_confidence": False,
                     "corrected": True, "original": original}
    applied.changes.append(Change("intent", original, {"label": label, "text": intent_text(doc)}))
    _mark(doc, "intent")


def fix_flags(applied: Applied, topics: Sequence[str]) -> None:
    doc = applied.document
    current = {f["topic"]: f for f in doc.get("flags") or []}
    wanted = list(dict.fromkeys(topics))
    added = {"turns": [], "confidence": 1.0, "raised_by": "unknown", "evidence": [],
             "low_confidence": False, "corrected": True}
    flags = [current.get(t, {"topic": t, **added}) for t in wanted]
    applied.changes.append(Change("flags", sorted(current), {"topics": wanted, "text": intent_text(doc)}))
    doc["flags"] = flags
    doc["flags_removed"] = sorted(set(current) - set(wanted))
    _mark(doc, "flags")


def fix_sentiment(applied: Applied, fix: TurnLabel) -> None:
    doc = applied.document
    if fix.label not in SENTIMENT_SIGN:
        raise InvalidInput(f"sentiment label must be one of {', '.join(SENTIMENT_SIGN)}", label=fix.label)
    rows = (doc.get("sentiment") or {}).get("turns") or []
    row = next((r for r in rows if r.get("turn") == fix.turn), None)
    turn = next((t for t in doc["transcript"]["turns"] if t.get("index") == fix.turn), None)
    if row is None or turn is None:
        raise InvalidInput(f"turn {fix.turn} has no sentiment in this call", turn=fix.turn)
    original = {"label": row["label"], "score": row["score"]}
    row.update(label=fix.label, score=SENTIMENT_SIGN[fix.label] * max(abs(float(row["score"])), 0.5),
               corrected=True, original=original)
    corrected = {"label": fix.label, "text": turn["text"], "speaker": turn.get("speaker")}
    applied.changes.append(Change(f"sentiment.turns[{fix.turn}]", original, corrected))
    _mark(doc, "sentiment")


def fix_qa(applied: Applied, fix: QAOverride, weights: dict[str, float]) -> None:
    doc = applied.document
    if fix.result not in QA_RESULTS:
        raise InvalidInput("QA result must be pass, fail or n/a", result=fix.result)
    items = (doc.get("qa") or {}).get("items") or []
    item = next((i for i in items if i.get("id") == fix.id), None)
    if item is None:
        raise InvalidInput(f"no scorecard item '{fix.id}' in this call", item=fix.id)
    original = {"result": item["result"], "note": item.get("note", "")}
    item.update(result=fix.result, corrected=True, original=original,
                note=fix.note or item.get("note", ""))
    doc["qa"]["score"] = rescore(items, weights)
    applied.changes.append(Change(f"qa.items[{fix.id}]", original, {"result": fix.result, "note": fix.note}))
    _mark(doc, "qa")


def rescore(items: Sequence[dict[str, Any]], weights: dict[str, float]) -> float | None:
    applicable = [i for i in items if i["result"] != "n/a"]
    total = sum(weights.get(i["id"], 1.0) for i in applicable)
    if total <= 0:
        return None
    passed = sum(weights.get(i["id"], 1.0) for i in applicable if i["result"] == "pass")
    return round(100.0 * passed / total, 1)


def fix_summary(applied: Applied, fix: SummaryFix) -> None:
    doc = applied.document
    summary = doc.get("summary") or {"reason": None, "actions": [], "outcome": "pending",
                                     "outcome_turns": [], "next_steps": []}
    original = copy.deepcopy(summary)
    if fix.outcome is not None:
        if fix.outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}", outcome=fix.outcome)
        summary["outcome"] = fix.outcome
    if fix.reason is not None:
        summary["reason"] = {"text": fix.reason, "turns": [], "kind": "", "corrected": True}
    if fix.next_steps is not None:
        summary["next_steps"] = [{"text": t, "turns": [], "kind": "other", "corrected": True}
                                 for t in fix.next_steps]
    summary["corrected"] = True
    doc["summary"] = summary
    corrected = {"reason": fix.reason, "outcome": fix.outcome, "next_steps": fix.next_steps}
    applied.changes.append(Change("summary", original, corrected))
    _mark(doc, "summary")


def apply_corrections(
    document: dict[str, Any], request: CorrectionRequest, *, weights: dict[str, float]
) -> Applied:
    """The corrected copy of ``document`` and the list of changes (pure; nothing is stored)."""
    applied = Applied(copy.deepcopy(document))
    if request.intent is not None:
        fix_intent(applied, request.intent)
    if request.flags is not None:
        fix_flags(applied, request.flags)
    for turn_fix in request.sentiment:
        fix_sentiment(applied, turn_fix)
    for qa_fix in request.qa:
        fix_qa(applied, qa_fix, weights)
    if request.summary is not None:
        fix_summary(applied, request.summary)
    if request.reviewed:
        applied.changes.append(Change("reviewed", None, {"note": request.note}))
    elif request.note:
        applied.changes.append(Change("note", None, {"note": request.note}))
    if not applied.changes:
        raise InvalidInput("the correction changes nothing")
    return applied


def scorecard_weights(session: Session, *, tenant_id: str, name: str | None) -> dict[str, float]:
    """Item weights of the scorecard a call was scored with (the tenant's or the default)."""
    source = repo.get_tenant_setting(session, tenant_id=tenant_id, key="scorecard")
    try:
        spec = parse_scorecard(source if source and name != "default" else DEFAULT_SCORECARD)
    except ScorecardInvalid:  # a broken stored card must not block a correction: weigh items equally
        return {}
    return {i.id: i.weight for i in spec.items}


def _sync_call(call: Call, doc: dict[str, Any]) -> None:
    """Keep the call's list/filter columns in step with the corrected document."""
    if "intent" in doc.get("corrected", []):
        call.intent = doc["intent"]["label"]
    if "flags" in doc.get("corrected", []):
        sample = call.flags[0] if call.flags else None
        topics = [f["topic"] for f in doc["flags"]]
        call.flags = list(doc["flags"]) if isinstance(sample, dict) else topics
    if "qa" in doc.get("corrected", []):
        call.qa_score = doc["qa"]["score"]


def correct_call(
    session: Session, *, tenant_id: str, call_id: str, request: CorrectionRequest, reviewer: str
) -> tuple[dict[str, Any], list[Change]]:
    """Apply a reviewer's corrections: new analysis version, one ``corrections`` row per change."""
    call = repo.get_call(session, tenant_id=tenant_id, call_id=call_id)
    if call is None:
        raise NotFound("call not found", call_id=call_id)
    current = repo.latest_analysis(session, call_id)
    if current is None or call.status != "completed":
        raise Conflict("the call has no completed analysis to correct", status=call.status)
    weights = scorecard_weights(session, tenant_id=tenant_id,
                                name=(current.document.get("qa") or {}).get("scorecard"))
    applied = apply_corrections(current.document, request, weights=weights)
    qa_repo.save_analysis_version(session, call_id=call_id, document=applied.document)
    for change in applied.changes:
        qa_repo.add_correction(session, tenant_id=tenant_id, call_id=call_id, field=change.field,
                               original=change.original, corrected=change.corrected, reviewer=reviewer)
    _sync_call(call, applied.document)
    session.flush()
    return applied.document, applied.changes
