"""Live-assist benchmark: N concurrent simulated agent sessions over the real API.

Starts the real service (``uvicorn`` on 127.0.0.1, a fresh SQLite database in a temporary folder,
the real Redis for session state), warms it up (models, starter KB), then runs ``--sessions``
agents at once. Each opens a WebSocket ``/v1/live``, replays scripted calls
(``bench/data/live_calls.jsonl``) one utterance at a time with ``--pace`` seconds (jittered)
between utterances, and measures the time from sending an utterance to receiving its suggestions.
Prints p50/p95/p99 of that latency (client side, and the server's own processing time),
utterances per second, errors, and the time to end a session (full post-call analysis and storage,
reported separately). Bounded: it stops after ``--calls`` calls per session or ``--timeout``
seconds, whichever comes first, and always stops the server.

    python bench/live.py                               # 20 sessions, 2 calls each, 1 s pace
    python bench/live.py --sessions 5 --calls 1        # quick
    python bench/live.py --pace 0                      # saturate: as fast as answers come back
    python bench/live.py --transport rest              # POST /v1/live/{id}/utterances instead

The server runs with ``OMP_NUM_THREADS=1`` (recommended for API processes: one model thread per
request keeps tail latency low when many sessions share 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "bench" / "data" / "live_calls.jsonl"
TARGET_P95_MS = 150.0


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    end_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    port: int, *, data_dir: Path, redis_url: str, key: str, threads: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CALLINTEL_DATA_DIR": str(data_dir),
        "CALLINTEL_REDIS_URL": redis_url,
        "CALLINTEL_SECURITY__BOOTSTRAP_ADMIN_KEY": key,
        "CALLINTEL_MODELS__CACHE_DIR": str(ROOT / ".cache" / "models"),
        "CALLINTEL_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "callintel.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    log = (data_dir / "server.log").open("wb")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def wait_ready(base: str, proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("server did not become ready")


def warm_up(base: str, key: str) -> float:
    """Load the models and the starter KB before anything is timed."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        sid = client.post("/v1/live/sessions", json={}).raise_for_status().json()["session_id"]
        for text in ("I was charged twice this month.", "Okay thanks."):
            client.post(
                f"/v1/live/{sid}/utterances", json={"speaker": "customer", "text": text}
            ).raise_for_status()
        client.post(f"/v1/live/{sid}/end").raise_for_status()
    return time.perf_counter() - started


async def ws_session(
    base: str, key: str, calls: list[dict[str, Any]], *, pace: float, rng: random.Random, results: Results
) -> None:
    import websockets

    url = base.replace("http://", "ws://") + f"/v1/live?token={key}"
    for call in calls:
        async with websockets.connect(url, max_size=2**24) as ws:
            await ws.send(json.dumps({"type": "start", "call_ref": call["name"]}))
            json.loads(await ws.recv())
            for i, turn in enumerate(call["turns"]):
                if pace:
                    await asyncio.sleep(pace * rng.uniform(0.5, 1.5))
                started = time.perf_counter()
                await ws.send(
                    json.dumps(
                        {"type": "utterance", "speaker": turn["speaker"], "text": turn["text"], "ts": 4.0 * i}
                    )
                )
                reply = json.loads(await ws.recv())
                _record(results, reply, started)
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "end"}))
            ended = json.loads(await ws.recv())
            if ended.get("type") != "ended":
                results.errors.append(str(ended)[:200])
            results.end_ms.append((time.perf_counter() - started) * 1000.0)


