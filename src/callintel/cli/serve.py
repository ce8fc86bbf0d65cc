"""``callintel serve``: the HTTP API. In embedded mode (no broker configured) it also runs a real
Celery worker subprocess on the SQLite broker, so one command needs no other services.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

from callintel.config import Settings, get_settings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the API (and, embedded, a worker)",
        description="Run the HTTP API. With no broker configured a worker subprocess runs alongside.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    worker = parser.add_mutually_exclusive_group()
    worker.add_argument(
        "--worker",
        dest="worker",
        action="store_true",
        default=None,
        help="also run a worker subprocess (default: only in embedded mode)",
    )
    worker.add_argument("--no-worker", dest="worker", action="store_false", help="API only")
    parser.set_defaults(func=run)


def bootstrap_key(settings: Settings) -> str | None:
    """On the very first start (no keys at all), create an admin key for the default tenant."""
    from callintel.storage import repo
    from callintel.storage.db import make_engine, make_session_factory, transaction

    if settings.security.bootstrap_admin_key is not None:
        return None
    engine = make_engine(settings.resolved_database_url())
    try:
        with transaction(make_session_factory(engine)) as session:
            if repo.count_keys(session):
                return None
            return repo.create_api_key(
                session, tenant_id=repo.DEFAULT_TENANT, scopes=repo.SCOPES, name="bootstrap"
            ).key
    finally:
        engine.dispose()


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM if ``serve`` dies, even by SIGKILL (no orphaned workers)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class WorkerSupervisor:
    """Keeps one worker child process (same environment, so same settings) running until stopped."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self.proc = self._spawn()
        self._thread.start()

    @staticmethod
    def _spawn() -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "callintel.cli", "worker", "--no-migrate"]
        return subprocess.Popen(cmd, env=os.environ.copy(), preexec_fn=_die_with_parent)

    def _watch(self) -> None:
        while not self._stopping.wait(2.0):
            if self.proc is not None and self.proc.poll() is not None:
                log.warning("worker exited with %s; restarting it", self.proc.returncode)
                self.proc = self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """Uvicorn re-raises SIGTERM/SIGINT after shutting down, which would skip stopping the
        worker; this server just returns."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from callintel.api.app import create_app
    from callintel.logs import configure_logging
    from callintel.storage.migrations import run_migrations

    settings = get_settings()
    configure_logging(json_lines=settings.log_json, level=settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migrations(settings.resolved_database_url())
    key = bootstrap_key(settings)
    if key:
        print(f"Admin API key for tenant 'default' (shown once, store it now):\n{key}", flush=True)
    with_worker = settings.embedded if args.worker is None else args.worker
    worker = WorkerSupervisor() if with_worker else None
    if worker is not None:
        worker.start()
    try:
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            log_config=None,
            proxy_headers=True,
            timeout_graceful_shutdown=10,
        )
    finally:
        if worker is not None:
            worker.stop()
    return 0
