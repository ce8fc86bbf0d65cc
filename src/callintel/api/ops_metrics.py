"""Prometheus metrics computed from the database and the broker at scrape time.

The database is the source of truth shared by every API and worker process, so any API replica
reports the same numbers. Labels are bounded sets (status, stage, queue, outcome): never call ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from callintel.api.deps import AppState
from callintel.storage import repo
from callintel.worker.app import ANALYSIS_QUEUE, WEBHOOK_QUEUE, queue_depth

log = logging.getLogger(__name__)


class DatabaseCollector:
    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        with self.state.sessions() as session:
            jobs = GaugeMetricFamily("callintel_jobs", "Jobs by status.", labels=["status"])
            for status, count in repo.count_jobs_by_status(session).items():
                jobs.add_metric([status], count)
            yield jobs
            hooks = GaugeMetricFamily(
                "callintel_webhook_attempts", "Webhook delivery attempts by outcome.", labels=["outcome"]
            )
            for outcome, count in repo.count_webhook_outcomes(session).items():
                hooks.add_metric([outcome], count)
            yield hooks
            stages = SummaryMetricFamily(
                "callintel_stage_duration_seconds",
                "Seconds per job stage over the most recent finished jobs.",
                labels=["stage"],
            )
            for stage, values in repo.recent_stage_timings(session).items():
                stages.add_metric([stage], count_value=len(values), sum_value=sum(values))
            yield stages
        depth = GaugeMetricFamily(
            "callintel_queue_depth", "Messages waiting in the broker.", labels=["queue"]
        )
        for queue in (ANALYSIS_QUEUE, WEBHOOK_QUEUE):
            try:
                depth.add_metric([queue], queue_depth(self.state.celery, queue))
            except Exception as exc:  # a scrape reports what it can
                log.warning("queue depth unavailable: %s", exc)
        yield depth


def render_metrics(state: AppState) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(state))
    return generate_latest(registry), CONTENT_TYPE_LATEST
