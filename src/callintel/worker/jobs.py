"""The steps of one analysis job, kept out of the Celery task so each stays short and testable.

The database decides: a job runs only after ``claim_job`` succeeds, and its result is stored only
if the job still belongs to the same task (``job_is_mine``), all in one transaction. Webhook rows
are written in that same transaction and sent after it commits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session

from callintel.domain import ChannelMap, to_jsonable
from callintel.errors import NotFound
from callintel.storage import repo
from callintel.storage.db import transaction
from callintel.storage.models import Call, Job, utcnow
from callintel.worker import webhooks
from callintel.worker.app import send_webhook
from callintel.worker.context import WorkerContext

log = logging.getLogger(__name__)
StartOutcome = Literal["claimed", "finished", "busy", "poisoned", "missing"]


def start_job(ctx: WorkerContext, *, job_id: str, task_id: str) -> StartOutcome:
    """Claim the job, or fail it as ``worker_crashed`` when it was delivered too often."""
    hooks: list[str] = []
    with transaction(ctx.sessions) as session:
        job = repo.get_job(session, job_id)
        if job is None:
            return "missing"
        if job.status in ("completed", "failed"):
            return "finished"
        if _held_by_live_task(job, task_id=task_id):
            return "busy"  # a duplicate message while another worker runs the job: leave it be
        if job.deliveries >= ctx.settings.worker.max_deliveries:
            message = f"job was delivered {job.deliveries} times without finishing"
            hooks = fail_job(ctx, session, job_id=job_id, code="worker_crashed", message=message)
            outcome: StartOutcome = "poisoned"
        else:
            deadline = ctx.settings.worker.job_deadline_s
            claimed = repo.claim_job(session, job_id=job_id, task_id=task_id, deadline_s=deadline)
            if claimed:
                _set_call_status(session, job.call_id, "processing")
            outcome = "claimed" if claimed else "busy"
    enqueue_webhooks(ctx, hooks)
    return outcome


def _held_by_live_task(job: Job, *, task_id: str) -> bool:
    live = job.deadline_at is not None and job.deadline_at > utcnow()
    return job.status == "processing" and job.task_id != task_id and live


def _set_call_status(session: Session, call_id: str, status: str) -> None:
    call = repo.get_call_by_id(session, call_id)
    if call is not None and call.status != status:
        call.status = status


def enqueue_webhooks(ctx: WorkerContext, delivery_ids: list[str]) -> None:
    """Send after commit; a lost send is picked up by the reconciler (the row stays pending)."""
    for delivery_id in delivery_ids:
        try:
            send_webhook(ctx.celery, delivery_id=delivery_id)
        except Exception:
            log.exception("could not enqueue webhook %s; the reconciler will", delivery_id)


def fail_job(ctx: WorkerContext, session: Session, *, job_id: str, code: str, message: str) -> list[str]:
    """Mark the job and its call failed; returns the ``call.failed`` delivery to send."""
    job = repo.get_job(session, job_id)
    if job is None or job.status in ("completed", "failed"):
        return []
    job.status, job.last_error, job.finished_at = "failed", f"{code}: {message}"[:2000], utcnow()
    call = repo.get_call_by_id(session, job.call_id)
    if call is None:
        return []
    call.status, call.error_code, call.error_message = "failed", code, message[:2000]
    return _add_hooks(session, call=call, job_id=job_id, events=[webhooks.failed_event(call)])


@contextmanager
def heartbeat(ctx: WorkerContext, *, job_id: str, task_id: str) -> Iterator[None]:
    """Extend the job's deadline every third of ``job_deadline_s`` while it runs, so only a dead
    worker's job ever looks stuck to the reconciler."""
    deadline_s = ctx.settings.worker.job_deadline_s
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(deadline_s / 3):
            try:
                with transaction(ctx.sessions) as session:
                    repo.extend_job(session, job_id=job_id, task_id=task_id, deadline_s=deadline_s)
            except Exception:
                log.exception("heartbeat failed for job %s", job_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@dataclass
class JobResult:
    document: dict[str, Any]
    raw_transcript: dict[str, Any] | None
    redacted_audio: bytes | None
    timings: dict[str, float] = field(default_factory=dict)


def load_audio(ctx: WorkerContext, call: Call) -> bytes:
    """The stored recording, fetching it first (once) when the call came as a URL."""
    if call.audio_key:
        return ctx.blobs.get(call.audio_key)
    if not call.recording_url:
        raise NotFound("call has neither audio nor a recording URL", call_id=call.id)
    from callintel.worker.recording import download

    data = download(ctx, call)
    key = f"{call.tenant_id}/{call.id}/audio"
    ctx.blobs.put(key, data)
    with transaction(ctx.sessions) as session:
        row = repo.get_call_by_id(session, call.id)
        if row is not None:
            row.audio_key, row.audio_bytes = key, len(data)
    return data


def run_analysis(ctx: WorkerContext, call: Call) -> JobResult:
    """Fetch (if needed) and analyse; returns JSON-ready documents and stage timings."""
    from callintel.pipeline import AnalyzeOptions, analyze_call

    started = time.perf_counter()
    data = load_audio(ctx, call)
    timings = {"load": time.perf_counter() - started}
    if ctx.settings.worker.debug_delay_s:
        time.sleep(ctx.settings.worker.debug_delay_s)
    started = time.perf_counter()
    options = AnalyzeOptions(
        call_id=call.id,
        channel_map=ChannelMap.parse(call.channel_map),
        asr_model=call.asr_model,
        language=call.language,
        customer_id=call.customer_id,
    )
    kb = ctx.knowledge_base().searcher(call.tenant_id, min_score=ctx.settings.live.kb_min_score)
    result = analyze_call(
        data,
        analyzers=ctx.analyzers(),
        options=options,
        kb=kb,
        contacts=lambda customer: prior_contacts(ctx, call, customer),
    )
    timings["analyze"] = time.perf_counter() - started
    raw = to_jsonable(result.raw_transcript) if ctx.settings.privacy.keep_raw_transcript else None
    return JobResult(result.analysis.to_dict(), raw, result.redacted_audio, timings)


def prior_contacts(ctx: WorkerContext, call: Call, customer_id: str) -> int:
    # The policy (tenant-editable YAML) owns the window; settings only seed the default policy.
    days = ctx.analyzers().policy.repeat_contact.days
    with ctx.sessions() as session:
        return repo.count_recent_contacts(
            session, tenant_id=call.tenant_id, customer_id=customer_id, days=days, exclude_call=call.id
        )


def persist(ctx: WorkerContext, *, job_id: str, task_id: str, result: JobResult) -> list[str] | None:
    """Store the analysis, the call's summary columns and the webhook rows in one transaction.

    Returns the deliveries to send, or None when the job is no longer ours (result discarded)."""
    started = time.perf_counter()
    redacted_key = f"redacted/{job_id}.wav"
    with transaction(ctx.sessions) as session:
        job = repo.job_is_mine(session, job_id=job_id, task_id=task_id)
        call = repo.get_call_by_id(session, job.call_id, lock=True) if job else None
        if job is None or call is None:
            return None
        key = f"{call.tenant_id}/{call.id}/{redacted_key}" if result.redacted_audio else None
        if key and result.redacted_audio:
            ctx.blobs.put(key, result.redacted_audio, content_type="audio/wav")
        old_key = call.redacted_audio_key
        repo.store_analysis(
            session,
            call=call,
            job=job,
            document=result.document,
            raw_transcript=result.raw_transcript,
            redacted_audio_key=key,
        )
        job.timings = {**result.timings, "persist": time.perf_counter() - started}
        hooks = _completion_hooks(session, call=call, job_id=job_id, document=result.document)
    if old_key and old_key != key:
        ctx.blobs.delete(old_key)
    return hooks


def _completion_hooks(session: Session, *, call: Call, job_id: str, document: dict[str, Any]) -> list[str]:
    return _add_hooks(session, call=call, job_id=job_id, events=webhooks.completed_events(call, document))


def _add_hooks(
    session: Session, *, call: Call, job_id: str, events: Iterable[tuple[str, dict[str, Any]]]
) -> list[str]:
    """One delivery row per event; the id derives from job and event, so a retry adds none."""
    if not call.callback_url:
        return []
    return [
        repo.add_delivery(
            session, delivery_id=webhooks.delivery_id(job_id, event), tenant_id=call.tenant_id,
            call_id=call.id, event=event, url=call.callback_url, payload=payload,
        ).id
        for event, payload in events
    ]
