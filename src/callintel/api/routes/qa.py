"""QA review API: reviewer corrections, the review queue, metrics, search, handling times, tenant
scorecards, and (admin) retraining / rollback of the intent and sentiment heads."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from callintel.api.deps import (
    AdminPrincipal,
    CallFiltersDep,
    Principal,
    QAPrincipal,
    SessionDep,
    StateDep,
    require_scope,
)
from callintel.errors import InvalidInput, NotFound
from callintel.ml.protocols import Embedder
from callintel.review import corrections as corr
from callintel.review import models as heads
from callintel.review.metrics import MetricsQuery, metrics_summary
from callintel.review.search import search_calls
from callintel.storage import qa_repo, repo
from callintel.understanding.qa import DEFAULT_SCORECARD, parse_scorecard

router = APIRouter(tags=["qa review"])
IngestOrQA = Annotated[Principal, Depends(require_scope("ingest", "qa"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SentimentFix(_Body):
    turn: int = Field(ge=0)
    label: Literal["negative", "neutral", "positive"]


class QAFix(_Body):
    id: str
    result: Literal["pass", "fail", "n/a"]
    note: str = Field("", max_length=1000)


class SummaryFixBody(_Body):
    reason: str | None = Field(None, max_length=2000)
    outcome: Literal["resolved", "escalated", "pending", "unresolved"] | None = None
    next_steps: list[str] | None = None


class CorrectionBody(_Body):
    """What the reviewer changes; omitted fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "intent": "billing",
                    "flags": ["refund"],
                    "sentiment": [{"turn": 3, "label": "negative"}],
                    "qa": [{"id": "empathy", "result": "pass", "note": "apologised at turn 2"}],
                    "summary": {"outcome": "resolved"},
                    "reviewed": True,
                    "note": "checked",
                }
            ]
        },
    )
    intent: str | None = Field(None, min_length=1, max_length=100)
    flags: list[str] | None = None
    sentiment: list[SentimentFix] = []
    qa: list[QAFix] = []
    summary: SummaryFixBody | None = None
    reviewed: bool = False
    note: str = Field("", max_length=2000)

    def to_request(self) -> corr.CorrectionRequest:
        summary = None
        if self.summary is not None:
            steps = tuple(self.summary.next_steps) if self.summary.next_steps is not None else None
            summary = corr.SummaryFix(
                reason=self.summary.reason, outcome=self.summary.outcome, next_steps=steps
            )
        return corr.CorrectionRequest(
            intent=self.intent,
            flags=tuple(self.flags) if self.flags is not None else None,
            sentiment=tuple(corr.TurnLabel(s.turn, s.label) for s in self.sentiment),
            qa=tuple(corr.QAOverride(q.id, q.result, q.note) for q in self.qa),
            summary=summary,
            reviewed=self.reviewed,
            note=self.note,
        )


def _correction_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "field": row.field,
        "original": row.original,
        "corrected": row.corrected,
        "reviewer": row.reviewer,
        "created_at": row.created_at.isoformat(),
    }


@router.patch("/v1/calls/{call_id}/analysis")
def correct_analysis(
    call_id: str, body: CorrectionBody, principal: QAPrincipal, session: SessionDep
) -> dict[str, Any]:
    """Correct intent, flags, turn sentiment, scorecard items or the summary (original kept)."""
    reviewer = qa_repo.reviewer_name(session, key_id=principal.key_id)
    document, changes = corr.correct_call(
        session, tenant_id=principal.tenant_id, call_id=call_id, request=body.to_request(), reviewer=reviewer
    )
    return {
        "call_id": call_id,
        "reviewer": reviewer,
        "changes": [c.__dict__ for c in changes],
        "analysis": document,
    }


@router.get("/v1/calls/{call_id}/corrections")
def list_corrections(call_id: str, principal: QAPrincipal, session: SessionDep) -> dict[str, Any]:
    _call_or_404(session, principal, call_id)
    rows = qa_repo.list_corrections(session, tenant_id=principal.tenant_id, call_id=call_id)
    return {"call_id": call_id, "corrections": [_correction_json(r) for r in rows]}


def _call_or_404(session: Any, principal: Principal, call_id: str) -> Any:
    call = repo.get_call(session, tenant_id=principal.tenant_id, call_id=call_id)
    if call is None:
        raise NotFound("call not found", call_id=call_id)
    return call


