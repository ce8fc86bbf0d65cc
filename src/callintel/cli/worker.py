"""``callintel worker``: a Celery worker for analysis and webhook jobs (scale out by running more)."""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from callintel.config import get_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a job worker",
        description="Run a Celery worker on the configured broker (embedded SQLite broker by default).",
    )
    parser.add_argument("--concurrency", type=int, default=None, help="worker processes (default: settings)")
    parser.add_argument("--queues", default="analysis,webhooks", help="queues to consume (default: both)")
    parser.add_argument("--name", default=None, help="worker node name (default: callintel-<pid>@<host>)")
    parser.add_argument("--no-migrate", action="store_true", help="do not run database migrations first")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from callintel.logs import configure_logging
    from callintel.storage.migrations import run_migrations
    from callintel.worker.app import create_celery

    settings = get_settings()
    configure_logging(json_lines=settings.log_json, level=settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not args.no_migrate:
        run_migrations(settings.resolved_database_url())
    app = create_celery(settings)
    name = args.name or f"callintel-{os.getpid()}@{socket.gethostname()}"
    argv = [
        "worker",
        f"--concurrency={args.concurrency or settings.worker.concurrency}",
        f"--queues={args.queues}",
        f"--hostname={name}",
        f"--loglevel={settings.log_level}",
        "--without-gossip",
        "--without-mingle",
        "--pool=prefork",
    ]
    app.worker_main(argv)
    return 0