async def rest_session(
    base: str, key: str, calls: list[dict[str, Any]], *, pace: float, rng: random.Random, results: Results
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        for call in calls:
            sid = (await client.post("/v1/live/sessions", json={"call_ref": call["name"]})).json()[
                "session_id"
            ]
            for i, turn in enumerate(call["turns"]):
                if pace:
                    await asyncio.sleep(pace * rng.uniform(0.5, 1.5))
                started = time.perf_counter()
                r = await client.post(f"/v1/live/{sid}/utterances", json={**turn, "ts": 4.0 * i})
                _record(
                    results,
                    r.json() if r.status_code == 200 else {"type": "error", "status": r.status_code},
                    started,
                )
            started = time.perf_counter()
            r = await client.post(f"/v1/live/{sid}/end")
            if r.status_code != 200:
                results.errors.append(r.text[:200])
            results.end_ms.append((time.perf_counter() - started) * 1000.0)


def _record(results: Results, reply: dict[str, Any], started: float) -> None:
    elapsed = (time.perf_counter() - started) * 1000.0
    if reply.get("type") == "error" or "latency_ms" not in reply:
        results.errors.append(str(reply)[:200])
        return
    results.latencies_ms.append(elapsed)
    results.server_ms.append(float(reply["latency_ms"]))
    results.warnings += bool((reply.get("escalation") or {}).get("warning"))


async def run_all(args: argparse.Namespace, base: str, key: str) -> tuple[Results, float]:
    pool = [json.loads(line) for line in CALLS.read_text().splitlines() if line.strip()]
    results = Results()
    runner = ws_session if args.transport == "ws" else rest_session
    tasks = []
    for n in range(args.sessions):
        rng = random.Random(n)
        calls = [pool[(n + i) % len(pool)] for i in range(args.calls)]
        tasks.append(asyncio.create_task(runner(base, key, calls, pace=args.pace, rng=rng, results=results)))
    started = time.perf_counter()
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            results.errors.append(repr(task.exception())[:200])
    if pending:
        results.errors.append(f"{len(pending)} sessions still running at the {args.timeout:.0f} s limit")
    return results, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def report(args: argparse.Namespace, results: Results, wall: float, warm: float) -> int:
    lat, srv = results.latencies_ms, results.server_ms
    print(
        f"\nlive assist: {args.sessions} concurrent sessions over {args.transport}, {args.calls} calls each, "
        f"pace {args.pace:.2f} s (jitter x0.5-1.5), server OMP_NUM_THREADS={args.threads}"
    )
    print(
        f"warm-up (models + starter KB): {warm:.1f} s; load average now {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    print(
        f"utterances: {len(lat)} in {wall:.1f} s = {len(lat) / wall:.1f} utterances/s; "
        f"errors: {len(results.errors)}; escalation warnings shown: {results.warnings}"
    )
    print(
        f"utterance -> suggestions, client (ms): p50 {pct(lat, 50):.1f}  p95 {pct(lat, 95):.1f}  "
        f"p99 {pct(lat, 99):.1f}  max {max(lat, default=float('nan')):.1f}"
    )
    print(
        f"server processing (ms):             p50 {pct(srv, 50):.1f}  p95 {pct(srv, 95):.1f}  "
        f"p99 {pct(srv, 99):.1f}"
    )
    print(
        f"end session (full analysis + store, ms): p50 {pct(results.end_ms, 50):.0f}  "
        f"p95 {pct(results.end_ms, 95):.0f}"
    )
    for err in results.errors[:5]:
        print("  error:", err)
    ok = pct(lat, 95) < TARGET_P95_MS
    print(f"target p95 < {TARGET_P95_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    return 0 if not results.errors else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2, help="scripted calls replayed per session")
    parser.add_argument("--pace", type=float, default=1.0, help="mean seconds between utterances per session")
    parser.add_argument("--transport", choices=["ws", "rest"], default="ws")
    parser.add_argument(
        "--redis", default=os.environ.get("CALLINTEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the server")
    parser.add_argument("--timeout", type=float, default=600.0, help="hard limit for the timed run (s)")
    args = parser.parse_args(argv)
    key = "bench_" + secrets.token_hex(16)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="callintel-live-bench-") as tmp:
        proc = start_server(port, data_dir=Path(tmp), redis_url=args.redis, key=key, threads=args.threads)
        try:
            wait_ready(base, proc, timeout=300)
            warm = warm_up(base, key)
            results, wall = asyncio.run(run_all(args, base, key))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return report(args, results, wall, warm)


if __name__ == "__main__":
    sys.exit(main())
