"""``/v1/calls``: submit calls, read their status and analysis, list, re-analyse, erase."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from callintel.api import call_ops
from callintel.api.deps import CallFiltersDep, IngestPrincipal, ReaderPrincipal, SessionDep, StateDep
from callintel.api.ingest import IngestRequest, read_ingest
from callintel.api.openapi import CREATE_CALL_BODY, ERRORS
from callintel.api.schemas import (
    CallAccepted,
    CallDetail,
    CallList,
    SummaryOut,
    TranscriptOut,
    WebhookAttemptOut,
    WebhookDeliveryOut,
    WebhookList,
)
from callintel.errors import CallBusy, CallNotReady, NotFound
from callintel.storage import repo
from callintel.storage.blobs import iter_chunks
from callintel.storage.models import Call

router = APIRouter(prefix="/v1/calls", tags=["calls"], responses=ERRORS)


async def ingest_body(request: Request, state: StateDep) -> AsyncIterator[IngestRequest]:
    folder = state.settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    async for ingest in read_ingest(request, max_bytes=state.settings.audio.max_bytes, folder=folder):
        yield ingest


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


@router.post(
    "", status_code=202, summary="Submit a call (upload or recording URL)", openapi_extra=CREATE_CALL_BODY
)
def create_call(
    ingest: Annotated[IngestRequest, Depends(ingest_body)],
    principal: IngestPrincipal,
    session: SessionDep,
    state: StateDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CallAccepted:
    """Multipart (``file`` + metadata fields) or JSON ``{"recording_url": ..., metadata}``. The same
    ``Idempotency-Key`` and body return the first call (``replay: true``); a different body is 409."""
    tenant, body_hash = principal.tenant_id, ingest.body_hash
    if idempotency_key and (
        call := call_ops.replayed(session, tenant_id=tenant, key=idempotency_key, body_hash=body_hash)
    ):
        response.headers["Idempotent-Replayed"] = "true"
        return call_ops.accepted(call, replay=True)
    call, job_id = call_ops.new_call(session, state, principal=principal, ingest=ingest)
    if idempotency_key and not repo.save_idempotency(
        session, tenant_id=tenant, key=idempotency_key, body_hash=body_hash, call_id=call.id
    ):
        session.rollback()  # a concurrent request with the same key won: answer as its replay
        state.blobs.delete_prefix(f"{tenant}/{call.id}/")
        return create_call(ingest, principal, session, state, response, idempotency_key)
    call_ops.enqueue(state, session, call_id=call.id, job_id=job_id)
    response.headers["Location"] = f"/v1/calls/{call.id}"
    return call_ops.accepted(call)


def _call(session: SessionDep, principal: ReaderPrincipal, call_id: str) -> Call:
    call = repo.get_call(session, tenant_id=principal.tenant_id, call_id=call_id)
    if call is None:
        raise NotFound("call not found", call_id=call_id)
    return call


CallDep = Annotated[Call, Depends(_call)]


def _analysis(session: SessionDep, call: CallDep) -> dict[str, Any]:
    row = repo.latest_analysis(session, call.id) if call.status == "completed" else None
    if row is None:
        raise CallNotReady(f"the call is {call.status}; no analysis yet", status=call.status)
    return row.document


AnalysisDep = Annotated[dict[str, Any], Depends(_analysis)]


@router.get("/{call_id}", summary="Status, and the whole analysis when completed")
def get_call(call: CallDep, session: SessionDep) -> CallDetail:
    return call_ops.detail_out(session, call)


@router.get("/{call_id}/transcript", summary="The redacted transcript: ordered speaker turns")
def get_transcript(call: CallDep, doc: AnalysisDep) -> TranscriptOut:
    transcript = doc.get("transcript") or {}
    return TranscriptOut(
        call_id=call.id,
        language=doc.get("language"),
        channel_map=doc.get("channel_map"),
        channels=transcript.get("channels"),
        turns=transcript.get("turns") or [],
    )


@router.get("/{call_id}/summary", summary="Summary, intent, flags, escalation and sentiment")
def get_summary(call: CallDep, doc: AnalysisDep) -> SummaryOut:
    return SummaryOut(
        call_id=call.id,
        summary=doc.get("summary"),
        intent=doc.get("intent"),
        flags=doc.get("flags") or [],
        escalation=doc.get("escalation"),
        sentiment=doc.get("sentiment"),
    )


@router.get(
    "/{call_id}/audio",
    summary="The redacted audio copy (WAV, PII silenced)",
    response_class=StreamingResponse,
    responses={200: {"content": {"audio/wav": {}}}},
)
def get_audio(call: CallDep, state: StateDep) -> StreamingResponse:
    if not call.redacted_audio_key:
        raise NotFound("this call has no redacted audio (not analysed yet, or redaction is off)")
    stream = state.blobs.open(call.redacted_audio_key)
    return StreamingResponse(
        iter_chunks(stream),
        media_type="audio/wav",
        headers={"Content-Disposition": f'attachment; filename="{call.id}-redacted.wav"'},
    )


@router.get("", summary="List calls with filters, newest first (cursor pagination)")
def list_calls(
    principal: ReaderPrincipal,
    session: SessionDep,
    filters: CallFiltersDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> CallList:
    filters = dataclasses.replace(filters, text=q)
    rows, last = repo.list_calls(
        session,
        tenant_id=principal.tenant_id,
        filters=filters,
        limit=limit,
        after=call_ops.decode_cursor(cursor),
    )
    return CallList(items=[call_ops.summary_out(c) for c in rows], next_cursor=call_ops.encode_cursor(last))


@router.post("/{call_id}/reanalyze", status_code=202, summary="Analyse the stored audio again")
def reanalyze(call_id: str, principal: IngestPrincipal, session: SessionDep, state: StateDep) -> CallAccepted:
    call = repo.get_call(session, tenant_id=principal.tenant_id, call_id=call_id)
    if call is None:
        raise NotFound("call not found", call_id=call_id)
    if call.status in ("queued", "processing"):
        raise CallBusy(f"the call is {call.status}; wait until it ends", status=call.status)
    job = repo.create_reanalysis(session, call=call, deadline_s=call_ops.queued_deadline(state))
    call_ops.enqueue(state, session, call_id=call.id, job_id=job.id)
    return call_ops.accepted(call)


@router.delete(
    "/{call_id}", status_code=204, summary="Erase the call: audio, transcript, analyses, all derived"
)
def delete_call(call_id: str, principal: IngestPrincipal, session: SessionDep, state: StateDep) -> Response:
    keys = repo.delete_call(session, tenant_id=principal.tenant_id, call_id=call_id)
    if keys is None:
        raise NotFound("call not found", call_id=call_id)
    session.commit()
    for key in keys:
        state.blobs.delete(key)
    state.blobs.delete_prefix(f"{principal.tenant_id}/{call_id}/")
    return Response(status_code=204)


@router.get("/{call_id}/webhooks", summary="Webhook deliveries for this call, with every attempt")
def list_webhooks(call_id: str, principal: IngestPrincipal, session: SessionDep) -> WebhookList:
    if repo.get_call(session, tenant_id=principal.tenant_id, call_id=call_id) is None:
        raise NotFound("call not found", call_id=call_id)
    items = [
        WebhookDeliveryOut(
            id=d.id,
            event=d.event,
            url=d.url,
            status=d.status,
            attempt_count=d.attempts,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            attempts=[WebhookAttemptOut.model_validate(a, from_attributes=True) for a in attempts],
        )
        for d, attempts in repo.list_deliveries(session, call_id=call_id)
    ]
    return WebhookList(items=items)
