#!/usr/bin/env python3
"""Render the dev-set call scripts to audio with espeak-ng, sox and ffmpeg.

Each script (``eval/devset/calls/<id>.yaml``) becomes one recording under ``eval/devset/audio/``:
every turn is synthesised with the speaker's voice, placed on a timeline with natural gaps,
explicit pauses (``pause: s``, e.g. holds) and interruptions (``overlap: s`` starts a turn before the
other speaker has finished), agent on one channel and customer on the other. The recording is then
encoded in one of several formats so the harness sees what real systems send:

* ``ulaw8k``: 8 kHz G.711 mu-law WAV, telephone band-passed (every third call; every other one of those, and
  those longer than 65 s, mono);
* ``opus``: Ogg/Opus, 20 kbit/s, 16 kHz, stereo;
* ``mp3``: MP3, 44 kbit/s, 16 kHz, stereo (24 kbit/s doubled the WER of tiny.en).

A few stereo calls put the customer on the left channel (``channel_map: customer,agent``), as
some telephony vendors do. Voices, speeds, pitches, gaps and noise are drawn from a random
generator seeded by the call id, so rendering is reproducible::

    python eval/render.py            # render all calls, rewrite eval/devset/manifest.jsonl
    python eval/render.py --only telecom-update-email

Requires ``espeak-ng``, ``sox`` and ``ffmpeg`` (with libopus and libmp3lame) on PATH, and numpy
and PyYAML. Not part of the installed package: it is a dev-set build tool.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent / "devset"
RATE = 16000
#: espeak-ng voices (language + variant); agent and customer draw from the same pool, never equal.
VOICES = (
    "en-us", "en-us+f3", "en-us+m3", "en-us+f2", "en-gb", "en-gb+f4", "en-gb-scotland",
    "en-gb-scotland+f2", "en-gb-x-rp", "en-gb-x-rp+f5", "en-029", "en-us-nyc", "en-gb-x-gbclan+m2",
    "en-gb-x-gbcwmd+f1",
)
MONO_ABOVE_S = 65.0
"""Mu-law calls longer than this are rendered mono (keeps the committed audio under 15 MB)."""
CUSTOMER_LEFT_EVERY = 7
"""Every seventh stereo call (offset 3) swaps the channels: customer left, agent right."""


@dataclass(frozen=True)
class Voice:
    name: str
    speed: int
    pitch: int


@dataclass(frozen=True)
class Placed:
    speaker: str
    start: float
    end: float


def seed_for(call_id: str) -> int:
    return int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")


def pick_voices(rng: random.Random) -> dict[str, Voice]:
    agent, customer = rng.sample(VOICES, 2)
    return {
        "agent": Voice(agent, rng.randint(155, 185), rng.randint(35, 65)),
        "customer": Voice(customer, rng.randint(145, 190), rng.randint(30, 70)),
    }


def synth(text: str, voice: Voice, tmp: Path) -> np.ndarray:
    """One utterance as float32 mono at ``RATE``, leading/trailing silence trimmed."""
    raw, res = tmp / "raw.wav", tmp / "res.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch), "-w", str(raw), text],
        check=True, capture_output=True,
    )
    subprocess.run(["sox", "-R", str(raw), "-r", str(RATE), str(res)], check=True, capture_output=True)
    with wave.open(str(res), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(pcm) > 0.01)
    return pcm[loud[0] : loud[-1] + 1] if loud.size else pcm


def place_turns(
    turns: list[dict[str, Any]], clips: list[np.ndarray], rng: random.Random
) -> list[Placed]:
    """Timeline: a short gap between turns, longer for explicit pauses, negative for overlaps."""
    placed: list[Placed] = []
    cursor = 0.5
    for turn, clip in zip(turns, clips, strict=True):
        start = cursor + rng.uniform(0.25, 0.85)
        if placed and "pause" in turn:
            start = cursor + float(turn["pause"])
        if placed and "overlap" in turn and placed[-1].speaker != turn["speaker"]:
            start = max(placed[-1].start + 0.3, cursor - float(turn["overlap"]))
        end = start + len(clip) / RATE
        placed.append(Placed(turn["speaker"], round(start, 3), round(end, 3)))
        cursor = max(cursor, end)
    return placed


def mix(placed: list[Placed], clips: list[np.ndarray], *, left: str, rng: random.Random) -> np.ndarray:
    total = int((max(p.end for p in placed) + 0.6) * RATE)
    out = np.zeros((total, 2), dtype=np.float32)
    for p, clip in zip(placed, clips, strict=True):
        ch = 0 if p.speaker == left else 1
        i = int(p.start * RATE)
        out[i : i + len(clip), ch] += clip * 0.8
    # faint line noise: pure digital silence is unlike any real recording
    out += np.random.default_rng(rng.getrandbits(32)).normal(0, 0.0015, out.shape).astype(np.float32)
    return np.clip(out, -1, 1)


def write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(audio.shape[1])
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((audio * 32767).astype("<i2").tobytes())


def encode(master: Path, out_dir: Path, call_id: str, fmt: str, mono: bool) -> Path:
    bitexact = ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]
    ffmpeg = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(master), *bitexact]
    if fmt == "ulaw8k":
        dest = out_dir / f"{call_id}.wav"
        remix = ["remix", "1,2"] if mono else []
        cmd = ["sox", "-R", str(master), "-r", "8000", "-e", "u-law", "-b", "8", str(dest), *remix,
               "sinc", "300-3400"]  # telephone band
        subprocess.run(cmd, check=True, capture_output=True)
    elif fmt == "opus":
        dest = out_dir / f"{call_id}.ogg"
        # mapping family 255 codes each channel on its own: coupled stereo at this bitrate
        # bleeds one speaker into the other's channel (measured: 7-14 dB separation)
        opus = ["-c:a", "libopus", "-mapping_family", "255", "-b:a", "20k"]
        subprocess.run([*ffmpeg, *opus, str(dest)], check=True)
    else:
        dest = out_dir / f"{call_id}.mp3"
        mp3 = ["-c:a", "libmp3lame", "-joint_stereo", "0", "-b:a", "44k"]  # no mid/side coupling
        subprocess.run([*ffmpeg, *mp3, str(dest)], check=True)
    return dest


def plan(index: int, duration_s: float) -> tuple[str, bool, bool]:
    """``(format, mono, customer_left)`` for the call at this position in id order."""
    fmt = ("ulaw8k", "opus", "mp3")[index % 3]
    # uncompressed mu-law is the size budget's main cost: long calls in that slot go mono
    mono = fmt == "ulaw8k" and ((index // 3) % 2 == 1 or duration_s > MONO_ABOVE_S)
    customer_left = not mono and index % CUSTOMER_LEFT_EVERY == 3
    return fmt, mono, customer_left


def render(script: Path, index: int, root: Path) -> dict[str, Any]:
    doc = yaml.safe_load(script.read_text())
    call_id = doc["id"]
    rng = random.Random(seed_for(call_id))
    voices = pick_voices(rng)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clips = [synth(t["text"], voices[t["speaker"]], tmp) for t in doc["turns"]]
        placed = place_turns(doc["turns"], clips, rng)
        fmt, mono, customer_left = plan(index, placed[-1].end)
        left = "customer" if customer_left else "agent"
        write_wav(tmp / "master.wav", mix(placed, clips, left=left, rng=rng))
        dest = encode(tmp / "master.wav", root / "audio", call_id, fmt, mono)
    channel_map = "mono" if mono else ("customer,agent" if customer_left else "agent,customer")
    return {
        "id": call_id,
        "audio": str(dest.relative_to(root)),
        "script": str(script.relative_to(root)),
        "format": fmt,
        "sample_rate": 8000 if fmt == "ulaw8k" else RATE,
        "channels": 1 if mono else 2,
        "channel_map": channel_map,
        "industry": doc.get("industry", ""),
        "voices": {k: f"{v.name} s{v.speed} p{v.pitch}" for k, v in voices.items()},
        "duration_s": round(placed[-1].end + 0.6, 2),
        "expected": doc["expected"],
        "turns": [{"speaker": p.speaker, "start": p.start, "end": p.end} for p in placed],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="dev-set folder (calls/ inside)")
    parser.add_argument("--only", nargs="*", default=None, help="render only these call ids")
    args = parser.parse_args(argv)
    scripts = sorted((args.root / "calls").glob("*.yaml"))
    out_dir = args.root / "audio"
    out_dir.mkdir(exist_ok=True)
    manifest = args.root / "manifest.jsonl"
    old = {}
    if manifest.exists():
        old = {json.loads(line)["id"]: line for line in manifest.read_text().splitlines() if line.strip()}
    lines = []
    for index, script in enumerate(scripts):
        call_id = script.stem
        if args.only and call_id not in args.only and call_id in old:
            lines.append(old[call_id])
            continue
        entry = render(script, index, args.root)
        print(f"{entry['id']}: {entry['audio']} {entry['duration_s']} s", file=sys.stderr)
        lines.append(json.dumps(entry, sort_keys=True))
    manifest.write_text("\n".join(lines) + "\n")
    # a call whose format changed leaves its old file behind; keep only what the manifest names
    keep = {json.loads(line)["audio"] for line in lines}
    for stale in out_dir.iterdir():
        if str(stale.relative_to(args.root)) not in keep:
            stale.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
