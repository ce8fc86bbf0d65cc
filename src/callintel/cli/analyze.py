"""``callintel analyze FILE...``: transcribe and analyse recorded calls on this machine.

Prints a readable transcript (speaker, times, text) followed by the other analysis parts, or
the analysis JSON document with ``--json``. ``--transcript-only`` stops after transcription and
loads only the speech model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from callintel.config import Settings, get_settings
from callintel.domain import Analysis, ChannelMap, Transcript
from callintel.errors import CallintelError, InvalidInput

#: Show a progress bar when the audio to process is at least this long (or there are several files).
LONG_AUDIO_S = 120.0
MODELS = ("tiny.en", "base")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="transcribe and analyse recorded calls",
        description="Transcribe and analyse recorded calls (any format FFmpeg reads, mono or stereo).",
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="audio files")
    parser.add_argument("--example", action="store_true", help="also analyse the bundled example call")
    parser.add_argument(
        "--channels", default=None, metavar="LEFT,RIGHT",
        help="roles of the left and right channel of stereo calls (default: agent,customer)",
    )
    parser.add_argument("--model", choices=MODELS, default=None, help="speech model (default: settings)")
    parser.add_argument(
        "--language", default=None,
        help="language code, or 'auto' to detect it (the multilingual 'base' model only)",
    )
    parser.add_argument("--json", action="store_true", help="print the analysis JSON document")
    parser.add_argument("--transcript-only", action="store_true", help="transcribe only, skip the analysis")
    parser.set_defaults(func=run)


def example_call() -> Path:
    """The bundled example call (stereo 8 kHz mu-law, agent left)."""
    return Path(str(resources.files("callintel") / "resources" / "examples" / "example_call.wav"))


def run(args: argparse.Namespace) -> int:
    files: list[Path] = list(args.files) + ([example_call()] if args.example else [])
    if not files:
        raise InvalidInput("give at least one audio FILE (or --example)")
    settings = _settings(get_settings(), language=args.language)
    channel_map = ChannelMap.parse(args.channels) if args.channels else ChannelMap()
    analyse = _transcriber(settings, args) if args.transcript_only else _analyzer(settings, args)
    documents: list[dict[str, Any]] = []
    failures: list[CallintelError] = []
    with _progress(files) as progress:
        for path in files:
            try:
                analysis = analyse(path, channel_map)
            except CallintelError as exc:
                if len(files) == 1:
                    raise
                failures.append(exc)
                _warn(f"error: {exc.code}: {path}: {exc.message}")
                continue
            finally:
                progress.file_done(path)
            if args.json:
                documents.append(analysis.to_dict())
            else:
                print_analysis(analysis, name=path.name, out=sys.stdout)
    if args.json:
        _print_json(documents, single=len(files) == 1)
    return 2 if failures else 0


def _warn(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)  # keeps an active progress bar intact


def _settings(settings: Settings, *, language: str | None) -> Settings:
    if language is None:
        return settings
    value = None if language.lower() == "auto" else language.lower()
    return settings.model_copy(update={"asr": settings.asr.model_copy(update={"language": value})})


AnalyseFn = Callable[[Path, ChannelMap], Analysis]


def _transcriber(settings: Settings, args: argparse.Namespace) -> AnalyseFn:
    """Transcription only: loads just the speech model."""
    from callintel.ml.registry import AsrConfig, ModelManager
    from callintel.understanding.transcribe import transcribe_recording

    asr = settings.asr
    models = ModelManager.from_settings(settings.models)
    transcriber = models.transcriber(
        AsrConfig(model=args.model or asr.model, compute_type=asr.compute_type, cpu_threads=asr.cpu_threads)
    )

    def analyse(path: Path, channel_map: ChannelMap) -> Analysis:
        _, transcript = transcribe_recording(
            path, transcriber, audio=settings.audio, asr=asr, channel_map=channel_map,
            language=asr.language,
        )
        return transcript_analysis(transcript, call_id=path.stem)

    return analyse


def _analyzer(settings: Settings, args: argparse.Namespace) -> AnalyseFn:
    """The whole analysis through ``pipeline.analyze_call`` (models loaded once for all files)."""
    from callintel.pipeline import AnalyzeOptions, analyze_call, load_analyzers

    analyzers = load_analyzers(settings)

    def analyse(path: Path, channel_map: ChannelMap) -> Analysis:
        options = AnalyzeOptions(call_id=path.stem, channel_map=channel_map, asr_model=args.model)
        return analyze_call(path, analyzers=analyzers, options=options).analysis

    return analyse


def transcript_analysis(transcript: Transcript, *, call_id: str) -> Analysis:
    """An analysis document that carries only the transcript."""
    return Analysis(
        call_id=call_id, duration_s=transcript.duration_s, language=transcript.language,
        channel_map=transcript.channel_map, transcript=transcript,
    )


class _Progress:
    """Seconds of channel audio transcribed so far, fed by the speech model as segments finish."""

    def __init__(self, files: Sequence[Path]) -> None:
        from tqdm import tqdm

        from callintel.audio.decode import probe

        probes = {path: probe(path) for path in files}
        # Each channel of a stereo call is transcribed on its own: count channel-seconds.
        self.expected = {p: (d or 0.0) * max(1, min(c, 2)) for p, (d, c) in probes.items()}
        total = sum(self.expected.values())
        show = len(files) > 1 or max((d or 0.0 for d, _ in probes.values()), default=0.0) >= LONG_AUDIO_S
        self.bar = tqdm(total=round(total, 1) or None, unit="s", file=sys.stderr, disable=not show,
                        dynamic_ncols=True, leave=False, desc="transcribing")
        self.done = 0.0  # finished files
        self.channels_done = 0.0  # finished channels of the current file
        self.last_end = 0.0

    def segment(self, end_s: float) -> None:
        if end_s < self.last_end:  # times restarted: the next channel began
            self.channels_done += self.last_end
        self.last_end = end_s
        self._show(self.done + self.channels_done + end_s)

    def file_done(self, path: Path) -> None:
        self.done += self.expected.get(path, 0.0)
        self.channels_done = self.last_end = 0.0
        self._show(self.done)

    def _show(self, position: float) -> None:
        if self.bar.total:
            self.bar.n = round(min(position, self.bar.total), 1)
            self.bar.refresh()


@contextmanager
def _progress(files: Sequence[Path]) -> Iterator[_Progress]:
    """A progress bar on stderr, shown for several files or a long call."""
    from callintel.ml.whisper import asr_progress

    progress = _Progress(files)
    token = asr_progress.set(progress.segment)
    try:
        yield progress
    finally:
        asr_progress.reset(token)
        progress.bar.close()


def _print_json(documents: list[dict[str, Any]], *, single: bool) -> None:
    payload: Any = documents[0] if single and documents else documents
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def clock(seconds: float) -> str:
    """``75.4`` → ``"01:15"``; hours when needed."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def print_analysis(analysis: Analysis, *, name: str, out: TextIO) -> None:
    """The readable report: a header, the transcript, then whatever analysis parts exist."""
    cmap = analysis.channel_map
    channels = f"left={cmap.left}, right={cmap.right}" if cmap else "mono (speaker unknown)"
    out.write(f"== {name}  {clock(analysis.duration_s)}  language={analysis.language}  "
              f"channels: {channels}\n")
    for turn in analysis.transcript.turns:
        out.write(f"[{clock(turn.start)}-{clock(turn.end)}] {turn.speaker:>8}: {turn.text}\n")
    if not analysis.transcript.turns:
        out.write("(no speech found)\n")
    for line in _analysis_lines(analysis):
        out.write(line + "\n")
    out.write("\n")


