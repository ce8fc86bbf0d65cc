"""Helpers for the service end-to-end tests: worker processes, a webhook receiver, a recording server."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], T | None], *, timeout: float, interval: float = 0.5, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or check}")


def settings_env(values: dict[str, str], *, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLINTEL_")}
    env.update(values)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    env["PYTHONPATH"] = str(ROOT / "src")
    env["HOME"] = str(home)
    return env


class WorkerProcess:
    """``callintel worker`` as a real process (prefork pool: a main process and one child)."""

    def __init__(self, env: dict[str, str], *, cwd: Path, name: str) -> None:
        self.log_path = cwd / f"{name}.log"
        self.env, self.cwd, self.name = env, cwd, name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, ready_timeout: float = 120) -> WorkerProcess:
        log = self.log_path.open("ab")
        cmd = [
            sys.executable,
            "-m",
            "callintel.cli",
            "worker",
            "--concurrency=1",
            "--no-migrate",
            f"--name={self.name}@e2e",
        ]
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        wait_for(
            lambda: self.proc is not None and (" ready." in self.log() or self.proc.poll() is not None),
            timeout=ready_timeout,
            what=f"worker {self.name} ready",
        )
        assert self.proc.poll() is None, self.log()[-3000:]
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def kill_all(self) -> None:
        """SIGKILL the main process and its pool children: nothing gets to clean up."""
        assert self.proc is not None
        children = self.children()
        os.kill(self.proc.pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        children = self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Receiver(http.server.BaseHTTPRequestHandler):
    """Collects webhook POSTs: (headers, raw body)."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass

    @classmethod
    def events(cls, call_id: str, event: str | None = None) -> list[tuple[dict[str, str], bytes]]:
        with cls.lock:
            items = list(cls.received)
        out = []
        for headers, body in items:
            doc: dict[str, Any] = json.loads(body)
            if doc["data"]["call_id"] == call_id and (event is None or doc["type"] == event):
                out.append((headers, body))
        return out


class Recordings(http.server.BaseHTTPRequestHandler):
    """Serves recordings and redirects for URL ingestion."""

    files: ClassVar[dict[str, bytes]] = {}
    redirects: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type[http.server.BaseHTTPRequestHandler], host: str) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
