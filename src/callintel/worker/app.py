"""The Celery application. ``create_celery(settings)`` is used by workers and, as a client, by the API.

Redis is the production broker; with no broker configured the embedded ``sqla+sqlite`` broker
keeps everything on one machine. Jobs are acknowledged late and rejected when a worker dies, so a
killed worker's job is delivered again; the database stays the source of truth (see reconciler).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Queue

from callintel.config import Settings

ANALYSIS_QUEUE = "analysis"
WEBHOOK_QUEUE = "webhooks"
ANALYZE_TASK = "callintel.analyze_call"
WEBHOOK_TASK = "callintel.deliver_webhook"


def _transport_options(settings: Settings) -> dict[str, Any]:
    """Redis gets the visibility timeout and key prefix; the embedded SQL broker takes neither."""
    if not settings.resolved_broker_url().startswith(("redis", "rediss")):
        return {}
    options: dict[str, Any] = {"visibility_timeout": settings.worker.visibility_timeout_s}
    if settings.worker.queue_prefix:
        options["global_keyprefix"] = settings.worker.queue_prefix
    return options


def create_celery(settings: Settings, *, register_tasks: bool = True) -> Celery:
    """A Celery app for these settings (tasks registered unless only a client is needed)."""
    app = Celery("callintel", broker=settings.resolved_broker_url(), set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_acks_on_failure_or_timeout=True,
        broker_transport_options=_transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_queues=(Queue(ANALYSIS_QUEUE), Queue(WEBHOOK_QUEUE)),  # type: ignore[no-untyped-call]
        task_default_queue=ANALYSIS_QUEUE,
        task_routes={ANALYZE_TASK: {"queue": ANALYSIS_QUEUE}, WEBHOOK_TASK: {"queue": WEBHOOK_QUEUE}},
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    app.callintel_settings = settings
    if register_tasks:
        from callintel.worker.tasks import register

        register(app)
    return app


def send_analysis(app: Celery, *, call_id: str, job_id: str, task_id: str) -> None:
    """Enqueue one analysis job (the task id is stored on the job row first)."""
    app.send_task(ANALYZE_TASK, args=[call_id, job_id], task_id=task_id, queue=ANALYSIS_QUEUE)


def send_webhook(app: Celery, *, delivery_id: str, countdown: float = 0.0) -> None:
    app.send_task(WEBHOOK_TASK, args=[delivery_id], queue=WEBHOOK_QUEUE, countdown=countdown or None)


def queue_depth(app: Celery, queue: str) -> int:
    """Messages waiting in ``queue`` (Redis list length, or rows in the embedded broker)."""
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        return int(declared.message_count)
