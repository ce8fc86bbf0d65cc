"""The database is the source of truth: re-send jobs stuck past their deadline and webhook
deliveries whose retry time has passed, so that no job or event silently vanishes.

Every worker runs it in a daemon thread of its main process (started when the worker is ready);
several reconcilers are safe because re-sending is guarded by compare-and-set on the job row and
by the claim in the task.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from callintel.storage import repo
from callintel.storage.db import transaction
from callintel.storage.models import utcnow
from callintel.worker.app import send_analysis, send_webhook
from callintel.worker.context import WorkerContext, context_for, reset_contexts

log = logging.getLogger(__name__)
WEBHOOK_SLACK_S = 30


def reconcile_once(ctx: WorkerContext) -> dict[str, int]:
    """One pass; returns how many jobs and webhook deliveries were re-sent."""
    resend: list[tuple[str, str, str]] = []
    with transaction(ctx.sessions) as session:
        for job in repo.stuck_jobs(session, now=utcnow()):
            task_id = uuid.uuid4().hex
            if repo.reassign_job(
                session, job=job, task_id=task_id, deadline_s=ctx.settings.worker.job_deadline_s
            ):
                resend.append((job.call_id, job.id, task_id))
        due = repo.due_deliveries(session, now=utcnow() - timedelta(seconds=WEBHOOK_SLACK_S))
    for call_id, job_id, task_id in resend:
        log.warning("re-enqueueing stuck job %s", job_id, extra={"call_id": call_id})
        send_analysis(ctx.celery, call_id=call_id, job_id=job_id, task_id=task_id)
    for delivery_id in due:
        send_webhook(ctx.celery, delivery_id=delivery_id)
    return {"jobs": len(resend), "webhooks": len(due)}


class Reconciler:
    """Runs ``reconcile_once`` every ``interval_s`` seconds until stopped."""

    def __init__(self, ctx: WorkerContext, *, interval_s: float) -> None:
        self.ctx, self.interval_s = ctx, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callintel-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                counts = reconcile_once(self.ctx)
                if any(counts.values()):
                    log.info("reconciler re-sent %s", counts)
            except Exception:
                log.exception("reconciler pass failed")
            self._stop.wait(self.interval_s)


_RUNNING: dict[int, Reconciler] = {}


def install_signals(app: Celery) -> None:
    """Start the reconciler when this app's worker is ready; fresh DB pools in forked children."""

    def on_ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app or id(app) in _RUNNING:
            return
        ctx = context_for(app)
        _RUNNING[id(app)] = Reconciler(ctx, interval_s=ctx.settings.worker.reconcile_interval_s)
        _RUNNING[id(app)].start()

    def on_shutdown(**_: Any) -> None:
        running = _RUNNING.pop(id(app), None)
        if running is not None:
            running.stop()

    def on_child(**_: Any) -> None:
        reset_contexts()

    worker_ready.connect(on_ready, weak=False)
    worker_shutdown.connect(on_shutdown, weak=False)
    worker_process_init.connect(on_child, weak=False)