def _analysis_lines(a: Analysis) -> Iterator[str]:
    if a.intent:
        yield f"intent: {a.intent.label} ({a.intent.confidence:.2f})"
    if a.sentiment:
        parts = [f"{who} {s.label} ({s.score:+.2f})" for who, s in a.sentiment.by_speaker.items()]
        trend = f"; trend {a.sentiment.trend.direction}" if a.sentiment.trend else ""
        yield "sentiment: " + ", ".join(parts) + trend
    for flag in a.flags:
        yield f"flag: {flag.topic} (turns {', '.join(map(str, flag.turns))}, {flag.confidence:.2f})"
    if a.summary:
        yield from _summary_lines(a)
    if a.escalation:
        reasons = ", ".join(r.code for r in a.escalation.reasons) or "none"
        yield f"escalation: {a.escalation.decision} ({a.escalation.priority}); reasons: {reasons}"
    for kb in a.kb_suggestions:
        yield f"kb: {kb.title} ({kb.score:.2f})"
    if a.qa and a.qa.score is not None:
        failed = ", ".join(i.label for i in a.qa.items if i.result == "fail") or "none"
        yield f"qa: {a.qa.score:.0f}/100 on scorecard {a.qa.scorecard}; failed: {failed}"
    if a.metrics:
        ratio = a.metrics.agent_talk_ratio
        yield "metrics: agent talk ratio " + ("n/a" if ratio is None else f"{ratio:.0%}") + (
            f", silence {a.metrics.non_talk_time_s:.1f} s")


def _summary_lines(a: Analysis) -> Iterator[str]:
    assert a.summary is not None
    if a.summary.reason:
        yield f"reason: {a.summary.reason.text}"
    for action in a.summary.actions:
        yield f"action: {action.text}"
    yield f"outcome: {a.summary.outcome}"
    for step in a.summary.next_steps:
        yield f"next step: {step.text}"
