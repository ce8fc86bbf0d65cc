"""Live assist over the real models, real Redis and the real app: session state survives a new
LiveService (another replica / an API restart), the guardrail warning arrives in the same response
as the utterance that triggered it, utterances apply in order under concurrency, ending stores an
analysed call, and the WebSocket, REST, KB and flow routes enforce their scopes."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from apikeys import issue_keys
from callintel.config import ModelSettings, Settings
from callintel.flows import packaged_flows
from callintel.kb.importers import starter_articles
from callintel.kb.index import KnowledgeBase
from callintel.kb.store import MemoryKBStore
from callintel.live import LiveService, RedisSessionStore, SessionStart, Utterance, packaged_flow_runner

pytestmark = pytest.mark.slow
MODEL_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "models"

CALL = [
    ("agent", "Thank you for calling, this is Sam. How can I help you today?"),
    ("customer", "Hi, I was charged twice for my subscription this month."),
    ("agent", "I'm sorry about that. Can I have the email on the account?"),
    ("customer", "Sure, it's john.doe@example.com."),
    ("customer", "Yes, both charges are completed."),
    ("agent", "I see it. I've refunded the duplicate charge; it takes 5 to 10 business days."),
    ("customer", "Okay, thank you, that's great."),
]


@pytest.fixture(scope="module")
def kb(embedder: Any) -> KnowledgeBase:
    kb = KnowledgeBase(MemoryKBStore(), embedder)
    kb.upsert("t1", starter_articles())
    return kb


def service(analyzers: Any, redis_url: str, kb: KnowledgeBase) -> LiveService:
    """A fresh service with its own Redis connection, like another API replica."""
    return LiveService(
        analyzers=analyzers,
        store=RedisSessionStore(redis.Redis.from_url(redis_url)),
        flows_for=packaged_flow_runner(lambda _t: None),
        kb_for=lambda t: kb.searcher(t, min_score=0.3),
    )


def test_suggestions_for_a_duplicate_charge_call(analyzers: Any, redis_url: str, kb: KnowledgeBase) -> None:
    live = service(analyzers, redis_url, kb)
    sid = live.start("t1", SessionStart(call_ref="ext-1"))["session_id"]
    replies = [live.add_utterance("t1", sid, Utterance(s, t, ts=2.0 * i)) for i, (s, t) in enumerate(CALL)]
    opening = replies[1]
    assert opening["intent"]["label"] == "billing"
    assert opening["kb_suggestions"][0]["article_id"] == "billing-duplicate-charge"
    assert opening["flow"]["flow_id"] == "duplicate_charge" and opening["flow"]["started"]
    assert (
        replies[3]["turn"]["text"] != CALL[3][1] and "john.doe@example.com" not in replies[3]["turn"]["text"]
    )
    assert replies[4]["flow"]["node_id"] == "refund"  # "both charges are completed"
    assert replies[-1]["sentiment"]["trend"] is not None
    assert all(r["escalation"]["decision"] == "none" for r in replies)
    assert all(r["seq"] == i + 1 for i, r in enumerate(replies))


def test_state_survives_a_new_service_and_warning_comes_with_its_utterance(
    analyzers: Any, redis_url: str, kb: KnowledgeBase
) -> None:
    first = service(analyzers, redis_url, kb)
    sid = first.start("t1", SessionStart())["session_id"]
    first.add_utterance(
        "t1", sid, Utterance("customer", "My order still hasn't arrived and it's been two weeks.")
    )
    before = first.add_utterance("t1", sid, Utterance("agent", "Let me check that for you."))
    assert before["escalation"]["warning"] is None
    restarted = service(analyzers, redis_url, kb)  # another replica / the API restarted
    reply = restarted.add_utterance(
        "t1", sid, Utterance("customer", "This is ridiculous. I want to speak to a supervisor right now.")
    )
    assert reply["seq"] == 3  # the earlier turns are still there
    assert reply["escalation"]["decision"] in ("suggest", "require")
    assert "human_requested" in {r["code"] for r in reply["escalation"]["new_reasons"]}
    assert reply["escalation"]["warning"] and "human requested" in reply["escalation"]["warning"]
    assert any(a["topic"] == "supervisor_request" for a in reply["alerts"])
    assert reply["flow"]["flow_id"] == "angry_caller_escalation"
    again = restarted.add_utterance("t1", sid, Utterance("agent", "Of course, one moment."))
    assert (
        again["escalation"]["warning"] is None
        and again["escalation"]["decision"] == reply["escalation"]["decision"]
    )


def test_concurrent_utterances_are_all_kept_in_order(
    analyzers: Any, redis_url: str, kb: KnowledgeBase
) -> None:
    live = service(analyzers, redis_url, kb)
    sid = live.start("t1", SessionStart())["session_id"]
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            service(analyzers, redis_url, kb).add_utterance(
                "t1", sid, Utterance("agent", f"Step number {i} done.")
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    turns = live.state("t1", sid)["turns"]
    assert sorted(t[1] for t in turns) == sorted(f"Step number {i} done." for i in range(8))
    assert [t[2] for t in turns] == sorted(t[2] for t in turns)


def test_unknown_session_and_bad_input(analyzers: Any, redis_url: str, kb: KnowledgeBase) -> None:
    from callintel.errors import InvalidInput, NotFound

    live = service(analyzers, redis_url, kb)
    with pytest.raises(NotFound):
        live.add_utterance("t1", "live_nope", Utterance("customer", "hello"))
    sid = live.start("t1", SessionStart())["session_id"]
    with pytest.raises(NotFound):
        live.add_utterance("t2", sid, Utterance("customer", "hello"))  # another tenant
    with pytest.raises(InvalidInput):
        live.add_utterance("t1", sid, Utterance("robot", "hello"))
    with pytest.raises(InvalidInput):
        live.add_utterance("t1", sid, Utterance("customer", "   "))


# --- the API ---------------------------------------------------------------------------------------------
class Api:
    def __init__(self, client: TestClient, keys: dict[str, str], app: Any) -> None:
        self.client, self.keys, self.app = client, keys, app

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, models: Any, analyzers: Any
) -> Iterator[Api]:
    from callintel.api.app import create_app

    data = tmp_path_factory.mktemp("live-api")
    settings = Settings(data_dir=data, redis_url=redis_url, models=ModelSettings(cache_dir=MODEL_CACHE))
    app = create_app(settings)
    with TestClient(app) as client:
        state = app.state.callintel
        state.extras["models"] = models
        state.extras["analyzers"] = analyzers
        wanted = {scope: ("default", [scope]) for scope in ("agent", "qa", "admin", "ingest")}
        keys = issue_keys(state, {**wanted, "other": ("acme", ["agent", "admin"])})
        yield Api(client, keys, app)


def test_rest_session_end_to_end_stores_an_analysed_call(api: Api) -> None:
    c = api.client
    assert c.post("/v1/live/sessions", json={}).status_code == 401
    assert c.post("/v1/live/sessions", json={}, headers=api.h("qa")).status_code == 403
    started = c.post(
        "/v1/live/sessions", json={"call_ref": "crm-42", "customer_id": "cust-9"}, headers=api.h("agent")
    )
    assert started.status_code == 201, started.text
    sid = started.json()["session_id"]
    for i, (speaker, text) in enumerate(CALL):
        r = c.post(
            f"/v1/live/{sid}/utterances",
            json={"speaker": speaker, "text": text, "ts": 3.0 * i},
            headers=api.h("agent"),
        )
        assert r.status_code == 200, r.text
    assert r.json()["kb_suggestions"]  # the starter KB was loaded for the default tenant
    assert (
        c.post(
            f"/v1/live/{sid}/utterances", json={"speaker": "x", "text": "hi"}, headers=api.h("agent")
        ).status_code
        == 422
    )
    assert c.get(f"/v1/live/{sid}", headers=api.h("other")).status_code == 404
    ended = c.post(f"/v1/live/{sid}/end", headers=api.h("agent"))
    assert ended.status_code == 200, ended.text
    body = ended.json()
    call_id = body["call_id"]
    assert body["analysis"]["call_id"] == call_id and len(body["analysis"]["transcript"]["turns"]) == len(
        CALL
    )
    assert body["analysis"]["intent"]["label"] == "billing"
    assert body["analysis"]["kb_suggestions"], body["analysis"]["summary"]
    assert c.post(f"/v1/live/{sid}/end", headers=api.h("agent")).json()["call_id"] == call_id  # idempotent
    late = c.post(
        f"/v1/live/{sid}/utterances", json={"speaker": "agent", "text": "hi"}, headers=api.h("agent")
    )
    assert late.status_code == 409 and late.json()["code"] == "conflict"
    stored = c.get(f"/v1/calls/{call_id}", headers=api.h("qa"))
    assert stored.status_code == 200, stored.text
    assert stored.json()["status"] == "completed"


def test_websocket_session(api: Api) -> None:
    c = api.client
    with c.websocket_connect(f"/v1/live?token={api.keys['agent']}") as ws:
        ws.send_json({"type": "utterance", "speaker": "customer", "text": "hello"})
        assert ws.receive_json()["code"] == "invalid_input"  # start first
        ws.send_json({"type": "start", "call_ref": "ws-1"})
        started = ws.receive_json()
        assert started["type"] == "started"
        ws.send_text("not json")
        assert ws.receive_json()["type"] == "error"
        ws.send_json(
            {
                "type": "utterance",
                "speaker": "customer",
                "text": "I can't log in, it says my password is wrong.",
            }
        )
        reply = ws.receive_json()
        assert reply["type"] == "suggestions" and reply["flow"]["flow_id"] == "login_troubleshooting"
        assert reply["kb_suggestions"][0]["article_id"] in {"account-password-reset", "account-locked"}
        ws.send_json(
            {
                "type": "utterance",
                "speaker": "customer",
                "text": "I'm going to sue you, I'm calling my lawyer.",
            }
        )
        warned = ws.receive_json()
        assert warned["escalation"]["warning"], warned["escalation"]
        ws.send_json({"type": "end"})
        ended = ws.receive_json()
        assert ended["type"] == "ended" and ended["call_id"].startswith("call_")
    # resume after a reconnect, with the key in a header this time
    with c.websocket_connect("/v1/live", headers=api.h("agent")) as ws:
        ws.send_json({"type": "start", "session_id": started["session_id"]})
        assert ws.receive_json()["resumed"] is True


@pytest.mark.parametrize(("who", "code"), [(None, 4401), ("bad", 4401), ("qa", 4403), ("ingest", 4403)])
def test_websocket_needs_an_agent_key(api: Api, who: str | None, code: int) -> None:
    url = "/v1/live" if who is None else f"/v1/live?token={api.keys.get(who, 'nope')}"
    with api.client.websocket_connect(url) as ws:
        error = ws.receive_json()
        assert error["type"] == "error"
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
        assert info.value.code == code


def test_kb_routes_and_scopes(api: Api) -> None:
    c = api.client
    article = {
        "id": "vip-line",
        "title": "VIP support line",
        "body": "Platinum members call the VIP line at any hour.",
    }
    assert c.post("/v1/kb/articles", json=article, headers=api.h("agent")).status_code == 403
    assert c.post("/v1/kb/articles", json=article, headers=api.h("admin")).status_code == 201
    hits = c.get(
        "/v1/kb/search",
        params={"q": "is there a special number for platinum customers"},
        headers=api.h("agent"),
    )
    assert hits.json()["items"][0]["article_id"] == "vip-line"
    assert c.get("/v1/kb/search", params={"q": "x"}, headers=api.h("ingest")).status_code == 403
    assert c.get("/v1/kb/articles/vip-line", headers=api.h("qa")).json()["title"] == "VIP support line"
    assert c.get("/v1/kb/articles/vip-line", headers=api.h("other")).status_code == 404  # another tenant
    listed = c.get("/v1/kb/articles", params={"limit": 500}, headers=api.h("agent")).json()
    assert listed["total"] >= 40 and any(a["id"] == "vip-line" for a in listed["items"])
    lines = "\n".join(
        json.dumps({"id": f"imp-{i}", "title": f"Imported {i}", "body": f"Body of {i}."}) for i in range(3)
    )
    ok = c.post("/v1/kb/import", files={"file": ("more.jsonl", lines.encode())}, headers=api.h("admin"))
    assert ok.status_code == 200 and ok.json()["imported"] == 3
    bad = c.post(
        "/v1/kb/import",
        files={"file": ("bad.jsonl", b'{"title": "x", "body": "y"}\n{"title": 1}\n')},
        headers=api.h("admin"),
    )
    assert bad.status_code == 422 and "bad.jsonl line 2" in bad.json()["message"]
    assert (
        c.post("/v1/kb/import", files={"file": ("x.pdf", b"%PDF")}, headers=api.h("admin")).status_code == 415
    )
    assert c.delete("/v1/kb/articles/vip-line", headers=api.h("admin")).status_code == 204
    assert c.delete("/v1/kb/articles/vip-line", headers=api.h("admin")).status_code == 404
    after = c.get(
        "/v1/kb/search", params={"q": "special number for platinum customers"}, headers=api.h("agent")
    )
    assert all(h["article_id"] != "vip-line" for h in after.json()["items"])


def test_tenant_flow_routes(api: Api) -> None:
    c = api.client
    flow = {
        "id": "vip_flow",
        "start": "greet",
        "trigger": {"keywords": ["platinum member"]},
        "nodes": [{"id": "greet", "type": "say", "text": "Thank the member.", "next": "ghost"}],
    }
    bad = c.put("/v1/flows/vip_flow", content=json.dumps(flow), headers=api.h("admin"))
    assert bad.status_code == 422 and bad.json()["code"] == "flow_invalid"
    assert "node 'greet'" in bad.json()["message"] and "ghost" in bad.json()["message"]
    flow["nodes"][0]["next"] = "bye"
    flow["nodes"].append({"id": "bye", "type": "end", "text": "Done."})
    assert c.put("/v1/flows/vip_flow", content=json.dumps(flow), headers=api.h("agent")).status_code == 403
    assert c.put("/v1/flows/vip_flow", content=json.dumps(flow), headers=api.h("admin")).status_code == 200
    ids = {f["id"] for f in c.get("/v1/flows", headers=api.h("agent")).json()["items"]}
    assert {"vip_flow", *packaged_flows()} <= ids
    assert "vip_flow" not in {f["id"] for f in c.get("/v1/flows", headers=api.h("other")).json()["items"]}
    sid = c.post("/v1/live/sessions", json={}, headers=api.h("agent")).json()["session_id"]
    r = c.post(
        f"/v1/live/{sid}/utterances",
        json={"speaker": "customer", "text": "Hi, I'm a platinum member."},
        headers=api.h("agent"),
    )
    assert r.json()["flow"]["flow_id"] == "vip_flow"
    assert c.delete("/v1/flows/vip_flow", headers=api.h("admin")).status_code == 204


def test_ids_are_random(api: Api) -> None:
    a = api.client.post("/v1/live/sessions", json={}, headers=api.h("agent")).json()["session_id"]
    b = api.client.post("/v1/live/sessions", json={}, headers=api.h("agent")).json()["session_id"]
    assert a != b and uuid.UUID(a.removeprefix("live_"))
