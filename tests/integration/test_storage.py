"""Storage over real databases: migrations, keys, calls, jobs, idempotency, webhooks, blobs.

Runs on SQLite (a temp file) and on PostgreSQL (a fresh schema per session).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from callintel.storage import repo
from callintel.storage.blobs import LocalBlobStore, S3BlobStore
from callintel.storage.db import make_engine, make_session_factory, transaction
from callintel.storage.migrations import current_revision, run_migrations
from callintel.storage.models import AnalysisRow, Call, Job, WebhookAttempt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_url: str
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    schema = f"t_storage_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    run_migrations(db_url)
    run_migrations(db_url)  # idempotent at every start
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_migrations_reach_head_and_create_every_table(db_url: str, sessions: sessionmaker[Session]) -> None:
    assert current_revision(db_url) is not None
    tables = set(sa.inspect(sessions.kw["bind"]).get_table_names())
    expected = {
        "tenants",
        "api_keys",
        "calls",
        "jobs",
        "analyses",
        "idempotency_keys",
        "webhook_deliveries",
        "webhook_attempts",
        "kb_articles",
        "kb_chunks",
        "corrections",
        "model_versions",
        "live_sessions",
        "tenant_settings",
    }
    assert expected <= tables


def test_api_keys_are_hashed_scoped_and_revocable(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        created = repo.create_api_key(s, tenant_id="acme", scopes=["qa", "ingest"], name="ci")
    assert created.scopes == ("ingest", "qa")
    with sessions() as s:
        row = repo.find_api_key(s, created.key)
        assert row is not None and row.tenant_id == "acme"
        assert created.key not in row.key_hash and len(row.key_hash) == 64
        assert repo.find_api_key(s, created.key + "x") is None
    with transaction(sessions) as s:
        assert repo.revoke_api_key(s, key_id=created.id)
    with sessions() as s:
        assert repo.find_api_key(s, created.key) is None


def test_unknown_scope_is_refused(sessions: sessionmaker[Session]) -> None:
    from callintel.errors import InvalidInput

    with pytest.raises(InvalidInput), transaction(sessions) as s:
        repo.create_api_key(s, tenant_id="acme", scopes=["root"])


def _call(sessions: sessionmaker[Session], tenant: str = "acme", **kw: object) -> tuple[str, str]:
    with transaction(sessions) as s:
        call = repo.create_call(s, repo.NewCall(tenant_id=tenant, **kw))  # type: ignore[arg-type]
        job = repo.create_job(s, call_id=call.id, deadline_s=60)
        return call.id, job.id


def test_tenant_scoped_read_hides_other_tenants(sessions: sessionmaker[Session]) -> None:
    call_id, _ = _call(sessions, tenant="acme")
    with sessions() as s:
        assert repo.get_call(s, tenant_id="acme", call_id=call_id) is not None
        assert repo.get_call(s, tenant_id="other", call_id=call_id) is None


def test_claim_job_admits_one_task_and_redelivery_of_the_same_task(sessions: sessionmaker[Session]) -> None:
    _, job_id = _call(sessions)
    with transaction(sessions) as s:
        assert repo.claim_job(s, job_id=job_id, task_id="t1", deadline_s=60)
    with transaction(sessions) as s:
        assert not repo.claim_job(s, job_id=job_id, task_id="t2", deadline_s=60)  # someone else's, alive
        assert repo.claim_job(s, job_id=job_id, task_id="t1", deadline_s=60)  # redelivered after a crash
    with transaction(sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None and job.deliveries == 2
        job.deadline_at = datetime.now(UTC) - timedelta(seconds=1)
    with transaction(sessions) as s:
        assert [j.id for j in repo.stuck_jobs(s, now=datetime.now(UTC))].count(job_id) == 1
        assert repo.claim_job(s, job_id=job_id, task_id="t3", deadline_s=60)  # past deadline: taken over
        assert repo.job_is_mine(s, job_id=job_id, task_id="t1") is None
        assert repo.job_is_mine(s, job_id=job_id, task_id="t3") is not None


def test_store_analysis_versions_and_summary_columns(sessions: sessionmaker[Session]) -> None:
    call_id, job_id = _call(sessions, customer_id="c1")
    doc = {
        "intent": {"label": "billing"},
        "sentiment": {"by_speaker": {"customer": {"label": "negative"}}},
        "flags": [{"topic": "legal_threat"}],
        "escalation": {"decision": "require", "priority": "high"},
        "qa": {"score": 80.0},
        "duration_s": 12.5,
        "summary": {"reason": {"text": "double charge"}},
        "transcript": {"turns": [{"speaker": "customer", "text": "I was charged twice"}]},
    }
    for _ in range(2):
        with transaction(sessions) as s:
            call, job = s.get(Call, call_id), s.get(Job, job_id)
            assert call is not None and job is not None
            repo.store_analysis(
                s, call=call, job=job, document=doc, raw_transcript=None, redacted_audio_key=None
            )
    with sessions() as s:
        latest = repo.latest_analysis(s, call_id)
        assert latest is not None and latest.version == 2 and latest.document["intent"]["label"] == "billing"
        call = s.get(Call, call_id)
        assert call is not None
        assert (call.status, call.intent, call.sentiment, call.flags) == (
            "completed",
            "billing",
            "negative",
            ["legal_threat"],
        )
        assert call.escalation_decision == "require" and call.qa_score == 80.0
        assert call.created_at.tzinfo is not None


def test_list_calls_filters_and_cursor_pagination(sessions: sessionmaker[Session]) -> None:
    tenant = f"list-{uuid.uuid4().hex[:6]}"
    ids = [
        _call(sessions, tenant=tenant, agent_id="a1" if i % 2 else "a2", queue="billing")[0] for i in range(5)
    ]
    with transaction(sessions) as s:
        flagged = s.get(Call, ids[0])
        assert flagged is not None
        flagged.flags, flagged.intent = ["legal_threat", "refund"], "cancel"
    seen: list[str] = []
    after = None
    with sessions() as s:
        while True:
            rows, after = repo.list_calls(
                s, tenant_id=tenant, filters=repo.CallFilters(), limit=2, after=after
            )
            seen += [r.id for r in rows]
            if after is None:
                break
        assert sorted(seen) == sorted(ids) and len(seen) == 5
        by_agent, _ = repo.list_calls(s, tenant_id=tenant, filters=repo.CallFilters(agent_id="a1"))
        assert len(by_agent) == 2
        by_flag, _ = repo.list_calls(s, tenant_id=tenant, filters=repo.CallFilters(flag="refund"))
        assert [r.id for r in by_flag] == [ids[0]]
        assert repo.list_calls(s, tenant_id=tenant, filters=repo.CallFilters(flag="refu"))[0] == []
        by_intent, _ = repo.list_calls(s, tenant_id=tenant, filters=repo.CallFilters(intent="cancel"))
        assert [r.id for r in by_intent] == [ids[0]]
        future = repo.CallFilters(created_from=datetime.now(UTC) + timedelta(hours=1))
        assert repo.list_calls(s, tenant_id=tenant, filters=future)[0] == []


def test_idempotency_key_is_stored_once(sessions: sessionmaker[Session]) -> None:
    call_id, _ = _call(sessions)
    with transaction(sessions) as s:
        assert repo.save_idempotency(s, tenant_id="acme", key="k-1", body_hash="h", call_id=call_id)
    with transaction(sessions) as s:
        assert not repo.save_idempotency(s, tenant_id="acme", key="k-1", body_hash="h2", call_id=call_id)
        row = repo.find_idempotency(s, tenant_id="acme", key="k-1")
        assert row is not None and row.body_hash == "h"


def test_webhook_delivery_is_one_row_per_event_and_leased(sessions: sessionmaker[Session]) -> None:
    call_id, job_id = _call(sessions)
    for _ in range(2):
        with transaction(sessions) as s:
            repo.add_delivery(
                s,
                delivery_id=f"msg_{job_id}",
                tenant_id="acme",
                call_id=call_id,
                event="call.completed",
                url="http://127.0.0.1:1/",
                payload={"a": 1},
            )
    with transaction(sessions) as s:
        first = repo.claim_delivery(s, delivery_id=f"msg_{job_id}", lease_s=60)
        assert first is not None and first.attempts == 1
    with transaction(sessions) as s:
        assert repo.claim_delivery(s, delivery_id=f"msg_{job_id}", lease_s=60) is None  # leased
        row = repo.get_delivery(s, f"msg_{job_id}")
        assert row is not None
        repo.record_attempt(
            s, delivery=row, attempt=repo.AttemptRecord(200, "success", None, 3.0), retry_at=None
        )
    with sessions() as s:
        [(delivery, attempts)] = repo.list_deliveries(s, call_id=call_id)
        assert delivery.status == "delivered" and [a.outcome for a in attempts] == ["success"]
        assert repo.count_webhook_outcomes(s)["success"] >= 1


def test_delete_call_erases_everything_derived(sessions: sessionmaker[Session]) -> None:
    call_id, job_id = _call(sessions, audio_key="acme/x/audio")
    with transaction(sessions) as s:
        s.add(AnalysisRow(call_id=call_id, job_id=job_id, version=1, document={"x": 1}))
        repo.save_idempotency(s, tenant_id="acme", key=f"del-{call_id}", body_hash="h", call_id=call_id)
        repo.add_delivery(
            s,
            delivery_id=f"msg_del_{job_id}",
            tenant_id="acme",
            call_id=call_id,
            event="call.completed",
            url="http://127.0.0.1:1/",
            payload={},
        )
        s.add(WebhookAttempt(delivery_id=f"msg_del_{job_id}", number=1, outcome="success"))
    with transaction(sessions) as s:
        assert repo.delete_call(s, tenant_id="other", call_id=call_id) is None
        assert repo.delete_call(s, tenant_id="acme", call_id=call_id) == ["acme/x/audio"]
    with sessions() as s:
        for model in (AnalysisRow, Job):
            assert (
                s.scalar(sa.select(sa.func.count()).select_from(model).where(model.call_id == call_id)) == 0
            )
        assert s.get(Call, call_id) is None
        assert repo.find_idempotency(s, tenant_id="acme", key=f"del-{call_id}") is None
        assert repo.list_deliveries(s, call_id=call_id) == []


def test_local_blob_store_roundtrip_and_prefix_delete(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("t/c1/audio", b"abc")
    (tmp_path / "f.bin").write_bytes(b"xyz")
    store.put_file("t/c1/redacted/j.wav", tmp_path / "f.bin")
    assert store.get("t/c1/audio") == b"abc" and store.exists("t/c1/redacted/j.wav")
    assert store.delete_prefix("t/c1/") == 2
    assert not store.exists("t/c1/audio")
    with pytest.raises(ValueError):
        store.put("../escape", b"x")


def test_s3_blob_store_with_moto() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        client.create_bucket(Bucket="calls")
        store = S3BlobStore("calls", client=client)
        store.check()
        store.put("t/c1/audio", b"abc", content_type="audio/wav")
        assert store.get("t/c1/audio") == b"abc" and store.open("t/c1/audio").read() == b"abc"
        assert store.exists("t/c1/audio") and not store.exists("t/c1/none")
        assert store.delete_prefix("t/c1/") == 1 and not store.exists("t/c1/audio")
        from callintel.errors import NotFound

        with pytest.raises(NotFound):
            store.get("t/c1/audio")
