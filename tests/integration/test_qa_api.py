"""QA review API over the real app, on SQLite and on PostgreSQL: corrections (original kept,
current analysis corrected), review queue, metrics, search (text / semantic / hybrid), scopes and
tenant isolation, scorecards, and corrections → retrain → new version → rollback.

Calls are real analyses of hand-written transcripts (``tests/fixtures/qa/calls.yaml``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callintel.config import ModelSettings, Settings
from callintel.storage import repo
from callintel.storage.db import transaction

pytestmark = pytest.mark.slow
MODEL_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "models"
EXAMPLES = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="session")
def analysed(analyzers: Any) -> Any:
    import qa_seed

    return qa_seed.analyse_all(analyzers)


@pytest.fixture(scope="module")
def pg_database(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped afterwards."""
    import psycopg

    name = f"callintel_qa_{uuid.uuid4().hex[:10]}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Env:
    def __init__(self, client: TestClient, keys: dict[str, str], seeded: Any, heads_dir: Path) -> None:
        self.client, self.keys, self.seeded, self.heads_dir = client, keys, seeded, heads_dir

    def h(self, who: str = "qa") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, url: str, who: str = "qa", **params: Any) -> Any:
        response = self.client.get(url, headers=self.h(who), params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, models: Any,
        analysed: Any) -> Iterator[Env]:
    import qa_seed
    from callintel.api.app import create_app

    data = tmp_path_factory.mktemp(f"qa-{request.param}")
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    settings = Settings(data_dir=data, database_url=url,
                        models=ModelSettings(cache_dir=MODEL_CACHE, heads_dir=data / "heads"))
    app = create_app(settings)
    with TestClient(app) as client:
        state = app.state.callintel
        state.extras["models"] = models  # share the session's loaded embedder
        with transaction(state.sessions) as session:
            keys = {
                "qa": repo.create_api_key(session, tenant_id="default", scopes=["qa"], name="rita").key,
                "ingest": repo.create_api_key(session, tenant_id="default", scopes=["ingest"]).key,
                "admin": repo.create_api_key(session, tenant_id="default", scopes=["admin"]).key,
                "other": repo.create_api_key(session, tenant_id="other", scopes=["qa"]).key,
            }
        seeded = qa_seed.seed(state.sessions, analysed)
        yield Env(client, keys, seeded, data / "heads")


def test_correction_round_trip_keeps_original(env: Env) -> None:
    call_id = env.seeded.ids["plan-question"]
    before = env.get(f"/v1/review/calls/{call_id}")["analysis"]
    original_intent = before["intent"]["label"]
    body = {"intent": "billing", "flags": ["refund"], "sentiment": [{"turn": 1, "label": "negative"}],
            "qa": [{"id": "empathy", "result": "fail", "note": "no acknowledgement"}],
            "summary": {"outcome": "pending"}, "note": "checked by Rita"}
    response = env.client.patch(f"/v1/calls/{call_id}/analysis", json=body, headers=env.h())
    assert response.status_code == 200, response.text
    assert "rita" in response.json()["reviewer"]
    # The service's own call endpoint now shows the corrected values, marked.
    detail = env.get(f"/v1/calls/{call_id}")
    analysis = detail["analysis"]
    assert analysis["intent"]["label"] == "billing" and analysis["intent"]["corrected"] is True
    assert analysis["intent"]["original"]["label"] == original_intent
    assert [f["topic"] for f in analysis["flags"]] == ["refund"]
    assert analysis["sentiment"]["turns"][1]["label"] == "negative"
    assert analysis["sentiment"]["turns"][1]["corrected"] is True
    empathy = next(i for i in analysis["qa"]["items"] if i["id"] == "empathy")
    assert empathy["result"] == "fail" and empathy["original"]["result"] == "pass"
    assert analysis["qa"]["score"] < before["qa"]["score"]
    assert analysis["summary"]["outcome"] == "pending"
    assert set(analysis["corrected"]) == {"intent", "flags", "sentiment", "qa", "summary"}
    assert detail["intent"] == "billing"
    # Corrections are listed with reviewer, time, original and corrected value.
    rows = env.get(f"/v1/calls/{call_id}/corrections")["corrections"]
    fields = {r["field"] for r in rows}
    assert {"intent", "flags", "sentiment.turns[1]", "qa.items[empathy]", "summary", "note"} <= fields
    intent_row = next(r for r in rows if r["field"] == "intent")
    assert intent_row["original"]["label"] == original_intent
    assert intent_row["corrected"]["label"] == "billing" and intent_row["corrected"]["text"]
    assert intent_row["reviewer"] and intent_row["created_at"]


