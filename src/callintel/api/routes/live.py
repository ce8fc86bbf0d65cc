"""Live agent assist: WebSocket ``/v1/live`` and the REST equivalent, plus tenant call flows.

WebSocket protocol (JSON text frames), authenticated with an ``agent`` key given as
``?token=``, ``Authorization: Bearer`` or ``X-API-Key``:

* ``{"type": "start", "call_ref"?, "agent_id"?, "customer_id"?}`` → ``{"type": "started", "session_id"}``;
  ``{"type": "start", "session_id": "live_..."}`` resumes an existing session (after a reconnect).
* ``{"type": "utterance", "speaker", "text", "ts"?}`` → ``{"type": "suggestions", ...}``
* ``{"type": "end"}`` → ``{"type": "ended", "call_id", "analysis"}``, then the server closes.
* A bad message answers ``{"type": "error", "code", "message"}`` and the socket stays open;
  a missing or invalid key closes with 4401, a key without the ``agent`` scope with 4403.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from callintel.api.assist import FLOWS_KEY, live_service_of, tenant_flows
from callintel.api.deps import AdminPrincipal, AgentPrincipal, AppState, Principal, SessionDep, StateDep
from callintel.errors import CallintelError, Forbidden, InvalidInput, NotFound, Unauthorized
from callintel.flows import FlowRunner, load_flow_text, merge_flows, packaged_flows
from callintel.live import SessionStart, Utterance
from callintel.storage import repo

log = logging.getLogger(__name__)
router = APIRouter(tags=["live assist"])


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_ref: str | None = Field(None, max_length=200, description="Your own id for the call.")
    agent_id: str | None = Field(None, max_length=200)
    customer_id: str | None = Field(None, max_length=200)
    language: str = Field("en", max_length=16)

    def start(self) -> SessionStart:
        return SessionStart(
            call_ref=self.call_ref,
            agent_id=self.agent_id,
            customer_id=self.customer_id,
            language=self.language,
        )


class UtteranceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    speaker: Literal["agent", "customer", "unknown"]
    text: str = Field(min_length=1, max_length=4000)
    ts: float | None = Field(None, ge=0, description="Seconds since the call started.")

    def utterance(self) -> Utterance:
        return Utterance(speaker=self.speaker, text=self.text, ts=self.ts)


# --- REST ------------------------------------------------------------------------------------------
@router.post("/v1/live/sessions", status_code=201, summary="Start a live session")
def start_session(principal: AgentPrincipal, state: StateDep, body: StartIn | None = None) -> dict[str, Any]:
    return live_service_of(state).start(principal.tenant_id, (body or StartIn()).start())


@router.post("/v1/live/{session_id}/utterances", summary="Send one utterance, get suggestions")
def add_utterance(
    session_id: str, body: UtteranceIn, principal: AgentPrincipal, state: StateDep
) -> dict[str, Any]:
    """Intent so far, new urgent-topic alerts, KB suggestions, the call-flow step, the sentiment
    trend and guardrail escalation (with a ``warning`` when this utterance triggered it)."""
    return live_service_of(state).add_utterance(principal.tenant_id, session_id, body.utterance())


@router.get("/v1/live/{session_id}", summary="A live session's state")
def get_session(session_id: str, principal: AgentPrincipal, state: StateDep) -> dict[str, Any]:
    raw = live_service_of(state).state(principal.tenant_id, session_id)
    return {
        "session_id": raw["id"],
        "status": "ended" if raw.get("ended") else "active",
        "started_at": raw["started_at"],
        "call_ref": raw.get("call_ref"),
        "turns": [
            {"index": i, "speaker": t[0], "text": t[1], "ts": t[2]} for i, t in enumerate(raw["turns"])
        ],
        "flags": sorted(raw["flags"]),
        "flow": raw.get("flow"),
        "escalation": raw.get("escalation"),
        "ended": raw.get("ended"),
    }


@router.post("/v1/live/{session_id}/end", summary="End a session and store it as an analysed call")
def end_session(session_id: str, principal: AgentPrincipal, state: StateDep) -> dict[str, Any]:
    return live_service_of(state).end(principal.tenant_id, session_id)


# --- WebSocket ---------------------------------------------------------------------------------------
def _ws_key(ws: WebSocket) -> str | None:
    auth = ws.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return ws.headers.get("x-api-key") or ws.query_params.get("token") or None


def ws_principal(ws: WebSocket, state: AppState) -> Principal:
    """The caller of a WebSocket (the same keys and scope rule as REST)."""
    key = _ws_key(ws)
    if not key:
        raise Unauthorized("missing API key: pass ?token=<key> or an Authorization header")
    with state.sessions() as session:
        row = repo.find_api_key(session, key)
        if row is None:
            raise Unauthorized("invalid or revoked API key")
        principal = Principal(tenant_id=row.tenant_id, key_id=row.id, scopes=frozenset(row.scopes))
    if not principal.scopes & {"agent", "admin"}:
        raise Forbidden("this API key lacks the 'agent' scope", required=["agent"])
    return principal


@router.websocket("/v1/live")
async def live_socket(ws: WebSocket) -> None:
    state: AppState = ws.app.state.callintel
    await ws.accept()
    try:
        principal = await run_in_threadpool(ws_principal, ws, state)
    except CallintelError as exc:
        await ws.send_json({"type": "error", **exc.to_dict()})
        await ws.close(code=4401 if isinstance(exc, Unauthorized) else 4403)
        return
    session_id: str | None = None
    try:
        while True:
            raw = await ws.receive_text()
            try:
                reply, session_id = await _handle(
                    raw, principal=principal, state=state, session_id=session_id
                )
            except CallintelError as exc:
                reply = {"type": "error", **exc.to_dict()}
            await ws.send_json(reply)
            if reply.get("type") == "ended":
                await ws.close(code=1000)
                return
    except WebSocketDisconnect:
        return  # the session stays in Redis; the client may resume it


async def _handle(
    raw: str, *, principal: Principal, state: AppState, session_id: str | None
) -> tuple[dict[str, Any], str | None]:
    try:
        msg = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidInput("messages must be JSON objects") from None
    if not isinstance(msg, dict):
        raise InvalidInput("messages must be JSON objects")
    kind = msg.pop("type", None)
    service = await run_in_threadpool(live_service_of, state)
    tenant = principal.tenant_id
    if kind == "start":
        resume = msg.pop("session_id", None)
        if resume:
            await run_in_threadpool(service.state, tenant, str(resume))
            return {"type": "started", "session_id": resume, "resumed": True}, str(resume)
        started = await run_in_threadpool(service.start, tenant, _model(StartIn, msg).start())
        return {"type": "started", **started}, started["session_id"]
    if session_id is None:
        raise InvalidInput("send {'type': 'start'} first")
    if kind == "utterance":
        utterance = _model(UtteranceIn, msg).utterance()
        result = await run_in_threadpool(service.add_utterance, tenant, session_id, utterance)
        return {"type": "suggestions", **result}, session_id
    if kind == "end":
        ended = await run_in_threadpool(service.end, tenant, session_id)
        return {"type": "ended", **ended}, session_id
    raise InvalidInput("'type' must be 'start', 'utterance' or 'end'", type=kind)


def _model(cls: type[StartIn] | type[UtteranceIn], data: dict[str, Any]) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(f"{where}: {first.get('msg')}".lstrip(": ")) from None


# --- call flows ---------------------------------------------------------------------------------------
def _runner(state: AppState, tenant: str) -> FlowRunner:
    return FlowRunner(merge_flows(packaged_flows(), tenant_flows(state, tenant)))


@router.get("/v1/flows", summary="Call flows of this tenant (packaged and its own)")
def list_flows(principal: AgentPrincipal, state: StateDep) -> dict[str, Any]:
    own = tenant_flows(state, principal.tenant_id) or {}
    flows = _runner(state, principal.tenant_id).flows
    return {
        "items": [
            {
                "id": f.id,
                "title": f.title,
                "description": f.description,
                "start": f.start,
                "nodes": len(f.nodes),
                "source": "tenant" if f.id in own else "packaged",
            }
            for f in flows.values()
        ]
    }


@router.get("/v1/flows/{flow_id}", summary="One call flow with its nodes")
def get_flow(flow_id: str, principal: AgentPrincipal, state: StateDep) -> dict[str, Any]:
    flow = _runner(state, principal.tenant_id).flows.get(flow_id)
    if flow is None:
        raise NotFound("flow not found", flow_id=flow_id)
    return {
        "id": flow.id,
        "title": flow.title,
        "description": flow.description,
        "start": flow.start,
        "nodes": [
            {
                "id": n.id,
                "type": n.type,
                "text": n.text,
                "next": n.next,
                "kb": list(n.kb),
                "branches": [{"next": b.next, "label": b.label} for b in n.branches],
            }
            for n in flow.nodes.values()
        ],
    }


@router.put("/v1/flows/{flow_id}", summary="Add or replace a tenant flow (YAML or JSON body)")
async def put_flow(
    flow_id: str, request: Request, principal: AdminPrincipal, session: SessionDep
) -> dict[str, Any]:
    """The body is the flow as YAML (``text/yaml``) or JSON; it is validated first (422
    ``flow_invalid`` naming the node) and overrides a packaged flow with the same id."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    if len(raw) > 512 * 1024:
        raise InvalidInput("flow documents are limited to 512 KiB")
    flow = load_flow_text(raw, source=flow_id)
    if flow.id != flow_id:
        raise InvalidInput(f"the flow's id '{flow.id}' differs from the path's '{flow_id}'")
    current = repo.get_tenant_setting(session, tenant_id=principal.tenant_id, key=FLOWS_KEY) or {}
    repo.put_tenant_setting(
        session, tenant_id=principal.tenant_id, key=FLOWS_KEY, value={**current, flow_id: raw}
    )
    return {"id": flow.id, "title": flow.title, "nodes": len(flow.nodes), "source": "tenant"}


@router.delete("/v1/flows/{flow_id}", status_code=204, summary="Remove a tenant flow")
def delete_flow(flow_id: str, principal: AdminPrincipal, session: SessionDep) -> None:
    current = dict(repo.get_tenant_setting(session, tenant_id=principal.tenant_id, key=FLOWS_KEY) or {})
    if current.pop(flow_id, None) is None:
        raise NotFound("the tenant has no flow with this id", flow_id=flow_id)
    repo.put_tenant_setting(session, tenant_id=principal.tenant_id, key=FLOWS_KEY, value=current)
