"""ASR benchmark: bare faster-whisper on the downmixed file vs. the callintel pipeline.

In one process, with the same packaged model, compute type, threads and beam, every call is
transcribed twice:

* **bare**: ``WhisperModel.transcribe(path)`` with the library's defaults (its own decoder
  downmixes stereo to mono; no VAD, no word timestamps), text joined in segment order;
* **pipeline**: ``transcribe_recording`` (PyAV decode, each channel on its own with VAD and word
  timestamps, turns split on word gaps, guards), turns joined in their order.

Prints audio seconds, wall seconds and real-time factor (wall / audio) of each, their ratio, and
the word error rate of each against the reference transcript next to the file (``<name>.json``,
written by tests/fixtures/make_fixtures.sh), after normalising case, punctuation and numbers.
For stereo calls it also prints the speaker-attributed WER of the pipeline (each role's words
scored against that role's reference words), which the bare run cannot have.

    python bench/asr.py                      # the fixture calls and the bundled example, tiny.en
    python bench/asr.py --model base FILE... # other model or files (each with a <name>.json)
    python bench/asr.py --manifest eval/devset/manifest.jsonl   # the eval devset (scripts in YAML)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callintel.config import AsrSettings, AudioSettings
from callintel.domain import ChannelMap, Transcript
from callintel.errors import CallintelError
from callintel.ml.registry import AsrConfig, ModelManager, force_offline, tiny_en_dir, whisper_base_dir
from callintel.ml.whisper import WhisperTranscriber
from callintel.understanding.transcribe import transcribe_recording
from callintel.understanding.wer import WerScore, corpus_wer, score

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CALLS = [
    ROOT / "tests/fixtures/audio/stereo_16k.wav",
    ROOT / "tests/fixtures/audio/stereo_8k_mulaw.wav",
    ROOT / "tests/fixtures/audio/mono_16k.wav",
    ROOT / "tests/fixtures/audio/mono.mp3",
    ROOT / "src/callintel/resources/examples/example_call.wav",
]


DEFAULT_MAP = ChannelMap()


@dataclass(frozen=True)
class Call:
    path: Path
    reference: dict[str, Any]
    """``{"turns": [{"speaker", "text"}], "text"}``"""
    channel_map: ChannelMap


@dataclass
class Row:
    name: str
    audio_s: float
    bare_s: float
    pipe_s: float
    bare: WerScore
    pipe: WerScore
    attributed: WerScore | None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    force_offline()
    asr = AsrSettings(model=args.model, beam_size=args.beam, cpu_threads=args.threads, language=args.language)
    transcriber = _pipeline_model(asr, cache_dir=args.cache_dir)
    bare = _bare_model(asr, cache_dir=args.cache_dir)
    calls = _manifest_calls(args.manifest) if args.manifest else [_file_call(p) for p in args.files]
    _warm_up(bare, transcriber, asr=asr, path=calls[0].path)
    rows = []
    for call in calls:
        try:
            rows.append(_bench(call, bare=bare, transcriber=transcriber, asr=asr))
        except CallintelError as exc:  # one unreadable call must not lose the others' figures
            print(f"skipped {call.path.name}: {exc.code}: {exc.message}", file=sys.stderr, flush=True)
            continue
        print(f"done {call.path.name}", file=sys.stderr, flush=True)
    _report(rows, asr=asr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_CALLS)
    parser.add_argument("--model", choices=["tiny.en", "base"], default="tiny.en")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--language", default="en")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "models")
    parser.add_argument("--manifest", type=Path, help="eval devset manifest.jsonl instead of FILEs")
    return parser


def _file_call(path: Path) -> Call:
    return Call(path=path, reference=json.loads(path.with_suffix(".json").read_text()),
                channel_map=ChannelMap())


def _manifest_calls(manifest: Path) -> list[Call]:
    """Calls of an eval devset: one JSON line per call with ``audio``, ``script`` (YAML with
    ``turns``) and ``channel_map``, paths relative to the manifest."""
    import yaml

    calls = []
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        script = yaml.safe_load((manifest.parent / entry["script"]).read_text())
        turns = [{"speaker": t["speaker"], "text": t["text"]} for t in script["turns"]]
        mapping = entry.get("channel_map", "")
        calls.append(Call(
            path=manifest.parent / entry["audio"],
            reference={"turns": turns, "text": " ".join(t["text"] for t in turns)},
            channel_map=ChannelMap.parse(mapping) if "," in mapping else ChannelMap(),
        ))
    return calls


def _pipeline_model(asr: AsrSettings, *, cache_dir: Path) -> WhisperTranscriber:
    config = AsrConfig(model=asr.model, compute_type=asr.compute_type, cpu_threads=asr.cpu_threads)
    transcriber = ModelManager(cache_dir=cache_dir).transcriber(config)
    assert isinstance(transcriber, WhisperTranscriber)
    return transcriber


def _bare_model(asr: AsrSettings, *, cache_dir: Path) -> Any:
    from faster_whisper import WhisperModel

    folder = tiny_en_dir() if asr.model == "tiny.en" else whisper_base_dir(cache_dir)
    return WhisperModel(str(folder), device="cpu", compute_type=asr.compute_type, cpu_threads=asr.cpu_threads)


def _bare_text(model: Any, path: Path, *, asr: AsrSettings) -> str:
    segments, _ = model.transcribe(str(path), language=asr.language, beam_size=asr.beam_size)
    return " ".join(s.text.strip() for s in segments)


def _pipeline(
    path: Path, transcriber: WhisperTranscriber, *, asr: AsrSettings, channel_map: ChannelMap = DEFAULT_MAP
) -> tuple[float, Transcript]:
    _, transcript = transcribe_recording(
        path, transcriber, audio=AudioSettings(), asr=asr, channel_map=channel_map, language=asr.language
    )
    return transcript.duration_s, transcript


def _warm_up(bare: Any, transcriber: WhisperTranscriber, *, asr: AsrSettings, path: Path) -> None:
    """One untimed run each, so one-off allocations are not charged to the first call."""
    _bare_text(bare, path, asr=asr)
    _pipeline(path, transcriber, asr=asr)


def _bench(call: Call, *, bare: Any, transcriber: WhisperTranscriber, asr: AsrSettings) -> Row:
    path, reference = call.path, call.reference
    started = time.perf_counter()
    bare_text = _bare_text(bare, path, asr=asr)
    bare_s = time.perf_counter() - started
    started = time.perf_counter()
    audio_s, transcript = _pipeline(path, transcriber, asr=asr, channel_map=call.channel_map)
    pipe_s = time.perf_counter() - started
    pipe_text = " ".join(t.text for t in transcript.turns)
    return Row(
        name=path.name, audio_s=audio_s, bare_s=bare_s, pipe_s=pipe_s,
        bare=score(reference["text"], bare_text), pipe=score(reference["text"], pipe_text),
        attributed=_attributed(reference, transcript) if transcript.channel_map else None,
    )


def _attributed(reference: dict[str, Any], transcript: Transcript) -> WerScore:
    """Each role's recognised words against that role's reference words: wrong speaker = errors."""
    roles = {t["speaker"] for t in reference["turns"]}
    return corpus_wer(
        (" ".join(t["text"] for t in reference["turns"] if t["speaker"] == role),
         " ".join(t.text for t in transcript.turns if t.speaker == role))
        for role in sorted(roles)
    )


def _report(rows: list[Row], *, asr: AsrSettings) -> None:
    out = sys.stdout
    out.write(f"model {asr.model} ({asr.compute_type}, {asr.cpu_threads} threads, beam {asr.beam_size})\n")
    header = f"{'call':<40}{'audio s':>8}{'bare s':>8}{'pipe s':>8}{'bare RTF':>9}{'pipe RTF':>9}" \
             f"{'ratio':>7}{'bare WER':>9}{'pipe WER':>9}{'attr WER':>9}\n"
    out.write(header + "-" * (len(header) - 1) + "\n")
    for r in rows:
        out.write(_line(r.name, r.audio_s, r.bare_s, r.pipe_s, r.bare, r.pipe, r.attributed))
    attributed = [r.attributed for r in rows if r.attributed is not None]
    out.write(_line(
        "TOTAL", sum(r.audio_s for r in rows), sum(r.bare_s for r in rows), sum(r.pipe_s for r in rows),
        sum((r.bare for r in rows), WerScore(0, 0, 0, 0)), sum((r.pipe for r in rows), WerScore(0, 0, 0, 0)),
        sum(attributed, WerScore(0, 0, 0, 0)) if attributed else None,
    ))
    out.write("RTF = wall / audio seconds; ratio = pipeline wall / bare wall; WER after normalisation;\n"
              "attr WER = pipeline words scored per speaker role (stereo calls only).\n")


def _line(name: str, audio: float, bare_s: float, pipe_s: float, bare: WerScore, pipe: WerScore,
          attributed: WerScore | None) -> str:
    attr = f"{attributed.wer:>9.3f}" if attributed else f"{'-':>9}"
    return (f"{name[:39]:<40}{audio:>8.1f}{bare_s:>8.2f}{pipe_s:>8.2f}"
            f"{bare_s / audio:>9.3f}{pipe_s / audio:>9.3f}{pipe_s / bare_s:>7.2f}"
            f"{bare.wer:>9.3f}{pipe.wer:>9.3f}{attr}\n")


if __name__ == "__main__":
    raise SystemExit(main())
