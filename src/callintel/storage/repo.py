"""Data access functions. Every function takes a ``Session`` and never commits: callers own the
transaction (``db.transaction``), so one unit of work is one commit.

Tenant-scoped reads take ``tenant_id`` and return None for another tenant's rows, which the API
turns into 404.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callintel.storage.models import (
    AnalysisRow,
    ApiKey,
    Call,
    IdempotencyKey,
    Job,
    Tenant,
    TenantSetting,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)

SCOPES = ("ingest", "agent", "qa", "admin")
DEFAULT_TENANT = "default"


def new_id(prefix: str) -> str:
    """A sortable-enough random id with a readable prefix (``call_…``, ``job_…``)."""
    return f"{prefix}_{uuid.uuid4().hex}"


# --- tenants and keys ------------------------------------------------------------------------
def ensure_tenant(session: Session, tenant_id: str, *, name: str = "") -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        tenant = Tenant(id=tenant_id, name=name or tenant_id)
        session.add(tenant)
        session.flush()
    return tenant


def hash_key(key: str) -> str:
    """Keys are random 256-bit secrets, so a plain SHA-256 is a safe at-rest form."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CreatedKey:
    id: str
    tenant_id: str
    scopes: tuple[str, ...]
    key: str
    """The plaintext key, shown once."""


def create_api_key(
    session: Session, *, tenant_id: str, scopes: Sequence[str], name: str = "", key: str | None = None
) -> CreatedKey:
    """Create a key (a random one unless ``key`` is given); only its hash is stored."""
    bad = sorted(set(scopes) - set(SCOPES))
    if bad or not scopes:
        from callintel.errors import InvalidInput

        raise InvalidInput(f"scopes must be a non-empty subset of {', '.join(SCOPES)}", invalid=bad)
    ensure_tenant(session, tenant_id)
    key_id = uuid.uuid4().hex[:16]
    plaintext = key or f"ci_{key_id}_{secrets.token_urlsafe(32)}"
    ordered = tuple(s for s in SCOPES if s in set(scopes))
    session.add(
        ApiKey(id=key_id, tenant_id=tenant_id, name=name, key_hash=hash_key(plaintext), scopes=list(ordered))
    )
    session.flush()
    return CreatedKey(id=key_id, tenant_id=tenant_id, scopes=ordered, key=plaintext)


