"""What the call routes do, in small steps: admit a call (idempotently), enqueue, and shape rows."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import datetime

from sqlalchemy.orm import Session

from callintel.api.deps import AppState, Principal
from callintel.api.ingest import IngestRequest
from callintel.api.schemas import CallAccepted, CallDetail, CallError, CallSummaryOut, Escalation
from callintel.errors import IdempotencyConflict, InvalidInput, NotFound
from callintel.storage import repo
from callintel.storage.models import Call
from callintel.worker.app import send_analysis

log = logging.getLogger(__name__)


def accepted(call: Call, *, replay: bool = False) -> CallAccepted:
    return CallAccepted(id=call.id, status=call.status, status_url=f"/v1/calls/{call.id}", replay=replay)


def replayed(session: Session, *, tenant_id: str, key: str, body_hash: str) -> Call | None:
    """The call an earlier request with this key created, or None; 409 if the body differs."""
    row = repo.find_idempotency(session, tenant_id=tenant_id, key=key)
    if row is None:
        return None
    if row.body_hash != body_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body", key=key)
    call = repo.get_call(session, tenant_id=tenant_id, call_id=row.call_id)
    if call is None:
        raise NotFound("the call created with this Idempotency-Key was deleted", key=key)
    return call


def queued_deadline(state: AppState) -> int:
    """A queued job is re-sent only after the broker's own redelivery horizon: a long backlog
    must not fill the queue with duplicates (a lost send is rare; the reconciler covers it)."""
    return state.settings.worker.visibility_timeout_s


def new_call(
    session: Session, state: AppState, *, principal: Principal, ingest: IngestRequest, source: str = "upload"
) -> tuple[Call, str]:
    """Store the audio blob, the call and its first job; returns the call and the job id."""
    meta = ingest.metadata
    call_id = repo.new_id("call")
    audio_key = None
    if ingest.upload is not None:
        audio_key = f"{principal.tenant_id}/{call_id}/audio"
        state.blobs.put_file(audio_key, ingest.upload.path, content_type=ingest.upload.content_type)
    new = repo.NewCall(
        tenant_id=principal.tenant_id,
        source=source if ingest.upload is None else "upload",
        external_id=meta.external_id,
        agent_id=meta.agent_id,
        customer_id=meta.customer_id,
        queue=meta.queue,
        started_at=meta.started_at,
        channel_map=meta.channel_map,
        language=meta.language,
        asr_model=meta.model,
        callback_url=meta.callback_url,
        recording_url=ingest.recording_url,
        audio_key=audio_key,
        audio_bytes=ingest.upload.size if ingest.upload else None,
    )
    call = repo.create_call(session, new, call_id=call_id)
    job = repo.create_job(session, call_id=call.id, deadline_s=queued_deadline(state))
    return call, job.id


def enqueue(state: AppState, session: Session, *, call_id: str, job_id: str) -> None:
    """Commit first (the worker must find the rows), then send; a failed send is left to the
    reconciler, which re-sends jobs still queued past their deadline."""
    session.commit()
    log.info("call %s queued as job %s", call_id, job_id, extra={"call_id": call_id})
    job = repo.get_job(session, job_id)
    try:
        send_analysis(
            state.celery, call_id=call_id, job_id=job_id, task_id=str(job.task_id if job else job_id)
        )
    except Exception:
        log.exception("enqueue failed; the reconciler will re-send job %s", job_id)


def summary_out(call: Call) -> CallSummaryOut:
    return CallSummaryOut.model_validate(_fields(call))


def detail_out(session: Session, call: Call) -> CallDetail:
    analysis = repo.latest_analysis(session, call.id) if call.status == "completed" else None
    return CallDetail.model_validate(
        {
            **_fields(call),
            "analysis": analysis.document if analysis else None,
            "analysis_version": analysis.version if analysis else None,
        }
    )


def _fields(call: Call) -> dict[str, object]:
    error = CallError(code=call.error_code, message=call.error_message or "") if call.error_code else None
    return {
        "id": call.id,
        "status": call.status,
        "error": error,
        "source": call.source,
        "external_id": call.external_id,
        "agent_id": call.agent_id,
        "customer_id": call.customer_id,
        "queue": call.queue,
        "started_at": call.started_at,
        "channel_map": call.channel_map,
        "language": call.language,
        "created_at": call.created_at,
        "completed_at": call.completed_at,
        "duration_s": call.duration_s,
        "intent": call.intent,
        "sentiment": call.sentiment,
        "flags": list(call.flags or []),
        "qa_score": call.qa_score,
        "escalation": Escalation(decision=call.escalation_decision, priority=call.escalation_priority),
    }


def encode_cursor(position: tuple[datetime, str] | None) -> str | None:
    if position is None:
        return None
    raw = json.dumps([position[0].isoformat(), position[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        at, call_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), str(call_id)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("cursor is not valid; pass next_cursor from the previous page") from None