def test_correction_errors_and_scopes(env: Env) -> None:
    call_id = env.seeded.ids["late-order"]
    url = f"/v1/calls/{call_id}/analysis"
    cases = [
        ({"qa": [{"id": "nope", "result": "pass"}]}, "qa", 422, "invalid_input"),
        ({"sentiment": [{"turn": 99, "label": "negative"}]}, "qa", 422, "invalid_input"),
        ({"sentiment": [{"turn": 1, "label": "furious"}]}, "qa", 422, "invalid_input"),
        ({}, "qa", 422, "invalid_input"),
        ({"intent": "billing", "colour": 1}, "qa", 422, "invalid_input"),
        ({"intent": "billing"}, "ingest", 403, "forbidden"),
        ({"intent": "billing"}, "other", 404, "not_found"),
    ]
    for body, who, status, code in cases:
        response = env.client.patch(url, json=body, headers=env.h(who))
        assert (response.status_code, response.json()["code"]) == (status, code), (body, response.text)
    assert env.client.get(f"/v1/calls/{call_id}/corrections", headers=env.h("other")).status_code == 404
    assert env.client.get("/v1/review-queue").status_code == 401


def test_review_queue_orders_by_priority_and_hides_reviewed(env: Env) -> None:
    items = env.get("/v1/review-queue")["items"]
    ids = [i["id"] for i in items]
    angry = env.seeded.ids["double-charge-angry"]
    assert angry in ids
    ranks = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
    escalated = [i for i in items if i["why"] == "escalation"]
    assert [ranks[i["priority"]] for i in escalated] == sorted(ranks[i["priority"]] for i in escalated)
    assert all(i["escalation"] in ("suggest", "require") for i in escalated)
    assert ids.index(angry) < len(escalated)
    response = env.client.patch(f"/v1/calls/{angry}/analysis", json={"reviewed": True}, headers=env.h())
    assert response.status_code == 200
    assert angry not in [i["id"] for i in env.get("/v1/review-queue")["items"]]
    assert angry in [i["id"] for i in env.get("/v1/review-queue", include_reviewed="true")["items"]]
    assert env.get("/v1/review-queue", who="other")["items"] == []


def test_metrics_summary(env: Env) -> None:
    seeded = env.seeded
    response = env.client.put(f"/v1/calls/{seeded.ids['late-order']}/handling",
                              json={"hold_s": 30, "after_call_work_s": 60}, headers=env.h("ingest"))
    assert response.status_code == 200, response.text
    totals = env.get("/v1/metrics/summary")["totals"]
    assert totals["volume"] == len(seeded.ids)
    assert totals["avg_hold_s"] == 30.0 and totals["avg_after_call_work_s"] == 60.0
    talk = [d["duration_s"] for d in seeded.documents.values()]
    assert totals["avg_handle_time_s"] == pytest.approx((sum(talk) + 90) / len(talk), abs=0.01)
    # cust-003 called again 4 days after the first internet call: 1 repeat of 8 calls.
    assert totals["repeat_contact_rate"] == pytest.approx(1 / len(seeded.ids), abs=1e-4)
    assert totals["escalation_rate"] > 0 and totals["transfer_rate"] > 0
    assert sum(totals["sentiment"].values()) == len(seeded.ids)
    assert {"label": "billing", "count": 3} in totals["top_intents"] or totals["top_intents"]
    assert totals["qa"]["scored_calls"] == len(seeded.ids) and totals["qa"]["avg_score"] > 0
    assert set(totals["qa"]["item_pass_rates"]) >= {"greeting", "close"}
    by_agent = env.get("/v1/metrics/summary", group_by="agent")["groups"]
    assert {g["key"]: g["volume"] for g in by_agent}["agent-sam"] == 2
    by_day = env.get("/v1/metrics/summary", group_by="day")["groups"]
    assert sum(g["volume"] for g in by_day) == len(seeded.ids)
    billing = env.get("/v1/metrics/summary", queue="billing")["totals"]
    assert billing["volume"] == 3
    assert env.get("/v1/metrics/summary", agent_id="agent-maria")["totals"]["volume"] == 2
    bad = env.client.get("/v1/metrics/summary", params={"group_by": "year"}, headers=env.h())
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    assert env.get("/v1/metrics/summary", who="other")["totals"]["volume"] == 0


