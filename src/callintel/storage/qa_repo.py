"""Data access for QA review: corrections, analysis versions, the review queue, metric rows,
text search and search segments. Like ``repo``, functions take a ``Session`` and never commit.

Every query is plain SQLAlchemy that runs on SQLite and PostgreSQL; the only dialect branch is
full-text search (``tsvector`` on PostgreSQL, ``LIKE`` on every term elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, delete, func, literal_column, or_, select
from sqlalchemy.orm import Session

from callintel.storage.models import AnalysisRow, ApiKey, Call, Correction, ModelVersion, UTCDateTime, utcnow
from callintel.storage.qa_models import CallHandling, SearchSegment
from callintel.storage.repo import CallFilters, latest_analysis
from callintel.storage.repo import _filtered as filter_calls

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


# --- analysis versions and corrections ---------------------------------------------------------
def save_analysis_version(session: Session, *, call_id: str, document: dict[str, Any]) -> AnalysisRow:
    """Store ``document`` as the call's next analysis version (earlier versions are kept)."""
    current = latest_analysis(session, call_id)
    row = AnalysisRow(
        call_id=call_id,
        job_id=None,
        version=(current.version + 1) if current else 1,
        document=document,
        raw_transcript=None,
    )
    session.add(row)
    session.flush()
    return row