def find_api_key(session: Session, key: str) -> ApiKey | None:
    """The active key with this plaintext, or None."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def key_exists(session: Session, key: str) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key))) is not None


def count_keys(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ApiKey)) or 0)


def revoke_api_key(session: Session, *, key_id: str) -> bool:
    result = session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_api_keys(session: Session, *, tenant_id: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    return list(session.scalars(query))


# --- tenant settings -------------------------------------------------------------------------
def get_tenant_setting(session: Session, *, tenant_id: str, key: str) -> Any:
    row = session.get(TenantSetting, (tenant_id, key))
    return None if row is None else row.value


def put_tenant_setting(session: Session, *, tenant_id: str, key: str, value: Any) -> None:
    ensure_tenant(session, tenant_id)
    row = session.get(TenantSetting, (tenant_id, key))
    if row is None:
        session.add(TenantSetting(tenant_id=tenant_id, key=key, value=value))
    else:
        row.value = value
        row.updated_at = utcnow()
    session.flush()


# --- calls -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewCall:
    """What an ingest request stores about a call before analysis."""

    tenant_id: str
    source: str = "upload"
    external_id: str | None = None
    agent_id: str | None = None
    customer_id: str | None = None
    queue: str | None = None
    started_at: datetime | None = None
    channel_map: str = "agent,customer"
    language: str | None = None
    asr_model: str | None = None
    callback_url: str | None = None
    recording_url: str | None = None
    audio_key: str | None = None
    audio_bytes: int | None = None


def create_call(session: Session, new: NewCall, *, call_id: str | None = None) -> Call:
    ensure_tenant(session, new.tenant_id)
    call = Call(
        id=call_id or new_id("call"),
        status="queued",
        flags=[],
        **{f: getattr(new, f) for f in NewCall.__dataclass_fields__},
    )
    session.add(call)
    session.flush()
    return call


def get_call(session: Session, *, tenant_id: str, call_id: str) -> Call | None:
    """The call if it belongs to ``tenant_id``; None otherwise (another tenant's call is 'not found')."""
    call = session.get(Call, call_id)
    return call if call is not None and call.tenant_id == tenant_id else None


def get_call_by_id(session: Session, call_id: str, *, lock: bool = False) -> Call | None:
    """Unscoped read for workers (they act on behalf of whichever tenant owns the job)."""
    query = select(Call).where(Call.id == call_id)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def latest_analysis(session: Session, call_id: str) -> AnalysisRow | None:
    return session.scalar(
        select(AnalysisRow)
        .where(AnalysisRow.call_id == call_id)
        .order_by(AnalysisRow.version.desc())
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class CallFilters:
    status: str | None = None
    intent: str | None = None
    flag: str | None = None
    sentiment: str | None = None
    agent_id: str | None = None
    customer_id: str | None = None
    queue: str | None = None
    escalation: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Call], filters: CallFilters) -> Select[Call]:
    equal = {
        "status": Call.status,
        "intent": Call.intent,
        "sentiment": Call.sentiment,
        "agent_id": Call.agent_id,
        "customer_id": Call.customer_id,
        "queue": Call.queue,
        "escalation": Call.escalation_decision,
    }
    for name, column in equal.items():
        value = getattr(filters, name)
        if value is not None:
            query = query.where(column == value)
    if filters.flag is not None:
        from sqlalchemy import String, cast

        pattern = f'%"{_like_escape(filters.flag)}"%'
        query = query.where(cast(Call.flags, String).like(pattern, escape="\\"))
    if filters.text:
        query = query.where(Call.search_text.ilike(f"%{_like_escape(filters.text)}%", escape="\\"))
    if filters.created_from is not None:
        query = query.where(Call.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(Call.created_at < filters.created_to)
    return query


def list_calls(
    session: Session,
    *,
    tenant_id: str,
    filters: CallFilters,
    limit: int = 50,
    after: tuple[datetime, str] | None = None,
) -> tuple[list[Call], tuple[datetime, str] | None]:
    """Newest first. ``after`` is the (created_at, id) of the last row of the previous page."""
    query = _filtered(select(Call).where(Call.tenant_id == tenant_id), filters)
    if after is not None:
        at, last_id = after
        query = query.where(or_(Call.created_at < at, and_(Call.created_at == at, Call.id < last_id)))
    rows = list(session.scalars(query.order_by(Call.created_at.desc(), Call.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1].created_at, rows[-1].id) if more and rows else None)


def delete_call(session: Session, *, tenant_id: str, call_id: str) -> list[str] | None:
    """Erase a call and everything derived from it; returns its blob keys (None if not found).

    Rows go through explicit deletes so the erase does not depend on the backend's cascade support.
    """
    call = get_call(session, tenant_id=tenant_id, call_id=call_id)
    if call is None:
        return None
    keys = [k for k in (call.audio_key, call.redacted_audio_key) if k is not None]
    from callintel.storage.models import Correction

    delivery_ids = select(WebhookDelivery.id).where(WebhookDelivery.call_id == call_id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)))
    for model in (WebhookDelivery, AnalysisRow, Job, IdempotencyKey, Correction):
        session.execute(delete(model).where(model.call_id == call_id))
    session.execute(delete(Call).where(Call.id == call_id))
    return keys


# --- idempotency -----------------------------------------------------------------------------
def find_idempotency(session: Session, *, tenant_id: str, key: str) -> IdempotencyKey | None:
    return session.get(IdempotencyKey, (tenant_id, key))


def save_idempotency(session: Session, *, tenant_id: str, key: str, body_hash: str, call_id: str) -> bool:
    """Remember ``key``; False when a concurrent request stored the same key first."""
    try:
        with session.begin_nested():
            session.add(IdempotencyKey(tenant_id=tenant_id, key=key, body_hash=body_hash, call_id=call_id))
    except IntegrityError:
        return False
    return True


# --- jobs ------------------------------------------------------------------------------------
def create_job(session: Session, *, call_id: str, deadline_s: int) -> Job:
    job = Job(
        id=new_id("job"),
        call_id=call_id,
        status="queued",
        task_id=uuid.uuid4().hex,
        deadline_at=utcnow() + timedelta(seconds=deadline_s),
        timings={},
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def latest_job(session: Session, call_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.call_id == call_id).order_by(Job.created_at.desc()).limit(1))