def test_search_text_semantic_hybrid(env: Env) -> None:
    ids = env.seeded.ids
    double = {ids["double-charge-good"], ids["double-charge-angry"], ids["rude-agent"]}
    text = env.get("/v1/search", q="charged twice", mode="text")["results"]
    assert {r["id"] for r in text} <= double and ids["rude-agent"] in {r["id"] for r in text}
    semantic = env.get("/v1/search", q="customers angry about double charges", mode="semantic")["results"]
    assert semantic[0]["id"] in double and semantic[0]["snippet"] and semantic[0]["turns"]
    assert {r["id"] for r in semantic[:3]} == double
    hybrid = env.get("/v1/search", q="customers angry about double charges", mode="hybrid")["results"]
    assert hybrid[0]["id"] in double
    filtered = env.get("/v1/search", q="customers angry about double charges", mode="semantic",
                       agent_id="agent-dan")["results"]
    assert filtered and {r["agent_id"] for r in filtered} == {"agent-dan"}
    assert filtered[0]["id"] == ids["double-charge-angry"]
    assert env.get("/v1/search", who="other", q="double charges")["results"] == []
    bad = env.client.get("/v1/search", params={"q": "x", "mode": "fuzzy"}, headers=env.h())
    assert bad.status_code == 422


def test_tenant_scorecard_is_validated(env: Env) -> None:
    default = env.get("/v1/admin/scorecard")
    assert default["name"] == "default" and not default["custom"]
    bad = env.client.put("/v1/admin/scorecard", json={"yaml": "name: x\nitems: []"}, headers=env.h("admin"))
    assert bad.status_code == 422 and bad.json()["code"] == "scorecard_invalid"
    assert "items" in bad.json()["message"]
    good = "name: mine\nitems:\n  - {id: hello, label: Hello, checks: [{type: phrase, keywords: [hello]}]}\n"
    put = env.client.put
    assert put("/v1/admin/scorecard", json={"yaml": good}, headers=env.h("qa")).status_code == 403
    assert put("/v1/admin/scorecard", json={"yaml": good}, headers=env.h("admin")).status_code == 200
    assert env.get("/v1/admin/scorecard")["custom"] is True
    call_id = env.seeded.ids["calm-cancel"]
    rescored = env.client.post(f"/v1/calls/{call_id}/rescore", headers=env.h())
    assert rescored.status_code == 200, rescored.text
    qa = env.get(f"/v1/calls/{call_id}")["analysis"]["qa"]
    assert qa["scorecard"] == "mine" and [i["id"] for i in qa["items"]] == ["hello"]
    assert qa["items"][0]["result"] == "fail" and qa["score"] == 0.0  # nobody said "hello" in that call
    missing = env.client.post("/v1/calls/call_nope/rescore", headers=env.h())
    assert missing.status_code == 404


def test_corrections_retrain_new_version_and_rollback(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES.parent)  # packaged examples are read from models/<kind>/examples.jsonl
    ids = env.seeded.ids
    for name in ("internet-down-third", "late-order"):
        body = {"intent": "technical_support" if name == "internet-down-third" else "order_status",
                "sentiment": [{"turn": 1, "label": "negative"}]}
        patched = env.client.patch(f"/v1/calls/{ids[name]}/analysis", json=body, headers=env.h())
        assert patched.status_code == 200
    assert env.client.post("/v1/admin/models/intent/retrain", headers=env.h("qa")).status_code == 403
    response = env.client.post("/v1/admin/models/intent/retrain", headers=env.h("admin"))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["n_corrections"] >= 2 and result["n_test"] > 50
    assert 0.5 < result["after_accuracy"] <= 1.0 and result["before_accuracy"] is not None
    new_version = result["version"]
    assert (env.heads_dir / "intent" / new_version / "head.npz").is_file()
    assert (env.heads_dir / "intent" / "ACTIVE").read_text().strip() == new_version
    versions = env.get("/v1/admin/models/intent/versions", who="admin")["versions"]
    assert [v["active"] for v in versions] == [False, True]
    assert versions[0]["version"] == result["previous_version"]
    from callintel.ml.heads import resolve_head_dir

    assert resolve_head_dir("intent", heads_dir=env.heads_dir).name == new_version
    rolled = env.client.post("/v1/admin/models/intent/rollback", headers=env.h("admin"))
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["active"] == result["previous_version"]
    assert resolve_head_dir("intent", heads_dir=env.heads_dir).name != new_version
    forward = env.client.post("/v1/admin/models/intent/rollback", json={"version": new_version},
                              headers=env.h("admin"))
    assert forward.status_code == 200 and forward.json()["active"] == new_version
    missing = env.client.post("/v1/admin/models/intent/rollback", json={"version": "nope"},
                              headers=env.h("admin"))
    assert missing.status_code == 404
    assert env.client.post("/v1/admin/models/banana/retrain", headers=env.h("admin")).status_code == 404
