"""End to end over the real parts: PostgreSQL (a fresh schema), Redis (a unique key prefix), a
``callintel worker`` process with the real models, the API (create_app under TestClient), a local
webhook receiver verifying Standard Webhooks signatures, and a local recording server.

The worker may reach only 127.0.0.2 (``fetch.allowed_networks``), where the receiver and the
recording server listen; loopback 127.0.0.1, private and link-local targets stay refused.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from service_helpers import Receiver, Recordings, WorkerProcess, serve, settings_env, wait_for
from standardwebhooks import Webhook

from apikeys import issue_keys
from callintel.api.app import create_app
from callintel.config import (
    AudioSettings,
    FetchSettings,
    ModelSettings,
    SecuritySettings,
    Settings,
    WebhookSettings,
    WorkerSettings,
)
from callintel.storage import repo
from callintel.storage.models import AnalysisRow, Job, WebhookDelivery

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN = uuid.uuid4().hex[:8]
ADMIN = f"ci_e2e_admin_{RUN}"
ROOT = Path(__file__).resolve().parents[2]
ANALYSIS_TIMEOUT = 600.0


@pytest.fixture(scope="module")
def database_url(pg_url: str) -> Iterator[str]:
    schema = f"e2e_{RUN}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def prefix(redis_url: str) -> Iterator[str]:
    value = f"e2e-{RUN}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{value}*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def servers(fixtures_dir: Path) -> Iterator[tuple[str, str]]:
    receiver, recordings = serve(Receiver, "127.0.0.2"), serve(Recordings, "127.0.0.2")
    loopback = serve(Recordings, "127.0.0.1")
    Recordings.files["/call.wav"] = (fixtures_dir / "audio" / "mono_16k.wav").read_bytes()
    rec = f"http://127.0.0.2:{recordings.server_address[1]}"
    Recordings.redirects["/to-loopback.wav"] = f"http://127.0.0.1:{loopback.server_address[1]}/call.wav"
    yield f"http://127.0.0.2:{receiver.server_address[1]}/hooks", rec
    for server in (receiver, recordings, loopback):
        server.shutdown()


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_url: str, prefix: str
) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("e2e"),
        database_url=database_url,
        broker_url=redis_url,
        audio=AudioSettings(max_bytes=3_000_000),
        models=ModelSettings(cache_dir=ROOT / ".cache" / "models"),
        fetch=FetchSettings(allow_private=False, allowed_networks=["127.0.0.2/32"], timeout_s=10),
        webhooks=WebhookSettings(backoff_base_s=0.5),
        worker=WorkerSettings(
            queue_prefix=prefix, job_deadline_s=12, reconcile_interval_s=2, debug_delay_s=8, max_deliveries=3
        ),
        security=SecuritySettings(bootstrap_admin_key=SecretStr(ADMIN)),
    )


def _env(settings: Settings) -> dict[str, str]:
    worker = settings.worker
    values = {
        "CALLINTEL_DATA_DIR": str(settings.data_dir),
        "CALLINTEL_DATABASE_URL": str(settings.database_url),
        "CALLINTEL_BROKER_URL": str(settings.broker_url),
        "CALLINTEL_MODELS__CACHE_DIR": str(settings.models.cache_dir),
        "CALLINTEL_FETCH__ALLOW_PRIVATE": "false",
        "CALLINTEL_FETCH__ALLOWED_NETWORKS": '["127.0.0.2/32"]',
        "CALLINTEL_FETCH__TIMEOUT_S": "10",
        "CALLINTEL_WEBHOOKS__BACKOFF_BASE_S": "0.5",
        "CALLINTEL_WORKER__QUEUE_PREFIX": worker.queue_prefix,
        "CALLINTEL_WORKER__JOB_DEADLINE_S": str(worker.job_deadline_s),
        "CALLINTEL_WORKER__RECONCILE_INTERVAL_S": str(worker.reconcile_interval_s),
        "CALLINTEL_WORKER__DEBUG_DELAY_S": str(worker.debug_delay_s),
        "CALLINTEL_WORKER__MAX_DELIVERIES": str(worker.max_deliveries),
    }
    return settings_env(values, home=settings.data_dir)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:  # runs the migrations on the fresh schema
        yield test_client


@pytest.fixture(scope="module")
def worker(client: TestClient, settings: Settings) -> Iterator[list[WorkerProcess]]:
    """A list holding the current worker; a test that kills it swaps in a new one."""
    holder = [WorkerProcess(_env(settings), cwd=settings.data_dir, name="w1").start()]
    yield holder
    for proc in holder:
        proc.stop()


@pytest.fixture(scope="module")
def keys(client: TestClient) -> dict[str, str]:
    state = client.app.state.callintel  # type: ignore[attr-defined]
    wanted = {
        "ingest": ("acme", ["ingest"]),
        "qa": ("acme", ["qa"]),
        "agent": ("acme", ["agent"]),
        "globex": ("globex", ["ingest", "qa"]),
    }
    return issue_keys(state, wanted)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def finished(
    client: TestClient, key: str, call_id: str, *, timeout: float = ANALYSIS_TIMEOUT
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/v1/calls/{call_id}", headers=auth(key)).json()
        return body if body["status"] in ("completed", "failed") else None

    return wait_for(check, timeout=timeout, interval=1.0, what=f"call {call_id} to finish")


def verified(headers: dict[str, str], body: bytes, settings: Settings) -> dict[str, Any]:
    """Verify exactly as a customer would, with the standardwebhooks library."""
    payload: dict[str, Any] = Webhook(settings.webhooks.secret.get_secret_value()).verify(body, headers)
    return payload


def upload(client: TestClient, key: str, wav: bytes, **fields: str) -> str:
    response = client.post(
        "/v1/calls", files={"file": ("call.wav", wav, "audio/wav")}, data=fields, headers=auth(key)
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def completed_call(
    client: TestClient,
    keys: dict[str, str],
    worker: list[WorkerProcess],
    servers: tuple[str, str],
    fixtures_dir: Path,
) -> str:
    wav = (fixtures_dir / "audio" / "stereo_16k.wav").read_bytes()
    call_id = upload(
        client,
        keys["ingest"],
        wav,
        agent_id="agent-7",
        channel_map="agent,customer",
        callback_url=servers[0],
        external_id="e2e-1",
    )
    body = finished(client, keys["ingest"], call_id)
    assert body["status"] == "completed", (body, worker[0].log()[-4000:])
    return call_id


def test_upload_is_analysed_and_the_signed_webhook_arrives(
    client: TestClient, keys: dict[str, str], completed_call: str, settings: Settings
) -> None:
    key = auth(keys["ingest"])
    body = client.get(f"/v1/calls/{completed_call}", headers=key).json()
    analysis = body["analysis"]
    assert {"transcript", "intent", "sentiment", "flags", "summary", "escalation", "qa", "metrics"} <= set(
        analysis
    )
    assert analysis["transcript"]["turns"] and body["intent"] == analysis["intent"]["label"]
    turns = client.get(f"/v1/calls/{completed_call}/transcript", headers=key).json()["turns"]
    assert {t["speaker"] for t in turns} <= {"agent", "customer", "unknown"} and len(turns) >= 2
    assert client.get(f"/v1/calls/{completed_call}/summary", headers=key).json()["summary"] is not None
    audio = client.get(f"/v1/calls/{completed_call}/audio", headers=key)
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"

    events = wait_for(lambda: Receiver.events(completed_call, "call.completed"), timeout=60, what="webhook")
    headers, raw = events[0]
    payload = verified(headers, raw, settings)
    assert payload["type"] == "call.completed" and payload["data"]["external_id"] == "e2e-1"
    assert headers["webhook-id"].startswith("msg_") and headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception, match="signature"):
        verified(headers, raw.replace(b"e2e-1", b"e2e-2"), settings)
    escalated = analysis["escalation"]["decision"] != "none"
    expected = {"call.completed", "call.escalated"} if escalated else {"call.completed"}

    def all_delivered() -> list[dict[str, Any]] | None:
        items = client.get(f"/v1/calls/{completed_call}/webhooks", headers=key).json()["items"]
        done = [d for d in items if d["status"] == "delivered"]
        return done if {d["event"] for d in done} == expected else None

    deliveries = wait_for(all_delivered, timeout=60, what="deliveries recorded")
    assert {d["event"] for d in deliveries} == expected
    assert all(d["attempts"][-1]["outcome"] == "success" for d in deliveries)


def test_scopes_and_tenant_isolation(client: TestClient, keys: dict[str, str], completed_call: str) -> None:
    assert client.get(f"/v1/calls/{completed_call}", headers=auth(keys["qa"])).status_code == 200
    assert (
        client.get(f"/v1/calls/{completed_call}", headers=auth(keys["agent"])).json()["code"] == "forbidden"
    )
    assert (
        client.post(
            "/v1/calls", json={"recording_url": "http://127.0.0.2/x.wav"}, headers=auth(keys["qa"])
        ).status_code
        == 403
    )
    assert client.get("/v1/calls").status_code == 401
    for path in ("", "/transcript", "/summary", "/audio", "/webhooks"):
        response = client.get(f"/v1/calls/{completed_call}{path}", headers=auth(keys["globex"]))
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert client.delete(f"/v1/calls/{completed_call}", headers=auth(keys["globex"])).status_code == 404
    listed = client.get("/v1/calls", headers=auth(keys["globex"])).json()["items"]
    assert completed_call not in {c["id"] for c in listed}
    mine = client.get("/v1/calls?agent_id=agent-7", headers=auth(keys["qa"])).json()["items"]
    assert completed_call in {c["id"] for c in mine}


def test_recording_url_with_idempotency_replay_and_conflict(
    client: TestClient, keys: dict[str, str], worker: list[WorkerProcess], servers: tuple[str, str]
) -> None:
    receiver_url, recordings = servers
    body = {
        "recording_url": f"{recordings}/call.wav",
        "external_id": "url-1",
        "callback_url": receiver_url,
        "channel_map": "agent,customer",
    }
    headers = auth(keys["ingest"]) | {"Idempotency-Key": f"idem-{RUN}"}
    first = client.post("/v1/calls", json=body, headers=headers)
    again = client.post("/v1/calls", json=body, headers=headers)
    conflict = client.post("/v1/calls", json=body | {"external_id": "url-2"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["replay"] is True and again.headers["Idempotent-Replayed"] == "true"
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
    done = finished(client, keys["ingest"], first.json()["id"])
    assert done["status"] == "completed", (done, worker[0].log()[-3000:])
    assert done["analysis"]["transcript"]["turns"]


@pytest.mark.parametrize("target", ["private", "metadata", "loopback", "redirect-to-loopback"])
def test_ssrf_refusals_fail_the_call_with_url_blocked(
    client: TestClient,
    keys: dict[str, str],
    worker: list[WorkerProcess],
    servers: tuple[str, str],
    settings: Settings,
    target: str,
) -> None:
    receiver_url, recordings = servers
    urls = {
        "private": "http://10.20.30.40/call.wav",
        "metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "loopback": "http://127.0.0.1:6379/",
        "redirect-to-loopback": f"{recordings}/to-loopback.wav",
    }
    response = client.post(
        "/v1/calls",
        json={"recording_url": urls[target], "callback_url": receiver_url},
        headers=auth(keys["ingest"]),
    )
    call_id = response.json()["id"]
    body = finished(client, keys["ingest"], call_id, timeout=120)
    assert (body["status"], body["error"]["code"]) == ("failed", "url_blocked"), body
    headers, raw = wait_for(lambda: Receiver.events(call_id, "call.failed"), timeout=60, what="call.failed")[
        0
    ]
    assert verified(headers, raw, settings)["data"]["error"]["code"] == "url_blocked"


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("empty", 422, "audio_empty"),
        ("not-audio", 422, "audio_unreadable"),
        ("too-large", 413, "audio_too_large"),
        ("bad-channel-map", 422, "invalid_input"),
        ("bad-json", 422, "invalid_input"),
        ("unknown-call", 404, "not_found"),
    ],
)
def test_bad_input_is_answered_4xx_with_its_code(
    client: TestClient, keys: dict[str, str], fixtures_dir: Path, case: str, status: int, code: str
) -> None:
    key = auth(keys["ingest"])
    wav = (fixtures_dir / "audio" / "mono_16k.wav").read_bytes()
    requests: dict[str, Any] = {
        "empty": lambda: client.post("/v1/calls", files={"file": ("a.wav", b"", "audio/wav")}, headers=key),
        "not-audio": lambda: client.post(
            "/v1/calls", files={"file": ("a.wav", b"%PDF-1.4" * 300, "audio/wav")}, headers=key
        ),
        "too-large": lambda: client.post(
            "/v1/calls", files={"file": ("a.wav", b"\0" * 3_500_000, "audio/wav")}, headers=key
        ),
        "bad-channel-map": lambda: client.post(
            "/v1/calls",
            files={"file": ("a.wav", wav, "audio/wav")},
            data={"channel_map": "agent"},
            headers=key,
        ),
        "bad-json": lambda: client.post(
            "/v1/calls", content=b'{"recording_url": ', headers=key | {"content-type": "application/json"}
        ),
        "unknown-call": lambda: client.get("/v1/calls/call_does_not_exist", headers=key),
    }
    response = requests[case]()
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


def _wait_processing(client: TestClient, job_call: str) -> Job:
    state = client.app.state.callintel  # type: ignore[attr-defined]

    def check() -> Job | None:
        with state.sessions() as session:
            job = repo.latest_job(session, job_call)
            return job if job is not None and job.status == "processing" else None

    return wait_for(check, timeout=120, what="job processing")


def _exactly_one_result(
    client: TestClient, call_id: str
) -> tuple[list[AnalysisRow], list[WebhookDelivery], Job]:
    state = client.app.state.callintel  # type: ignore[attr-defined]
    with state.sessions() as session:
        analyses = list(session.scalars(sa.select(AnalysisRow).where(AnalysisRow.call_id == call_id)))
        deliveries = list(
            session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.call_id == call_id))
        )
        job = repo.latest_job(session, call_id)
        assert job is not None
        return analyses, deliveries, job


@pytest.mark.parametrize("kill", ["pool-child", "whole-worker"])
def test_worker_sigkill_mid_job_still_ends_with_one_result_and_one_webhook(
    client: TestClient,
    keys: dict[str, str],
    worker: list[WorkerProcess],
    servers: tuple[str, str],
    settings: Settings,
    fixtures_dir: Path,
    completed_call: str,
    kill: str,
) -> None:
    wav = (fixtures_dir / "audio" / "mono_16k.wav").read_bytes()
    call_id = upload(client, keys["ingest"], wav, callback_url=servers[0], external_id=f"kill-{kill}")
    _wait_processing(client, call_id)
    time.sleep(2)  # inside the test's debug delay: the job is mid-flight
    current = worker[0]
    if kill == "pool-child":
        [child] = current.children()
        os.kill(child, signal.SIGKILL)  # the main process sees the loss and the message is redelivered
    else:
        current.kill_all()  # message stays unacked in Redis; the new worker's reconciler re-sends
        worker[0] = WorkerProcess(current.env, cwd=current.cwd, name=f"w-after-{kill}").start()
    body = finished(client, keys["ingest"], call_id)
    assert body["status"] == "completed", (body, worker[0].log()[-4000:])
    wait_for(lambda: Receiver.events(call_id, "call.completed"), timeout=60, what="webhook after kill")
    time.sleep(5)  # room for any duplicate to show up
    analyses, deliveries, job = _exactly_one_result(client, call_id)
    assert [a.version for a in analyses] == [1]
    assert [d.event for d in deliveries].count("call.completed") == 1
    assert len(Receiver.events(call_id, "call.completed")) == 1
    assert job.deliveries == 2 and job.status == "completed"
    headers, raw = Receiver.events(call_id, "call.completed")[0]
    assert json.loads(raw)["data"]["call_id"] == call_id and verified(headers, raw, settings)


def test_ops_report_jobs_and_webhooks(client: TestClient, completed_call: str) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    metrics = client.get("/metrics").text
    completed = [
        line for line in metrics.splitlines() if line.startswith('callintel_jobs{status="completed"}')
    ]
    assert completed and float(completed[0].split()[-1]) >= 1
    assert 'callintel_webhook_attempts{outcome="success"}' in metrics
    assert 'callintel_stage_duration_seconds_count{stage="analyze"}' in metrics
    assert completed_call not in metrics
