"""The HTTP API over a real SQLite database and blob folder (no worker: jobs stay queued).

Covers auth scopes, tenant isolation, every bad input answered 4xx with its code, idempotency,
the Twilio callback signature, erasure, ops endpoints and the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from apikeys import issue_keys
from callintel.api.app import create_app
from callintel.api.twilio import twilio_signature
from callintel.config import AudioSettings, SecuritySettings, Settings
from callintel.storage import repo
from callintel.storage.db import transaction

ADMIN = "ci_admin_for_api_tests"
TWILIO_TOKEN = "twilio-test-token"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("api"),
        audio=AudioSettings(max_bytes=2_000_000),
        security=SecuritySettings(
            bootstrap_admin_key=SecretStr(ADMIN), twilio_auth_token=SecretStr(TWILIO_TOKEN)
        ),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keys(client: TestClient) -> dict[str, str]:
    state = client.app.state.callintel  # type: ignore[attr-defined]
    wanted = {
        "ingest": ("acme", ["ingest"]),
        "qa": ("acme", ["qa"]),
        "agent": ("acme", ["agent"]),
        "other": ("globex", ["ingest", "qa"]),
    }
    return issue_keys(state, wanted)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def upload(client: TestClient, key: str, wav: bytes, **fields: Any) -> Any:
    headers = auth(key) | fields.pop("headers", {})
    return client.post(
        "/v1/calls", files={"file": ("call.wav", wav, "audio/wav")}, data=fields, headers=headers
    )


@pytest.fixture(scope="module")
def wav(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / "audio" / "stereo_16k.wav").read_bytes()


def test_upload_is_accepted_and_readable_by_ingest_and_qa_keys(
    client: TestClient, keys: dict[str, str], wav: bytes
) -> None:
    response = upload(client, keys["ingest"], wav, agent_id="a1", external_id="ext-1")
    assert response.status_code == 202, response.text
    body = response.json()
    assert (
        body["status"] == "queued" and body["status_url"] == f"/v1/calls/{body['id']}" and not body["replay"]
    )
    for reader in ("ingest", "qa"):
        detail = client.get(body["status_url"], headers=auth(keys[reader])).json()
        assert detail["status"] == "queued" and detail["agent_id"] == "a1" and detail["analysis"] is None
    not_ready = client.get(f"{body['status_url']}/transcript", headers=auth(keys["ingest"]))
    assert (not_ready.status_code, not_ready.json()["code"]) == (409, "call_not_ready")


def test_scopes_are_enforced(client: TestClient, keys: dict[str, str], wav: bytes) -> None:
    assert upload(client, keys["qa"], wav).json()["code"] == "forbidden"
    assert upload(client, keys["agent"], wav).status_code == 403
    assert client.get("/v1/calls", headers=auth(keys["agent"])).status_code == 403
    missing = client.get("/v1/calls")
    assert (missing.status_code, missing.json()["code"]) == (401, "unauthorized")
    assert client.get("/v1/calls", headers={"X-API-Key": "ci_nope"}).status_code == 401
    assert client.get("/v1/calls", headers={"X-API-Key": keys["qa"]}).status_code == 200


def test_another_tenants_call_is_not_found(client: TestClient, keys: dict[str, str], wav: bytes) -> None:
    call_id = upload(client, keys["ingest"], wav).json()["id"]
    other = auth(keys["other"])
    for method, path in [
        ("GET", ""),
        ("GET", "/transcript"),
        ("GET", "/summary"),
        ("GET", "/audio"),
        ("GET", "/webhooks"),
        ("POST", "/reanalyze"),
        ("DELETE", ""),
    ]:
        response = client.request(method, f"/v1/calls/{call_id}{path}", headers=other)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), (method, path)
    listed = client.get("/v1/calls", headers=other).json()["items"]
    assert call_id not in [c["id"] for c in listed]
    assert client.get(f"/v1/calls/{call_id}", headers=auth(keys["ingest"])).status_code == 200


def test_idempotency_replay_and_conflict(client: TestClient, keys: dict[str, str], wav: bytes) -> None:
    first = upload(client, keys["ingest"], wav, agent_id="a1", headers={"Idempotency-Key": "idem-1"})
    again = upload(client, keys["ingest"], wav, agent_id="a1", headers={"Idempotency-Key": "idem-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.json()["replay"] is True
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    conflict = upload(client, keys["ingest"], wav, agent_id="a2", headers={"Idempotency-Key": "idem-1"})
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
    other_tenant = upload(client, keys["other"], wav, agent_id="a1", headers={"Idempotency-Key": "idem-1"})
    assert other_tenant.status_code == 202 and other_tenant.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("empty", 422, "audio_empty"),
        ("random", 422, "audio_unreadable"),
        ("text-as-audio", 422, "audio_unreadable"),
        ("too-large-file", 413, "audio_too_large"),
        ("too-large-body", 413, "payload_too_large"),
        ("bad-channel-map", 422, "invalid_input"),
        ("bad-date", 422, "invalid_input"),
        ("bad-callback", 422, "invalid_input"),
        ("unknown-field", 422, "invalid_input"),
        ("no-file", 422, "invalid_input"),
        ("bad-json", 422, "invalid_input"),
        ("json-not-object", 422, "invalid_input"),
        ("json-bad-url", 422, "invalid_input"),
        ("wrong-content-type", 415, "unsupported_media_type"),
    ],
)
def test_bad_input_is_answered_4xx_with_its_code(
    client: TestClient,
    keys: dict[str, str],
    wav: bytes,
    fixtures_dir: Path,
    name: str,
    status: int,
    code: str,
) -> None:
    headers = auth(keys["ingest"])
    file = lambda data: {"files": {"file": ("x.wav", data, "audio/wav")}}  # noqa: E731
    cases: dict[str, dict[str, Any]] = {
        "empty": file(b""),
        "random": file((fixtures_dir / "bad" / "random.bin").read_bytes()),
        "text-as-audio": file(b"hello, this is not audio at all\n" * 50),
        "too-large-file": file(b"\0" * 2_500_000),
        "too-large-body": file(b"\0" * 3_200_000),
        "bad-channel-map": file(wav) | {"data": {"channel_map": "left,right"}},
        "bad-date": file(wav) | {"data": {"started_at": "yesterday"}},
        "bad-callback": file(wav) | {"data": {"callback_url": "javascript:alert(1)"}},
        "unknown-field": file(wav) | {"data": {"colour": "blue"}},
        "no-file": {"files": {"audio": ("x.wav", wav, "audio/wav")}},
        "bad-json": {"content": b"{not json", "headers": {"content-type": "application/json"}},
        "json-not-object": {"json": ["http://example.com/a.wav"]},
        "json-bad-url": {"json": {"recording_url": "ftp://example.com/a.wav"}},
        "wrong-content-type": {"content": b"abc", "headers": {"content-type": "text/plain"}},
    }
    kwargs = cases[name]
    kwargs["headers"] = headers | kwargs.get("headers", {})
    response = client.post("/v1/calls", **kwargs)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.json()["message"]


def test_streamed_body_over_the_limit_is_refused_without_content_length(
    client: TestClient, keys: dict[str, str]
) -> None:
    boundary = "xyz"

    def chunks() -> Iterator[bytes]:
        disposition = 'Content-Disposition: form-data; name="file"; filename="a.wav"'
        yield f"--{boundary}\r\n{disposition}\r\n\r\n".encode()
        for _ in range(40):
            yield b"\0" * 100_000

    headers = auth(keys["ingest"]) | {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = client.post("/v1/calls", content=chunks(), headers=headers)
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_unknown_call_path_and_method_carry_codes(client: TestClient, keys: dict[str, str]) -> None:
    headers = auth(keys["ingest"])
    assert client.get("/v1/calls/call_missing", headers=headers).json()["code"] == "not_found"
    assert client.get("/v1/nothing-here").json()["code"] == "not_found"
    assert client.put("/v1/calls", headers=headers).json()["code"] == "method_not_allowed"
    bad_query = client.get("/v1/calls?limit=0", headers=headers)
    assert (bad_query.status_code, bad_query.json()["code"]) == (422, "invalid_input")
    assert client.get("/v1/calls?cursor=%%%", headers=headers).json()["code"] == "invalid_input"


def test_list_pagination_and_filters(client: TestClient, keys: dict[str, str], wav: bytes) -> None:
    ids = {upload(client, keys["other"], wav, queue="pager", agent_id=f"p{i}").json()["id"] for i in range(3)}
    seen: list[str] = []
    url = "/v1/calls?queue=pager&limit=2"
    while url:
        page = client.get(url, headers=auth(keys["other"])).json()
        seen += [c["id"] for c in page["items"]]
        url = f"/v1/calls?queue=pager&limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert set(seen) == ids and len(seen) == 3
    one = client.get("/v1/calls?agent_id=p1&status=queued", headers=auth(keys["other"])).json()["items"]
    assert len(one) == 1 and one[0]["agent_id"] == "p1"


def test_delete_erases_blobs_and_rows(client: TestClient, keys: dict[str, str], wav: bytes) -> None:
    state = client.app.state.callintel  # type: ignore[attr-defined]
    call_id = upload(client, keys["ingest"], wav, headers={"Idempotency-Key": "to-delete"}).json()["id"]
    assert state.blobs.exists(f"acme/{call_id}/audio")
    assert client.delete(f"/v1/calls/{call_id}", headers=auth(keys["ingest"])).status_code == 204
    assert not state.blobs.exists(f"acme/{call_id}/audio")
    assert client.get(f"/v1/calls/{call_id}", headers=auth(keys["ingest"])).status_code == 404
    assert client.delete(f"/v1/calls/{call_id}", headers=auth(keys["ingest"])).status_code == 404
    fresh = upload(client, keys["ingest"], wav, headers={"Idempotency-Key": "to-delete"})
    assert fresh.status_code == 202 and fresh.json()["id"] != call_id  # the key went with the call


def _twilio_post(client: TestClient, form: dict[str, str], *, token: str = TWILIO_TOKEN) -> Any:
    url = "http://testserver/v1/integrations/twilio/recording?tenant=acme"
    signature = twilio_signature(token, url, list(form.items()))
    return client.post(url, data=form, headers={"X-Twilio-Signature": signature})


def test_twilio_callback_checks_the_signature_and_is_idempotent(
    client: TestClient, keys: dict[str, str]
) -> None:
    form = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": "CA" + "1" * 32,
        "RecordingSid": "RE" + "2" * 32,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC00/Recordings/RE22",
        "RecordingStatus": "completed",
        "RecordingChannels": "2",
    }
    forged = _twilio_post(client, form, token="wrong-token")
    assert (forged.status_code, forged.json()["code"]) == (401, "unauthorized")
    first = _twilio_post(client, form)
    assert first.status_code == 202, first.text
    assert _twilio_post(client, form).json() == first.json() | {"replay": True}
    call = client.get(f"/v1/calls/{first.json()['id']}", headers=auth(keys["ingest"])).json()
    assert (call["source"], call["channel_map"], call["external_id"]) == (
        "twilio",
        "customer,agent",
        form["CallSid"],
    )
    assert _twilio_post(client, form | {"RecordingStatus": "in-progress"}).status_code == 204


def test_ops_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and set(ready.json()["checks"]) == {
        "database",
        "broker",
        "blobs",
        "models",
    }
    metrics = client.get("/metrics").text
    assert 'callintel_jobs{status="queued"}' in metrics and "callintel_queue_depth" in metrics
    assert "call_" not in metrics  # no call ids as labels


def test_openapi_documents_both_bodies_and_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/calls"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    assert body["application/json"]["example"]["recording_url"].startswith("https://")
    assert "/v1/integrations/twilio/recording" in spec["paths"]


def test_reanalyze_only_when_not_busy_and_queues_a_new_job(
    client: TestClient, keys: dict[str, str], wav: bytes
) -> None:
    state = client.app.state.callintel  # type: ignore[attr-defined]
    call_id = upload(client, keys["ingest"], wav).json()["id"]
    busy = client.post(f"/v1/calls/{call_id}/reanalyze", headers=auth(keys["ingest"]))
    assert (busy.status_code, busy.json()["code"]) == (409, "call_busy")
    with transaction(state.sessions) as session:
        call = repo.get_call(session, tenant_id="acme", call_id=call_id)
        assert call is not None
        call.status = "failed"
        call.error_code = "audio_unreadable"
    again = client.post(f"/v1/calls/{call_id}/reanalyze", headers=auth(keys["ingest"]))
    assert again.status_code == 202 and again.json()["status"] == "queued"
    detail = client.get(f"/v1/calls/{call_id}", headers=auth(keys["ingest"])).json()
    assert detail["status"] == "queued" and detail["error"] is None
    with state.sessions() as session:
        from callintel.storage.models import Job

        assert session.query(Job).filter(Job.call_id == call_id).count() == 2
