"""Thin, idempotent Celery tasks. The job's state lives in the database, never in the message.

``analyze_call_task(call_id, job_id)``: claim → analyse → persist → send webhooks. A completed job
delivered again does nothing; a job delivered ``worker.max_deliveries`` times without finishing
ends ``failed`` / ``worker_crashed``; only transient errors are retried, with backoff.
``deliver_webhook_task(delivery_id)``: one signed attempt; failures are retried with backoff.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task

from callintel.errors import CallintelError
from callintel.logs import log_context
from callintel.storage import repo
from callintel.storage.db import transaction
from callintel.storage.models import utcnow
from callintel.worker import jobs, webhooks
from callintel.worker.app import ANALYZE_TASK, WEBHOOK_TASK, send_webhook
from callintel.worker.context import context_for

log = logging.getLogger(__name__)
MAX_TRANSIENT_RETRIES = 5


def analyze_call_task(self: Task, call_id: str, job_id: str) -> str:
    ctx = context_for(self.app)
    task_id = str(self.request.id)
    with log_context(call_id=call_id, task_id=task_id):
        outcome = jobs.start_job(ctx, job_id=job_id, task_id=task_id)
        log.info("job %s: %s (delivery)", job_id, outcome)
        if outcome != "claimed":
            return outcome
        try:
            with ctx.sessions() as session:
                call = repo.get_call_by_id(session, call_id)
            if call is None:
                return "missing"
            with jobs.heartbeat(ctx, job_id=job_id, task_id=task_id):
                result = jobs.run_analysis(ctx, call)
        except CallintelError as exc:
            return _failed(self, ctx, job_id=job_id, task_id=task_id, exc=exc)
        except Exception as exc:
            log.exception("job %s crashed", job_id)
            return _failed(self, ctx, job_id=job_id, task_id=task_id, exc=exc)
        hooks = jobs.persist(ctx, job_id=job_id, task_id=task_id, result=result)
        jobs.enqueue_webhooks(ctx, hooks or [])
        log.info("job %s completed", job_id, extra={"timings": result.timings})
        return "completed" if hooks is not None else "discarded"


def _failed(self: Task, ctx: Any, *, job_id: str, task_id: str, exc: Exception) -> str:
    transient = isinstance(exc, CallintelError) and exc.transient
    if transient and self.request.retries < MAX_TRANSIENT_RETRIES:
        with transaction(ctx.sessions) as session:
            repo.release_job_for_retry(session, job_id=job_id, task_id=task_id, error=str(exc))
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries))
    code = exc.code if isinstance(exc, CallintelError) else "internal_error"
    message = exc.message if isinstance(exc, CallintelError) else f"{type(exc).__name__}: {exc}"
    with transaction(ctx.sessions) as session:
        hooks = jobs.fail_job(ctx, session, job_id=job_id, code=code, message=message)
    jobs.enqueue_webhooks(ctx, hooks)
    log.warning("job %s failed: %s", job_id, code)
    return "failed"


def deliver_webhook_task(self: Task, delivery_id: str) -> str:
    ctx = context_for(self.app)
    hook = ctx.settings.webhooks
    with log_context(task_id=str(self.request.id)), transaction(ctx.sessions) as session:
        delivery = repo.claim_delivery(session, delivery_id=delivery_id, lease_s=hook.timeout_s + 30)
        if delivery is None:
            return "skipped"
        url, payload, attempts = delivery.url, delivery.payload, delivery.attempts
    with log_context(call_id=delivery.call_id, task_id=str(self.request.id)):
        record = webhooks.send_once(
            url=url, msg_id=delivery_id, payload=payload, settings=hook, policy=ctx.policy
        )
        retry_at = webhooks.next_retry(hook, attempts=attempts, outcome=record.outcome)
        with transaction(ctx.sessions) as session:
            row = repo.get_delivery(session, delivery_id)
            if row is not None:
                repo.record_attempt(session, delivery=row, attempt=record, retry_at=retry_at)
        if retry_at is not None:
            countdown = max(0.0, (retry_at - utcnow()).total_seconds())
            send_webhook(ctx.celery, delivery_id=delivery_id, countdown=countdown)
        log.info("webhook %s attempt %d: %s", delivery.event, attempts, record.outcome)
        return record.outcome


def register(app: Celery) -> None:
    """Register the tasks on ``app`` and the per-process hooks (fresh DB pool after fork, reconciler)."""
    app.task(name=ANALYZE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)(analyze_call_task)
    app.task(name=WEBHOOK_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)(deliver_webhook_task)
    from callintel.worker.reconciler import install_signals

    install_signals(app)