def call_summary(call: Any) -> dict[str, Any]:
    """The list view of a call."""
    return {
        "id": call.id,
        "status": call.status,
        "external_id": call.external_id,
        "agent_id": call.agent_id,
        "customer_id": call.customer_id,
        "queue": call.queue,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "created_at": call.created_at.isoformat(),
        "duration_s": call.duration_s,
        "intent": call.intent,
        "sentiment": call.sentiment,
        "flags": [f["topic"] if isinstance(f, dict) else f for f in call.flags or []],
        "escalation": call.escalation_decision,
        "priority": call.escalation_priority,
        "qa_score": call.qa_score,
    }


@router.get("/v1/review/calls/{call_id}")
def review_call(call_id: str, principal: QAPrincipal, session: SessionDep) -> dict[str, Any]:
    """Everything the call page shows: the call, its current analysis, and its corrections."""
    call = _call_or_404(session, principal, call_id)
    row = repo.latest_analysis(session, call_id)
    rows = qa_repo.list_corrections(session, tenant_id=principal.tenant_id, call_id=call_id)
    return {
        "call": call_summary(call),
        "analysis_version": row.version if row else None,
        "analysis": row.document if row else None,
        "corrections": [_correction_json(r) for r in rows],
    }





@router.get("/v1/review/calls")
def review_calls(
    principal: QAPrincipal,
    session: SessionDep,
    filters: CallFiltersDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The dashboard's call list (newest first) with the call filters."""
    rows, _ = repo.list_calls(session, tenant_id=principal.tenant_id, filters=filters, limit=limit)
    return {"calls": [call_summary(c) for c in rows]}


@router.get("/v1/review-queue")
def review_queue(
    principal: QAPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    include_reviewed: bool = False,
) -> dict[str, Any]:
    """Calls the guardrail sent to a human or judged low-confidence: priority, then oldest first."""
    tenant = principal.tenant_id
    escalated = qa_repo.queue_candidates(session, tenant_id=tenant, limit=limit)
    seen = {c.id for c in escalated}
    recent = [c for c in qa_repo.recent_completed(session, tenant_id=tenant, limit=500) if c.id not in seen]
    docs = qa_repo.latest_documents(session, [c.id for c in recent])
    unsure = [c for c in recent if docs.get(c.id, (0, {}))[1].get("low_confidence")]
    unsure.sort(key=lambda c: (c.started_at or c.created_at, c.id))
    reviewed = set() if include_reviewed else qa_repo.reviewed_call_ids(session, tenant_id=tenant)
    items = []
    for call in [*escalated, *unsure]:
        if call.id in reviewed:
            continue
        reasons = docs.get(call.id, (0, {}))[1].get("low_confidence", []) if call.id not in seen else []
        items.append(
            {
                **call_summary(call),
                "why": "escalation" if call.id in seen else "low_confidence",
                "low_confidence": reasons,
            }
        )
    return {"items": items[:limit]}


@router.get("/v1/metrics/summary")
def metrics(
    principal: QAPrincipal,
    session: SessionDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    queue: str | None = None,
    agent_id: str | None = None,
    group_by: Literal["day", "week", "queue", "agent"] | None = None,
) -> dict[str, Any]:
    """Volume, handle time, transfer / escalation / repeat-contact rates, sentiment, intents, flags, QA."""
    if start is not None and end is not None and end <= start:
        raise InvalidInput("'to' must be after 'from'")
    query = MetricsQuery(start=start, end=end, queue=queue, agent_id=agent_id, group_by=group_by)
    return metrics_summary(session, tenant_id=principal.tenant_id, query=query)


def embedder_of(state: Any) -> Embedder:
    """The process's sentence embedder (loaded once, shared through ``state.extras``)."""
    from callintel.api.assist import models_of

    embedder: Embedder = models_of(state).embedder(state.settings.models.embedder)
    return embedder


@router.get("/v1/search")
def search(
    principal: QAPrincipal,
    session: SessionDep,
    state: StateDep,
    filters: CallFiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    mode: Literal["text", "semantic", "hybrid"] = "hybrid",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Full-text, semantic or hybrid search over transcripts, within the call filters."""
    embedder = embedder_of(state) if mode != "text" else None
    hits = search_calls(
        session,
        tenant_id=principal.tenant_id,
        q=q,
        mode=mode,
        filters=filters,
        embedder=embedder,
        limit=limit,
    )
    calls = qa_repo.calls_by_id(session, tenant_id=principal.tenant_id, call_ids=[h.call_id for h in hits])
    return {
        "q": q,
        "mode": mode,
        "results": [
            {
                **call_summary(calls[h.call_id]),
                "score": h.score,
                "text_rank": h.text_rank,
                "semantic": h.semantic,
                "snippet": h.snippet,
                "turns": list(h.turns),
            }
            for h in hits
            if h.call_id in calls
        ],
    }


class HandlingBody(_Body):
    hold_s: float | None = Field(None, ge=0, le=86400)
    after_call_work_s: float | None = Field(None, ge=0, le=86400)
    transferred: bool | None = None


@router.put("/v1/calls/{call_id}/handling")
def put_handling(
    call_id: str, body: HandlingBody, principal: IngestOrQA, session: SessionDep
) -> dict[str, Any]:
    """Report hold time, after-call work and transfer for a call (used by handle-time metrics)."""
    _call_or_404(session, principal, call_id)
    row = qa_repo.put_handling(
        session,
        tenant_id=principal.tenant_id,
        call_id=call_id,
        hold_s=body.hold_s,
        after_call_work_s=body.after_call_work_s,
        transferred=body.transferred,
    )
    return {
        "call_id": call_id,
        "hold_s": row.hold_s,
        "after_call_work_s": row.after_call_work_s,
        "transferred": row.transferred,
    }


class ScorecardBody(_Body):
    yaml: str = Field(min_length=1, max_length=200_000)


@router.get("/v1/admin/scorecard")
def get_scorecard(principal: QAPrincipal, session: SessionDep) -> dict[str, Any]:
    """The tenant's scorecard YAML (the packaged default when it has none)."""
    stored = repo.get_tenant_setting(session, tenant_id=principal.tenant_id, key="scorecard")
    text = stored if isinstance(stored, str) else DEFAULT_SCORECARD.read_text(encoding="utf-8")
    spec = parse_scorecard(text)
    return {
        "name": spec.name,
        "custom": isinstance(stored, str),
        "yaml": text,
        "items": [{"id": i.id, "label": i.label, "weight": i.weight} for i in spec.items],
    }


@router.put("/v1/admin/scorecard")
def put_scorecard(body: ScorecardBody, principal: AdminPrincipal, session: SessionDep) -> dict[str, Any]:
    """Validate and store the tenant's scorecard (422 ``scorecard_invalid`` with every error)."""
    spec = parse_scorecard(body.yaml)
    repo.put_tenant_setting(session, tenant_id=principal.tenant_id, key="scorecard", value=body.yaml)
    return {"name": spec.name, "items": [i.id for i in spec.items]}


@router.post("/v1/calls/{call_id}/rescore")
def rescore(call_id: str, principal: QAPrincipal, session: SessionDep, state: StateDep) -> dict[str, Any]:
    """Score the call again with the tenant's current scorecard (a new analysis version)."""
    from callintel.review.rescore import rescore_call

    document = rescore_call(session, tenant_id=principal.tenant_id, call_id=call_id,
                            embedder=embedder_of(state))
    return {"call_id": call_id, "qa": document["qa"]}


class RollbackBody(_Body):
    version: str | None = None


@router.post("/v1/admin/models/{kind}/retrain")
def retrain(kind: str, principal: AdminPrincipal, session: SessionDep, state: StateDep) -> dict[str, Any]:
    """Retrain ``intent`` or ``sentiment`` on packaged examples + corrections as a new, active version."""
    result = heads.retrain(session, kind=kind, embedder=embedder_of(state), heads_dir=heads_dir_of(state))
    return result.to_dict()


@router.post("/v1/admin/models/{kind}/rollback")
def rollback(
    kind: str,
    principal: AdminPrincipal,
    session: SessionDep,
    state: StateDep,
    body: RollbackBody | None = None,
) -> dict[str, Any]:
    """Make an earlier version active again (the previous one when no version is given)."""
    version = body.version if body is not None else None
    return heads.rollback(session, kind=kind, heads_dir=heads_dir_of(state), version=version)


def heads_dir_of(state: Any) -> Path:
    """Where retrained heads go: ``models.heads_dir``, else ``<models.cache_dir>/heads`` (as the CLI)."""
    models = state.settings.models
    folder: Path = models.resolved_heads_dir()
    return folder


@router.get("/v1/admin/models/{kind}/versions")
def versions(kind: str, principal: AdminPrincipal, session: SessionDep) -> dict[str, Any]:
    return {"kind": kind, "versions": heads.list_versions(session, kind=kind)}