def claim_job(session: Session, *, job_id: str, task_id: str, deadline_s: int) -> bool:
    """Atomically start a job: queued, or processing under this very task (a redelivery after a
    worker died), or processing past its deadline. Counts the delivery. False: someone else has it."""
    now = utcnow()
    claimable = or_(
        Job.status == "queued",
        and_(Job.status == "processing", or_(Job.task_id == task_id, Job.deadline_at < now)),
    )
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, claimable)
        .values(
            status="processing",
            task_id=task_id,
            deliveries=Job.deliveries + 1,
            started_at=now,
            deadline_at=now + timedelta(seconds=deadline_s),
            updated_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def extend_job(session: Session, *, job_id: str, task_id: str, deadline_s: int) -> bool:
    """Heartbeat: push the deadline of a job this task is running."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.task_id == task_id, Job.status == "processing")
        .values(deadline_at=now + timedelta(seconds=deadline_s), updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def job_is_mine(session: Session, *, job_id: str, task_id: str) -> Job | None:
    """The job, locked, if this task still owns it (guards persisting a result twice)."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or job.status != "processing" or job.task_id != task_id:
        return None
    return job


def stuck_jobs(session: Session, *, now: datetime, limit: int = 100) -> list[Job]:
    """Queued or processing jobs past their deadline (lost enqueue, dead worker)."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.status.in_(("queued", "processing")), Job.deadline_at < now)
            .order_by(Job.deadline_at)
            .limit(limit)
        )
    )


def reassign_job(session: Session, *, job: Job, task_id: str, deadline_s: int) -> bool:
    """Give a stuck job a new task id and deadline (optimistic: only if nobody changed it)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.task_id == job.task_id, Job.status == job.status)
        .values(task_id=task_id, deadline_at=utcnow() + timedelta(seconds=deadline_s), updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def count_jobs_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    counts = {status: 0 for status in ("queued", "processing", "completed", "failed")}
    counts.update({str(status): int(count) for status, count in rows})
    return counts


def recent_stage_timings(session: Session, *, limit: int = 1000) -> dict[str, list[float]]:
    rows = session.scalars(
        select(Job.timings)
        .where(Job.status.in_(("completed", "failed")))
        .order_by(Job.finished_at.desc())
        .limit(limit)
    )
    stages: dict[str, list[float]] = {}
    for timings in rows:
        for stage, seconds in (timings or {}).items():
            stages.setdefault(str(stage), []).append(float(seconds))
    return stages


# --- webhooks --------------------------------------------------------------------------------
def add_delivery(
    session: Session,
    *,
    delivery_id: str,
    tenant_id: str,
    call_id: str,
    event: str,
    url: str,
    payload: dict[str, Any],
) -> WebhookDelivery:
    """One row per event id; adding the same id again returns the existing row."""
    existing = session.get(WebhookDelivery, delivery_id)
    if existing is not None:
        return existing
    row = WebhookDelivery(
        id=delivery_id,
        tenant_id=tenant_id,
        call_id=call_id,
        event=event,
        url=url,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def claim_delivery(session: Session, *, delivery_id: str, lease_s: float) -> WebhookDelivery | None:
    """Lease a due, pending delivery so that exactly one sender attempts it at a time."""
    now = utcnow()
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        )
        .values(next_attempt_at=now + timedelta(seconds=lease_s), attempts=WebhookDelivery.attempts + 1)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return session.get(WebhookDelivery, delivery_id, populate_existing=True)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    status_code: int | None
    outcome: str
    error: str | None
    duration_ms: float


def record_attempt(
    session: Session, *, delivery: WebhookDelivery, attempt: AttemptRecord, retry_at: datetime | None
) -> None:
    """Store one attempt; success marks delivered, no ``retry_at`` after a failure marks failed."""
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            status_code=attempt.status_code,
            outcome=attempt.outcome,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )
    )
    if attempt.outcome == "success":
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", utcnow(), None
    elif retry_at is None:
        delivery.status, delivery.next_attempt_at = "failed", None
    else:
        delivery.next_attempt_at = retry_at
    session.flush()


