"""Worker job logic over a real SQLite database and broker file, and recording fetches over a real
local HTTP server (SSRF refusals, redirects, limits)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from callintel.config import Settings, WorkerSettings
from callintel.errors import AudioTooLarge, FetchBlocked, FetchError, FetchTransient, UnsupportedMediaType
from callintel.fetch import AddressPolicy, FetchLimits, fetch_recording
from callintel.storage import repo
from callintel.storage.db import transaction
from callintel.storage.migrations import run_migrations
from callintel.storage.models import AnalysisRow, Call, Job, WebhookDelivery
from callintel.worker import jobs
from callintel.worker.app import create_celery
from callintel.worker.context import WorkerContext, context_for
from callintel.worker.reconciler import reconcile_once


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> WorkerContext:
    settings = Settings(data_dir=tmp_path_factory.mktemp("worker"), worker=WorkerSettings(max_deliveries=3))
    run_migrations(settings.resolved_database_url())
    return context_for(create_celery(settings))


def _job(
    ctx: WorkerContext, *, deliveries: int = 0, callback: str | None = "http://127.0.0.1:9/h"
) -> tuple[str, str]:
    with transaction(ctx.sessions) as s:
        call = repo.create_call(
            s, repo.NewCall(tenant_id="acme", audio_key="acme/x/audio", callback_url=callback)
        )
        job = repo.create_job(s, call_id=call.id, deadline_s=60)
        job.deliveries = deliveries
        return call.id, job.id


def test_poison_job_ends_failed_worker_crashed_with_one_failed_event(ctx: WorkerContext) -> None:
    call_id, job_id = _job(ctx, deliveries=3)
    assert jobs.start_job(ctx, job_id=job_id, task_id="t-x") == "poisoned"
    assert jobs.start_job(ctx, job_id=job_id, task_id="t-y") == "finished"
    with ctx.sessions() as s:
        call, job = s.get(Call, call_id), s.get(Job, job_id)
        assert call is not None and job is not None
        assert (call.status, call.error_code, job.status) == ("failed", "worker_crashed", "failed")
        [(delivery, _)] = repo.list_deliveries(s, call_id=call_id)
        assert (
            delivery.event == "call.failed" and delivery.payload["data"]["error"]["code"] == "worker_crashed"
        )


def test_delivery_count_grows_until_the_guard_trips(ctx: WorkerContext) -> None:
    _, job_id = _job(ctx)
    outcomes = []
    for _ in range(4):  # the same task redelivered after each simulated crash
        outcomes.append(jobs.start_job(ctx, job_id=job_id, task_id="t-crash"))
    assert outcomes == ["claimed", "claimed", "claimed", "poisoned"]


def test_result_of_a_task_that_lost_the_job_is_discarded(ctx: WorkerContext) -> None:
    call_id, job_id = _job(ctx, callback=None)
    assert jobs.start_job(ctx, job_id=job_id, task_id="t-old") == "claimed"
    with transaction(ctx.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert repo.reassign_job(s, job=job, task_id="t-new", deadline_s=60)
    result = jobs.JobResult(document={"intent": {"label": "x"}}, raw_transcript=None, redacted_audio=b"RIFF")
    assert jobs.persist(ctx, job_id=job_id, task_id="t-old", result=result) is None
    assert jobs.persist(ctx, job_id=job_id, task_id="t-new", result=result) == []
    assert jobs.persist(ctx, job_id=job_id, task_id="t-new", result=result) is None  # already completed
    with ctx.sessions() as s:
        versions = [r.version for r in s.query(AnalysisRow).filter(AnalysisRow.call_id == call_id)]
        call = s.get(Call, call_id)
        assert versions == [1] and call is not None and call.status == "completed"
        assert call.redacted_audio_key is not None and ctx.blobs.get(call.redacted_audio_key) == b"RIFF"


def test_reconciler_resends_stuck_jobs_and_due_webhooks(ctx: WorkerContext) -> None:
    call_id, job_id = _job(ctx)
    assert jobs.start_job(ctx, job_id=job_id, task_id="t-dead") == "claimed"
    with transaction(ctx.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.deadline_at = datetime.now(UTC) - timedelta(seconds=5)
        repo.add_delivery(
            s,
            delivery_id=f"msg_{job_id}",
            tenant_id="acme",
            call_id=call_id,
            event="call.completed",
            url="http://127.0.0.1:9/h",
            payload={},
        )
        row = s.get(WebhookDelivery, f"msg_{job_id}")
        assert row is not None
        row.next_attempt_at = datetime.now(UTC) - timedelta(minutes=5)
    counts = reconcile_once(ctx)
    assert counts["jobs"] >= 1 and counts["webhooks"] >= 1
    with ctx.sessions() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.task_id != "t-dead" and job.deadline_at > datetime.now(UTC)
    assert jobs.start_job(ctx, job_id=job_id, task_id="t-dead") == "busy"  # the old message is ignored


def test_heartbeat_extends_the_deadline(ctx: WorkerContext) -> None:
    _, job_id = _job(ctx)
    jobs.start_job(ctx, job_id=job_id, task_id="t-hb")
    fast = WorkerContext(
        settings=ctx.settings.model_copy(update={"worker": WorkerSettings(job_deadline_s=3)}),
        sessions=ctx.sessions,
        blobs=ctx.blobs,
        celery=ctx.celery,
    )
    with ctx.sessions() as s:
        before = s.get(Job, job_id).deadline_at  # type: ignore[union-attr]
    with jobs.heartbeat(fast, job_id=job_id, task_id="t-hb"):
        time.sleep(1.6)
    with ctx.sessions() as s:
        after = s.get(Job, job_id).deadline_at  # type: ignore[union-attr]
    assert after < before  # 60 s lease replaced by a 3 s one, renewed during the sleep
    assert after > datetime.now(UTC)


# --- recording fetch over a real local server -------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        if self.path == "/slow":
            time.sleep(3)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"%x\r\n%s\r\n" % (1000, b"\0" * 1000))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, str]]:
    """The same handler on 127.0.0.1 and on 127.0.0.2 (an allow-listed 'internal' host)."""
    servers = [http.server.ThreadingHTTPServer((host, 0), _Handler) for host in ("127.0.0.1", "127.0.0.2")]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    loop, internal = (f"http://{s.server_address[0]}:{s.server_address[1]}" for s in servers)
    _Handler.routes.update(
        {
            "/a.wav": (200, {"Content-Type": "audio/wav"}, b"RIFF" + b"\0" * 100),
            "/page": (200, {"Content-Type": "text/html"}, b"<html>"),
            "/big": (200, {"Content-Type": "audio/wav"}, b"\0" * 5000),
            "/chunked": (200, {"Content-Type": "audio/wav"}, b""),
            "/gone": (404, {}, b""),
            "/boom": (503, {}, b""),
            "/slow": (200, {"Content-Type": "audio/wav"}, b"RIFF"),
            "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
            "/to-loopback": (302, {"Location": f"{loop}/a.wav"}, b""),
            "/to-internal": (302, {"Location": f"{internal}/a.wav"}, b""),
        }
    )
    yield loop, internal
    for srv in servers:
        srv.shutdown()


LIMITS = FetchLimits(max_bytes=4096, timeout_s=2.0)
LOOPBACK_ON = AddressPolicy.build(allow_private=True)
STRICT_WITH_INTERNAL = AddressPolicy.build(allow_private=False, allowed_networks=["127.0.0.2/32"])


def test_loopback_is_fetched_only_when_allowed(server: tuple[str, str]) -> None:
    loop, _ = server
    assert fetch_recording(f"{loop}/a.wav", limits=LIMITS, policy=LOOPBACK_ON).startswith(b"RIFF")
    with pytest.raises(FetchBlocked):
        fetch_recording(f"{loop}/a.wav", limits=LIMITS, policy=AddressPolicy())


def test_redirects_are_rechecked(server: tuple[str, str]) -> None:
    loop, internal = server
    with pytest.raises(FetchBlocked, match="metadata"):
        fetch_recording(f"{loop}/to-metadata", limits=LIMITS, policy=LOOPBACK_ON)
    assert fetch_recording(f"{internal}/a.wav", limits=LIMITS, policy=STRICT_WITH_INTERNAL).startswith(
        b"RIFF"
    )
    with pytest.raises(FetchBlocked, match="loopback"):
        fetch_recording(f"{internal}/to-loopback", limits=LIMITS, policy=STRICT_WITH_INTERNAL)
    assert fetch_recording(f"{loop}/to-internal", limits=LIMITS, policy=LOOPBACK_ON).startswith(b"RIFF")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/page", UnsupportedMediaType),
        ("/big", AudioTooLarge),
        ("/chunked", AudioTooLarge),
        ("/gone", FetchError),
        ("/boom", FetchTransient),
        ("/slow", FetchTransient),
    ],
)
def test_fetch_limits(server: tuple[str, str], path: str, error: type[Exception]) -> None:
    loop, _ = server
    started = time.monotonic()
    with pytest.raises(error):
        fetch_recording(
            f"{loop}{path}", limits=FetchLimits(max_bytes=4096, timeout_s=1.0), policy=LOOPBACK_ON
        )
    assert time.monotonic() - started < 5


def test_worker_download_refuses_private_urls(ctx: WorkerContext, tmp_path: Path) -> None:
    from callintel.worker.recording import download

    for url in (
        "http://10.0.0.1/a.wav",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:1/a.wav",
    ):
        call = Call(id="c", tenant_id="acme", recording_url=url, source="url")
        with pytest.raises(FetchBlocked):
            download(ctx, call)


def test_transient_errors_are_retried_then_fail_without_counting_as_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real task, run eagerly: a recording server answering 503 is tried 1 + N times."""
    from callintel.config import FetchSettings
    from callintel.worker import tasks
    from callintel.worker.app import ANALYZE_TASK

    class Busy(http.server.BaseHTTPRequestHandler):
        hits = 0

        def do_GET(self) -> None:
            type(self).hits += 1
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setattr(tasks, "MAX_TRANSIENT_RETRIES", 2)
    settings = Settings(data_dir=tmp_path, fetch=FetchSettings(allow_private=True))
    run_migrations(settings.resolved_database_url())
    app = create_celery(settings)
    app.conf.task_always_eager = True
    ctx = context_for(app)
    url = f"http://127.0.0.1:{srv.server_address[1]}/a.wav"
    with transaction(ctx.sessions) as s:
        call = repo.create_call(s, repo.NewCall(tenant_id="acme", recording_url=url, source="url"))
        job = repo.create_job(s, call_id=call.id, deadline_s=60)
        call_id, job_id, task_id = call.id, job.id, job.task_id
    app.tasks[ANALYZE_TASK].apply(args=[call_id, job_id], task_id=task_id)
    srv.shutdown()
    with ctx.sessions() as s:
        call_row, job_row = s.get(Call, call_id), s.get(Job, job_id)
        assert call_row is not None and job_row is not None
        assert (call_row.status, call_row.error_code) == ("failed", "fetch_transient")
        assert (job_row.attempts, job_row.deliveries, Busy.hits) == (2, 1, 3)


def test_duplicate_message_never_poisons_a_job_a_live_worker_runs(ctx: WorkerContext) -> None:
    _, job_id = _job(ctx)
    for _ in range(3):
        assert jobs.start_job(ctx, job_id=job_id, task_id="t-live") == "claimed"
    assert jobs.start_job(ctx, job_id=job_id, task_id="t-duplicate") == "busy"
    with ctx.sessions() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "processing" and job.deliveries == 3
