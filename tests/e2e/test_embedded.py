"""Embedded mode: ``callintel serve`` with no database, broker or other service configured runs
migrations on SQLite, prints a bootstrap admin key, runs a real worker subprocess on the SQLite
broker, and completes one call. Stopping ``serve`` stops its worker too."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import ROOT, settings_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_serve_runs_api_and_worker_with_no_services(tmp_path: Path, fixtures_dir: Path) -> None:
    port = _free_port()
    env = settings_env(
        {
            "CALLINTEL_DATA_DIR": str(tmp_path / "var"),
            "CALLINTEL_MODELS__CACHE_DIR": str(ROOT / ".cache" / "models"),
        },
        home=tmp_path,
    )
    out = (tmp_path / "serve.out").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "callintel.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        key = wait_for(lambda: _key(tmp_path / "serve.out"), timeout=120, what="bootstrap key")
        wait_for(lambda: _ready(base), timeout=60, what="API ready")
        worker_pids = wait_for(lambda: _children(proc.pid), timeout=30, what="worker subprocess")
        assert (tmp_path / "var" / "callintel.db").is_file()  # SQLite, migrated by serve
        wav = (fixtures_dir / "audio" / "stereo_16k.wav").read_bytes()
        headers = {"X-API-Key": key}
        accepted = httpx.post(
            f"{base}/v1/calls", files={"file": ("c.wav", wav, "audio/wav")}, headers=headers
        )
        assert accepted.status_code == 202, accepted.text
        status_url = base + accepted.json()["status_url"]

        def done() -> dict[str, Any] | None:
            body: dict[str, Any] = httpx.get(status_url, headers=headers).json()
            return body if body["status"] in ("completed", "failed") else None

        body = wait_for(done, timeout=600, interval=2, what="embedded analysis")
        assert body["status"] == "completed", (body, (tmp_path / "serve.out").read_text()[-4000:])
        assert body["analysis"]["transcript"]["turns"] and body["intent"]
        assert (tmp_path / "var" / "broker.db").is_file()  # the job went through the SQLite broker
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    for pid in worker_pids:
        wait_for(
            lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=30, what="worker exit"
        )


def _key(path: Path) -> str | None:
    match = re.search(r"^(ci_\S+)$", path.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
