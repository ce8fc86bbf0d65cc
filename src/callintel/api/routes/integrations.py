"""``/v1/integrations``: telephony platform callbacks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from callintel.api import call_ops
from callintel.api.deps import Principal, SessionDep, StateDep
from callintel.api.ingest import IngestRequest, validated
from callintel.api.openapi import ERRORS
from callintel.api.schemas import CallAccepted, CallMetadata
from callintel.api.twilio import public_url, signature_valid
from callintel.errors import Forbidden, InvalidInput, Unauthorized
from callintel.storage import repo

router = APIRouter(prefix="/v1/integrations", tags=["integrations"], responses=ERRORS)


async def twilio_form(
    request: Request,
    state: StateDep,
    signature: Annotated[str, Header(alias="X-Twilio-Signature")] = "",
) -> dict[str, str]:
    """The callback's form fields, once ``X-Twilio-Signature`` proves Twilio sent them."""
    token = state.settings.security.twilio_auth_token
    if token is None:
        raise Forbidden("Twilio integration is off: set CALLINTEL_SECURITY__TWILIO_AUTH_TOKEN")
    form = await request.form(max_files=0, max_fields=100)
    params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    url = public_url(str(request.url), base=state.settings.security.public_base_url)
    if not signature or not signature_valid(
        token.get_secret_value(), url=url, params=params, signature=signature
    ):
        raise Unauthorized("X-Twilio-Signature is missing or does not match")
    return dict(params)


@router.post(
    "/twilio/recording",
    status_code=202,
    summary="Twilio recording status callback",
    response_model=CallAccepted,
)
def twilio_recording(
    form: Annotated[dict[str, str], Depends(twilio_form)],
    session: SessionDep,
    state: StateDep,
    response: Response,
    tenant: Annotated[str, Query(max_length=64, description="Tenant the recordings belong to.")] = "default",
    channel_map: Annotated[
        str, Query(description="Twilio dual-channel: parent leg left.")
    ] = "customer,agent",
    callback_url: str | None = None,
    queue: str | None = None,
) -> Any:
    """Set ``recordingStatusCallback`` to this URL (query: tenant, channel_map, callback_url, queue).
    Only ``completed`` recordings are analysed; a repeated callback returns the same call."""
    if form.get("RecordingStatus", "completed") != "completed":
        return Response(status_code=204)
    if not form.get("RecordingUrl") or not form.get("RecordingSid"):
        raise InvalidInput("RecordingUrl and RecordingSid are required")
    meta = validated(
        CallMetadata,
        {
            "external_id": form.get("CallSid") or form["RecordingSid"],
            "queue": queue,
            "channel_map": channel_map,
            "callback_url": callback_url,
        },
    )
    ingest = IngestRequest(metadata=meta, upload=None, recording_url=form["RecordingUrl"])
    principal = Principal(tenant_id=tenant, key_id="twilio", scopes=frozenset({"ingest"}))
    key = f"twilio:{form['RecordingSid']}"
    if existing := call_ops.replayed(session, tenant_id=tenant, key=key, body_hash=ingest.body_hash):
        response.headers["Idempotent-Replayed"] = "true"
        return call_ops.accepted(existing, replay=True)
    call, job_id = call_ops.new_call(session, state, principal=principal, ingest=ingest, source="twilio")
    repo.save_idempotency(session, tenant_id=tenant, key=key, body_hash=ingest.body_hash, call_id=call.id)
    call_ops.enqueue(state, session, call_id=call.id, job_id=job_id)
    return call_ops.accepted(call)