def due_deliveries(session: Session, *, now: datetime, limit: int = 100) -> list[str]:
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at < now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
    )


def list_deliveries(session: Session, *, call_id: str) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    deliveries = list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.call_id == call_id)
            .order_by(WebhookDelivery.created_at)
        )
    )
    out = []
    for delivery in deliveries:
        attempts = list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery.id)
                .order_by(WebhookAttempt.id)
            )
        )
        out.append((delivery, attempts))
    return out


def count_webhook_outcomes(session: Session) -> dict[str, int]:
    rows = session.execute(select(WebhookAttempt.outcome, func.count()).group_by(WebhookAttempt.outcome))
    counts = {outcome: 0 for outcome in ("success", "http_error", "network_error", "blocked")}
    counts.update({str(outcome): int(count) for outcome, count in rows})
    return counts


# --- analyses --------------------------------------------------------------------------------
def _customer_sentiment(document: dict[str, Any]) -> str | None:
    by_speaker = (document.get("sentiment") or {}).get("by_speaker") or {}
    chosen = by_speaker.get("customer") or by_speaker.get("agent") or {}
    label = chosen.get("label")
    return str(label) if label else None


def _search_text(document: dict[str, Any]) -> str:
    turns = (document.get("transcript") or {}).get("turns") or []
    reason = ((document.get("summary") or {}).get("reason") or {}).get("text") or ""
    return "\n".join([reason, *(f"{t.get('speaker')}: {t.get('text')}" for t in turns)])


def store_analysis(
    session: Session,
    *,
    call: Call,
    job: Job,
    document: dict[str, Any],
    raw_transcript: dict[str, Any] | None,
    redacted_audio_key: str | None,
) -> AnalysisRow:
    """Add the next analysis version and copy its searchable fields onto the call and job."""
    latest = session.scalar(select(func.max(AnalysisRow.version)).where(AnalysisRow.call_id == call.id))
    row = AnalysisRow(
        call_id=call.id,
        job_id=job.id,
        version=int(latest or 0) + 1,
        document=document,
        raw_transcript=raw_transcript,
    )
    session.add(row)
    escalation = document.get("escalation") or {}
    call.intent = (document.get("intent") or {}).get("label")
    call.sentiment = _customer_sentiment(document)
    call.flags = sorted({str(f.get("topic")) for f in document.get("flags") or []})
    call.escalation_decision = escalation.get("decision")
    call.escalation_priority = escalation.get("priority")
    call.qa_score = (document.get("qa") or {}).get("score")
    call.duration_s = document.get("duration_s")
    call.search_text = _search_text(document)
    call.redacted_audio_key = redacted_audio_key
    call.status, call.error_code, call.error_message, call.completed_at = "completed", None, None, utcnow()
    job.status, job.finished_at, job.last_error = "completed", utcnow(), None
    session.flush()
    return row


def count_recent_contacts(
    session: Session, *, tenant_id: str, customer_id: str, days: int, exclude_call: str | None = None
) -> int:
    """Calls of this customer in the last ``days`` days (repeat-contact detection)."""
    query = (
        select(func.count())
        .select_from(Call)
        .where(
            Call.tenant_id == tenant_id,
            Call.customer_id == customer_id,
            Call.created_at >= utcnow() - timedelta(days=days),
        )
    )
    if exclude_call is not None:
        query = query.where(Call.id != exclude_call)
    return int(session.scalar(query) or 0)


def create_reanalysis(session: Session, *, call: Call, deadline_s: int) -> Job:
    """Queue a new job for an existing call (its audio is kept)."""
    call.status, call.error_code, call.error_message = "queued", None, None
    return create_job(session, call_id=call.id, deadline_s=deadline_s)


def release_job_for_retry(session: Session, *, job_id: str, task_id: str, error: str) -> None:
    """After a transient error: back to queued, one more attempt, and this delivery is not counted
    as a crash (the poison guard counts deliveries that never finished)."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.task_id == task_id, Job.status == "processing")
        .values(
            status="queued",
            attempts=Job.attempts + 1,
            deliveries=Job.deliveries - 1,
            last_error=error[:2000],
            updated_at=utcnow(),
        )
    )


def get_delivery(session: Session, delivery_id: str) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)