def add_correction(
    session: Session,
    *,
    tenant_id: str,
    call_id: str,
    field: str,
    original: Any,
    corrected: Any,
    reviewer: str,
) -> Correction:
    row = Correction(
        call_id=call_id,
        tenant_id=tenant_id,
        field=field,
        original=original,
        corrected=corrected,
        reviewer=reviewer,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def list_corrections(session: Session, *, tenant_id: str, call_id: str | None = None) -> list[Correction]:
    query = select(Correction).where(Correction.tenant_id == tenant_id)
    if call_id is not None:
        query = query.where(Correction.call_id == call_id)
    return list(session.scalars(query.order_by(Correction.created_at, Correction.id)))


def corrections_for_training(session: Session, *, fields: Sequence[str] | None = None) -> list[Correction]:
    """Every tenant's corrections (of ``fields`` when given), oldest first (later ones win)."""
    query = select(Correction)
    if fields is not None:
        query = query.where(Correction.field.in_(list(fields)))
    return list(session.scalars(query.order_by(Correction.created_at, Correction.id)))


def reviewer_name(session: Session, *, key_id: str) -> str:
    key = session.get(ApiKey, key_id)
    name = key.name if key is not None and key.name else ""
    return f"{key_id} ({name})" if name else key_id


def reviewed_call_ids(session: Session, *, tenant_id: str) -> set[str]:
    query = select(Correction.call_id).where(
        Correction.tenant_id == tenant_id, Correction.field == "reviewed"
    )
    return set(session.scalars(query))


# --- review queue --------------------------------------------------------------------------------
def queue_candidates(session: Session, *, tenant_id: str, limit: int) -> list[Call]:
    """Completed calls the guardrail sent to a human, most urgent first, then oldest first."""
    rank = case(PRIORITY_RANK, value=Call.escalation_priority, else_=4)
    query = (
        select(Call)
        .where(
            Call.tenant_id == tenant_id,
            Call.status == "completed",
            Call.escalation_decision.in_(["suggest", "require"]),
        )
        .order_by(rank, func.coalesce(Call.started_at, Call.created_at), Call.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def recent_completed(session: Session, *, tenant_id: str, limit: int) -> list[Call]:
    query = (
        select(Call)
        .where(Call.tenant_id == tenant_id, Call.status == "completed")
        .order_by(Call.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def latest_documents(session: Session, call_ids: Sequence[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    """Latest analysis (version, document) for each call id given."""
    if not call_ids:
        return {}
    latest = (
        select(AnalysisRow.call_id, func.max(AnalysisRow.version).label("v"))
        .where(AnalysisRow.call_id.in_(list(call_ids)))
        .group_by(AnalysisRow.call_id)
        .subquery()
    )
    query = select(AnalysisRow).join(
        latest, and_(AnalysisRow.call_id == latest.c.call_id, AnalysisRow.version == latest.c.v)
    )
    return {row.call_id: (row.version, row.document) for row in session.scalars(query)}


# --- metrics -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MetricRow:
    call_id: str
    at: datetime
    queue: str | None
    agent_id: str | None
    customer_id: str | None
    duration_s: float | None
    intent: str | None
    sentiment: str | None
    flags: list[Any]
    escalation: str | None
    qa_score: float | None
    hold_s: float | None
    after_call_work_s: float | None
    transferred: bool | None


def call_time() -> Any:
    """When the call happened: its reported start, else its upload time (typed so SQLite keeps UTC)."""
    return func.coalesce(Call.started_at, Call.created_at, type_=UTCDateTime())


def metric_rows(
    session: Session,
    *,
    tenant_id: str,
    start: datetime | None,
    end: datetime | None,
    queue: str | None = None,
    agent_id: str | None = None,
) -> list[MetricRow]:
    """One row per completed call in [start, end), by its start time (or upload time)."""
    at = call_time().label("at")
    query = (
        select(
            Call.id,
            at,
            Call.queue,
            Call.agent_id,
            Call.customer_id,
            Call.duration_s,
            Call.intent,
            Call.sentiment,
            Call.flags,
            Call.escalation_decision,
            Call.qa_score,
            CallHandling.hold_s,
            CallHandling.after_call_work_s,
            CallHandling.transferred,
        )
        .outerjoin(CallHandling, CallHandling.call_id == Call.id)
        .where(Call.tenant_id == tenant_id, Call.status == "completed")
    )
    if start is not None:
        query = query.where(call_time() >= start)
    if end is not None:
        query = query.where(call_time() < end)
    if queue is not None:
        query = query.where(Call.queue == queue)
    if agent_id is not None:
        query = query.where(Call.agent_id == agent_id)
    rows = session.execute(query.order_by(at, Call.id)).all()
    return [MetricRow(*_aware(row)) for row in rows]


def _aware(row: Any) -> tuple[Any, ...]:
    values = list(row)
    values[8] = values[8] or []
    return tuple(values)


def customer_contacts(
    session: Session,
    *,
    tenant_id: str,
    customer_ids: Sequence[str],
    start: datetime | None,
    end: datetime | None,
) -> dict[str, list[datetime]]:
    """Contact times per customer in [start, end) (any status but failed), sorted."""
    if not customer_ids:
        return {}
    query = select(Call.customer_id, call_time()).where(
        Call.tenant_id == tenant_id, Call.customer_id.in_(list(customer_ids)), Call.status != "failed"
    )
    if start is not None:
        query = query.where(call_time() >= start)
    if end is not None:
        query = query.where(call_time() < end)
    out: dict[str, list[datetime]] = {}
    for customer, at in session.execute(query).all():
        out.setdefault(customer, []).append(at)
    return {k: sorted(v) for k, v in out.items()}


def put_handling(
    session: Session,
    *,
    tenant_id: str,
    call_id: str,
    hold_s: float | None,
    after_call_work_s: float | None,
    transferred: bool | None,
) -> CallHandling:
    row = session.get(CallHandling, call_id)
    if row is None:
        row = CallHandling(call_id=call_id, tenant_id=tenant_id)
        session.add(row)
    if hold_s is not None:
        row.hold_s = hold_s
    if after_call_work_s is not None:
        row.after_call_work_s = after_call_work_s
    if transferred is not None:
        row.transferred = transferred
    row.updated_at = utcnow()
    session.flush()
    return row


# --- search --------------------------------------------------------------------------------------
def filtered_call_ids(session: Session, *, tenant_id: str, filters: CallFilters, limit: int) -> list[str]:
    query = filter_calls(select(Call.id).where(Call.tenant_id == tenant_id), filters)  # type: ignore[arg-type]
    query = query.order_by(Call.created_at.desc()).limit(limit)
    return [str(x) for x in session.scalars(query)]


def text_search(
    session: Session, *, tenant_id: str, q: str, filters: CallFilters, limit: int
) -> list[tuple[str, float]]:
    """Calls whose transcript text matches ``q``, best first, as (call id, rank)."""
    base = filter_calls(select(Call.id).where(Call.tenant_id == tenant_id), filters)  # type: ignore[arg-type]
    if session.get_bind().dialect.name == "postgresql":
        document = func.to_tsvector(literal_column("'english'"), func.coalesce(Call.search_text, ""))
        query_ts = func.websearch_to_tsquery(literal_column("'english'"), q)
        rank = func.ts_rank(document, query_ts).label("rank")
        query = base.add_columns(rank).where(document.op("@@")(query_ts)).order_by(rank.desc()).limit(limit)
        return [(str(cid), float(r)) for cid, r in session.execute(query).all()]
    terms = [t for t in q.lower().split() if len(t) > 1][:12]
    if not terms:
        return []
    score = sum(
        (case((func.lower(Call.search_text).contains(t), 1.0), else_=0.0) for t in terms),
        start=literal_column("0.0", Float),
    )
    matched = [func.lower(Call.search_text).contains(t) for t in terms]
    query = base.add_columns(score.label("rank")).where(or_(*matched)).order_by(score.desc()).limit(limit)
    return [(str(cid), float(r) / len(terms)) for cid, r in session.execute(query).all()]


def calls_missing_segments(session: Session, *, tenant_id: str, embedder: str, limit: int) -> list[str]:
    indexed = select(SearchSegment.call_id).where(
        SearchSegment.tenant_id == tenant_id, SearchSegment.embedder == embedder
    )
    query = (
        select(Call.id)
        .where(Call.tenant_id == tenant_id, Call.status == "completed", Call.id.not_in(indexed))
        .limit(limit)
    )
    return [str(x) for x in session.scalars(query)]


@dataclass(frozen=True, slots=True)
class NewSegment:
    first_turn: int
    last_turn: int
    start_s: float
    text: str
    embedding: bytes


def replace_segments(
    session: Session,
    *,
    tenant_id: str,
    call_id: str,
    version: int,
    embedder: str,
    segments: Sequence[NewSegment],
) -> None:
    session.execute(delete(SearchSegment).where(SearchSegment.call_id == call_id))
    session.add_all(
        SearchSegment(
            tenant_id=tenant_id,
            call_id=call_id,
            analysis_version=version,
            embedder=embedder,
            first_turn=s.first_turn,
            last_turn=s.last_turn,
            start_s=s.start_s,
            text=s.text,
            embedding=s.embedding,
        )
        for s in segments
    )
    session.flush()


def load_segments(
    session: Session, *, tenant_id: str, embedder: str, call_ids: Sequence[str] | None
) -> list[SearchSegment]:
    query = select(SearchSegment).where(
        SearchSegment.tenant_id == tenant_id, SearchSegment.embedder == embedder
    )
    if call_ids is not None:
        query = query.where(SearchSegment.call_id.in_(list(call_ids)))
    return list(session.scalars(query))


def calls_by_id(session: Session, *, tenant_id: str, call_ids: Sequence[str]) -> dict[str, Call]:
    if not call_ids:
        return {}
    query = select(Call).where(Call.tenant_id == tenant_id, Call.id.in_(list(call_ids)))
    return {c.id: c for c in session.scalars(query)}


# --- model versions ------------------------------------------------------------------------------
def model_versions(session: Session, *, kind: str) -> list[ModelVersion]:
    query = select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.tenant_id.is_(None))
    return list(session.scalars(query.order_by(ModelVersion.created_at, ModelVersion.id)))


def add_model_version(
    session: Session, *, kind: str, version: str, path: str, metrics: dict[str, Any], active: bool
) -> ModelVersion:
    if active:
        _deactivate(session, kind=kind)
    row = ModelVersion(
        tenant_id=None,
        kind=kind,
        version=version,
        path=path,
        metrics=metrics,
        active=active,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def activate_model_version(session: Session, *, kind: str, version: str) -> ModelVersion | None:
    rows = {r.version: r for r in model_versions(session, kind=kind)}
    target = rows.get(version)
    if target is None:
        return None
    _deactivate(session, kind=kind)
    target.active = True
    session.flush()
    return target


def _deactivate(session: Session, *, kind: str) -> None:
    for row in model_versions(session, kind=kind):
        row.active = False
    session.flush()
