"""The evaluation harness: run the pipeline over a labelled dev set and score it.

A dataset is a folder with ``calls/<id>.yaml`` scripts (turns plus expected labels) and, for
audio runs, a ``manifest.jsonl`` that names each call's recording, channel map and turn times
(``eval/render.py`` writes it). Each call goes through the same ``pipeline.analyze_call`` the
CLI and the workers use (or ``pipeline.analyze_transcript`` on the script's own turns with
``from_text``, which isolates understanding quality from speech recognition), and the analysis
is compared with the expected intent, urgent topics, outcome, customer sentiment and escalation
decision. Word error rate uses ``understanding.wer`` on the raw (unredacted) transcript.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callintel.domain import Analysis, ChannelMap, Speaker, Transcript, Turn
from callintel.errors import CallintelError, DatasetInvalid
from callintel.pipeline import AnalyzeOptions, Analyzers, analyze_call, analyze_transcript
from callintel.understanding.wer import WerScore, corpus_wer, score

OUTCOMES = frozenset({"resolved", "escalated", "pending", "unresolved"})
SENTIMENTS = frozenset({"negative", "neutral", "positive"})
DECISIONS = frozenset({"none", "suggest", "require"})
#: Escalation decisions counted as "a human is needed" for precision and recall.
ESCALATING = frozenset({"suggest", "require"})
#: Labels whose confusion tables the report carries.
CONFUSIONS = ("intent", "outcome", "customer_sentiment", "escalation")
#: Words per second used to invent turn times for scripts that were never rendered.
_WORDS_PER_S = 2.7


@dataclass(frozen=True, slots=True)
class Expected:
    """The labels a human gave one call."""

    intent: str
    flags: frozenset[str]
    outcome: str
    customer_sentiment: str
    escalation: str


@dataclass(frozen=True, slots=True)
class ScriptTurn:
    speaker: Speaker
    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class EvalCall:
    """One labelled call: its script (the reference transcript) and, when rendered, its audio."""

    id: str
    turns: tuple[ScriptTurn, ...]
    expected: Expected
    audio: Path | None = None
    channel_map: ChannelMap | None = None
    """Roles of the stereo channels; None for mono recordings."""
    industry: str = ""

    @property
    def reference(self) -> str:
        return "\n".join(t.text for t in self.turns)


@dataclass(frozen=True, slots=True)
class Predicted:
    """What the analysis said, reduced to the labelled fields."""

    intent: str | None
    flags: frozenset[str]
    outcome: str | None
    customer_sentiment: str | None
    """None when the analysis has no customer speaker (mono calls)."""
    escalation: str | None

    @classmethod
    def from_analysis(cls, analysis: Analysis) -> Predicted:
        customer = analysis.sentiment.by_speaker.get("customer") if analysis.sentiment else None
        return cls(
            intent=analysis.intent.label if analysis.intent else None,
            flags=frozenset(f.topic for f in analysis.flags),
            outcome=analysis.summary.outcome if analysis.summary else None,
            customer_sentiment=customer.label if customer else None,
            escalation=analysis.escalation.decision if analysis.escalation else None,
        )


NOTHING = Predicted(intent=None, flags=frozenset(), outcome=None, customer_sentiment=None, escalation=None)


@dataclass(frozen=True, slots=True)
class CallResult:
    """One call's labels, predictions, word error and timing."""

    call: EvalCall
    predicted: Predicted
    wer: WerScore | None = None
    wer_by_speaker: dict[str, WerScore] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    """``code: message`` when the pipeline raised a domain error for this call."""

    @property
    def mistakes(self) -> list[str]:
        """Readable differences between expected and predicted labels."""
        exp, got = self.call.expected, self.predicted
        out: list[str] = []
        if self.error:
            out.append(f"error {self.error}")
        for name in ("intent", "outcome", "escalation"):
            if getattr(exp, name) != getattr(got, name):
                out.append(f"{name}: expected {getattr(exp, name)}, got {getattr(got, name)}")
        if got.customer_sentiment is not None and got.customer_sentiment != exp.customer_sentiment:
            out.append(f"customer sentiment: expected {exp.customer_sentiment}, got {got.customer_sentiment}")
        if missed := sorted(exp.flags - got.flags):
            out.append("missed flags: " + ", ".join(missed))
        if extra := sorted(got.flags - exp.flags):
            out.append("extra flags: " + ", ".join(extra))
        return out


@dataclass(frozen=True, slots=True)
class PRF:
    """Counts of true positives, false positives and false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    def __add__(self, other: PRF) -> PRF:
        return PRF(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": _round(self.precision),
                "recall": _round(self.recall), "f1": _round(self.f1)}


@dataclass(frozen=True, slots=True)
class Agreement:
    """Matches out of the calls that could be scored."""

    correct: int
    total: int

    @property
    def rate(self) -> float | None:
        return self.correct / self.total if self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "total": self.total, "rate": _round(self.rate)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def prf(pairs: Iterable[tuple[bool, bool]]) -> PRF:
    """``(expected, predicted)`` booleans → counts."""
    tp = fp = fn = 0
    for expected, predicted in pairs:
        tp += expected and predicted
        fp += predicted and not expected
        fn += expected and not predicted
    return PRF(tp, fp, fn)


def agreement(pairs: Iterable[tuple[str, str | None]], *, skip_missing: bool = False) -> Agreement:
    """``(expected, predicted)`` labels → matches; ``skip_missing`` leaves out unpredicted ones."""
    scored = [(e, p) for e, p in pairs if not (skip_missing and p is None)]
    return Agreement(sum(e == p for e, p in scored), len(scored))


@dataclass(frozen=True)
class EvalReport:
    """Every call's result plus the aggregate metrics."""

    dataset: str
    mode: str
    """``audio`` or ``text``."""
    asr_model: str | None
    results: tuple[CallResult, ...]

    @property
    def intent(self) -> Agreement:
        return agreement((r.call.expected.intent, r.predicted.intent) for r in self.results)

    @property
    def outcome(self) -> Agreement:
        return agreement((r.call.expected.outcome, r.predicted.outcome) for r in self.results)

    @property
    def customer_sentiment(self) -> Agreement:
        """Calls without a customer speaker (mono) are left out rather than counted wrong."""
        pairs = ((r.call.expected.customer_sentiment, r.predicted.customer_sentiment)
                 for r in self.results if r.error is None)
        return agreement(pairs, skip_missing=True)

    @property
    def escalation(self) -> PRF:
        """A human needed (suggest or require) as the positive class."""
        return prf((r.call.expected.escalation in ESCALATING, r.predicted.escalation in ESCALATING)
                   for r in self.results)

    @property
    def escalation_decision(self) -> Agreement:
        """Exact three-way decision (none/suggest/require)."""
        return agreement((r.call.expected.escalation, r.predicted.escalation) for r in self.results)

    @property
    def topics(self) -> list[str]:
        found: set[str] = set()
        for r in self.results:
            found |= r.call.expected.flags | r.predicted.flags
        return sorted(found)

    def flags_by_topic(self) -> dict[str, PRF]:
        return {
            topic: prf((topic in r.call.expected.flags, topic in r.predicted.flags) for r in self.results)
            for topic in self.topics
        }

    @property
    def flags(self) -> PRF:
        """Micro-averaged over topics: every (call, topic) decision counts once."""
        return sum(self.flags_by_topic().values(), PRF())

    @property
    def wer(self) -> WerScore | None:
        scores = [r.wer for r in self.results if r.wer is not None]
        return sum(scores[1:], scores[0]) if scores else None

    def wer_by_speaker(self) -> dict[str, WerScore]:
        totals: dict[str, WerScore] = {}
        for r in self.results:
            for speaker, value in r.wer_by_speaker.items():
                totals[speaker] = totals[speaker] + value if speaker in totals else value
        return totals

    def confusion(self, name: str) -> dict[str, dict[str, int]]:
        """``expected → predicted → count`` for ``intent``, ``outcome``, ``customer_sentiment`` or
        ``escalation`` (a label the analysis did not give counts as ``"-"``)."""
        table: dict[str, dict[str, int]] = {}
        for r in self.results:
            got = getattr(r.predicted, name)
            row = table.setdefault(getattr(r.call.expected, name), {})
            key = "-" if got is None else str(got)
            row[key] = row.get(key, 0) + 1
        return {k: dict(sorted(v.items())) for k, v in sorted(table.items())}

    @property
    def errors(self) -> list[CallResult]:
        return [r for r in self.results if r.error]

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``callintel eval --json``."""
        wer = self.wer
        return {
            "dataset": self.dataset, "mode": self.mode, "asr_model": self.asr_model,
            "calls": len(self.results), "errors": len(self.errors), "seconds": round(self.seconds, 1),
            "intent_accuracy": self.intent.to_dict(),
            "flags": {"micro": self.flags.to_dict(),
                      "by_topic": {k: v.to_dict() for k, v in self.flags_by_topic().items()}},
            "outcome_accuracy": self.outcome.to_dict(),
            "customer_sentiment_agreement": self.customer_sentiment.to_dict(),
            "escalation": {**self.escalation.to_dict(), "decision": self.escalation_decision.to_dict()},
            "wer": None if wer is None else _wer_dict(wer),
            "wer_by_speaker": {k: _wer_dict(v) for k, v in self.wer_by_speaker().items()},
            "confusion": {name: self.confusion(name) for name in CONFUSIONS},
            "results": [_result_dict(r) for r in self.results],
        }


def _wer_dict(value: WerScore) -> dict[str, Any]:
    return {"wer": round(value.wer, 4), "substitutions": value.substitutions, "deletions": value.deletions,
            "insertions": value.insertions, "reference_words": value.reference_words}


def _labels(value: Expected | Predicted) -> dict[str, Any]:
    return {"intent": value.intent, "flags": sorted(value.flags), "outcome": value.outcome,
            "customer_sentiment": value.customer_sentiment, "escalation": value.escalation}


def _result_dict(r: CallResult) -> dict[str, Any]:
    return {
        "id": r.call.id, "seconds": round(r.seconds, 2), "error": r.error,
        "wer": None if r.wer is None else round(r.wer.wer, 4),
        "wer_by_speaker": {k: round(v.wer, 4) for k, v in r.wer_by_speaker.items()},
        "mistakes": r.mistakes, "expected": _labels(r.call.expected), "predicted": _labels(r.predicted),
    }


# --- loading a dataset ---------------------------------------------------------------------------
def load_dataset(path: Path, *, limit: int | None = None) -> list[EvalCall]:
    """Calls of a dataset folder (or its ``manifest.jsonl``), in manifest or file-name order.

    With a manifest, each line names the script and recording; without one, every
    ``calls/*.yaml`` is loaded as a text-only call (usable with ``from_text``).
    """
    root = path.parent if path.is_file() else path
    manifest = path if path.is_file() else root / "manifest.jsonl"
    if manifest.is_file():
        calls = [_from_manifest(root, entry) for entry in _read_manifest(manifest)]
    elif (root / "calls").is_dir():
        calls = [_call_from_script(p) for p in sorted((root / "calls").glob("*.yaml"))]
    else:
        raise DatasetInvalid("dataset must contain manifest.jsonl or a calls/ folder", path=str(path))
    if not calls:
        raise DatasetInvalid("dataset has no calls", path=str(path))
    return calls[:limit] if limit else calls


def _read_manifest(manifest: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetInvalid(f"manifest line {number} is not JSON", path=str(manifest)) from exc
    return entries


def _from_manifest(root: Path, entry: dict[str, Any]) -> EvalCall:
    try:
        script, audio, channels = root / entry["script"], entry.get("audio"), entry.get("channel_map", "")
    except (KeyError, TypeError) as exc:
        raise DatasetInvalid("manifest entry lacks 'script'", entry=str(entry)[:200]) from exc
    call = _call_from_script(script, times=entry.get("turns"))
    channel_map = None if channels in ("mono", None) else ChannelMap.parse(channels or "agent,customer")
    return EvalCall(id=call.id, turns=call.turns, expected=call.expected,
                    audio=root / audio if audio else None, channel_map=channel_map, industry=call.industry)


def _call_from_script(path: Path, *, times: Sequence[dict[str, Any]] | None = None) -> EvalCall:
    try:
        doc = yaml.safe_load(path.read_text())
        raw_turns = doc["turns"]
        expected = _expected(doc["expected"])
    except FileNotFoundError as exc:
        raise DatasetInvalid("call script not found", path=str(path)) from exc
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise DatasetInvalid(f"call script is malformed: {exc}", path=str(path)) from exc
    if not isinstance(raw_turns, list) or not raw_turns:
        raise DatasetInvalid("call script needs a non-empty list of turns", path=str(path))
    if times is not None and len(times) != len(raw_turns):
        raise DatasetInvalid("manifest turn times do not match the script; re-render", path=str(path))
    return EvalCall(id=str(doc.get("id", path.stem)), turns=_script_turns(raw_turns, times, path),
                    expected=expected, industry=str(doc.get("industry", "")))


def _script_turns(
    raw: Sequence[dict[str, Any]], times: Sequence[dict[str, Any]] | None, path: Path
) -> tuple[ScriptTurn, ...]:
    turns: list[ScriptTurn] = []
    clock = 0.5
    for i, item in enumerate(raw):
        speaker = item.get("speaker") if isinstance(item, dict) else None
        text = str(item.get("text", "")).strip() if isinstance(item, dict) else ""
        if speaker not in ("agent", "customer") or not text:
            raise DatasetInvalid(f"turn {i} needs speaker agent|customer and text", path=str(path))
        if times is not None:
            start, end = float(times[i]["start"]), float(times[i]["end"])
        else:  # an unrendered script: invent plausible times so metrics stay meaningful
            start, end = clock, clock + len(text.split()) / _WORDS_PER_S
            clock = end + 0.6
        turns.append(ScriptTurn(speaker=speaker, text=text, start=start, end=end))
    return tuple(turns)


def _expected(raw: dict[str, Any]) -> Expected:
    expected = Expected(
        intent=str(raw["intent"]), flags=frozenset(raw.get("flags") or ()), outcome=str(raw["outcome"]),
        customer_sentiment=str(raw["customer_sentiment"]), escalation=str(raw["escalation"]),
    )
    for value, allowed in ((expected.outcome, OUTCOMES), (expected.customer_sentiment, SENTIMENTS),
                           (expected.escalation, DECISIONS)):
        if value not in allowed:
            raise DatasetInvalid(f"label {value!r} is not one of {sorted(allowed)}")
    return expected


# --- scoring -------------------------------------------------------------------------------------
def script_transcript(call: EvalCall) -> Transcript:
    """The script as a two-channel transcript (agent left), as if recognition were perfect."""
    turns = tuple(
        Turn(index=i, speaker=t.speaker, start=t.start, end=t.end, text=t.text,
             channel=0 if t.speaker == "agent" else 1)
        for i, t in enumerate(call.turns)
    )
    duration = max((t.end for t in turns), default=0.0) + 0.5
    return Transcript(turns=turns, language="en", duration_s=duration, channels=2, channel_map=ChannelMap())


def transcript_wer(call: EvalCall, hypothesis: Transcript) -> tuple[WerScore, dict[str, WerScore]]:
    """Whole-call WER (turn order matters) and, when speakers are known, WER per speaker."""
    whole = score(call.reference, "\n".join(t.text for t in hypothesis.turns))
    by_speaker: dict[str, WerScore] = {}
    if call.channel_map is not None:
        for speaker in ("agent", "customer"):
            ref = "\n".join(t.text for t in call.turns if t.speaker == speaker)
            hyp = "\n".join(t.text for t in hypothesis.turns if t.speaker == speaker)
            by_speaker[speaker] = corpus_wer([(ref, hyp)])
    return whole, by_speaker


def score_call(
    call: EvalCall, analysis: Analysis, *, hypothesis: Transcript | None = None, seconds: float = 0.0
) -> CallResult:
    """Compare one analysis with the call's labels (and its transcript with the script)."""
    wer, by_speaker = transcript_wer(call, hypothesis) if hypothesis is not None else (None, {})
    return CallResult(call=call, predicted=Predicted.from_analysis(analysis), wer=wer,
                      wer_by_speaker=by_speaker, seconds=seconds)


# --- running ---------------------------------------------------------------------------------------
#: One call → its analysis and, for audio runs, the raw transcript to score WER on.
CallRunner = Callable[[EvalCall], tuple[Analysis, Transcript | None]]


def audio_runner(analyzers: Analyzers, *, asr_model: str | None = None) -> CallRunner:
    """Each call's recording through ``analyze_call`` (speech recognition included)."""

    def run(call: EvalCall) -> tuple[Analysis, Transcript | None]:
        if call.audio is None:
            raise DatasetInvalid("call has no audio; render the dataset or use --from-text", call=call.id)
        options = AnalyzeOptions(call_id=call.id, channel_map=call.channel_map or ChannelMap(),
                                 asr_model=asr_model)
        result = analyze_call(call.audio, analyzers=analyzers, options=options)
        return result.analysis, result.raw_transcript

    return run


def text_runner(analyzers: Analyzers) -> CallRunner:
    """Each call's script through ``analyze_transcript`` (no speech recognition)."""

    def run(call: EvalCall) -> tuple[Analysis, Transcript | None]:
        analysis, _ = analyze_transcript(script_transcript(call), analyzers=analyzers, call_id=call.id)
        return analysis, None

    return run


def run_calls(
    calls: Sequence[EvalCall], runner: CallRunner, *, on_result: Callable[[CallResult], None] | None = None
) -> tuple[CallResult, ...]:
    """Run and score every call; a domain error fails that call only (it scores as no prediction)."""
    results = []
    for call in calls:
        began = time.perf_counter()
        try:
            analysis, hypothesis = runner(call)
            result = score_call(call, analysis, hypothesis=hypothesis, seconds=time.perf_counter() - began)
        except CallintelError as exc:
            result = CallResult(call=call, predicted=NOTHING, seconds=time.perf_counter() - began,
                                error=f"{exc.code}: {exc.message}")
        results.append(result)
        if on_result is not None:
            on_result(result)
    return tuple(results)


def evaluate(
    dataset_dir: Path,
    *,
    analyzers: Analyzers,
    from_text: bool = False,
    asr_model: str | None = None,
    limit: int | None = None,
    on_result: Callable[[CallResult], None] | None = None,
    calls: Sequence[EvalCall] | None = None,
) -> EvalReport:
    """Evaluate the pipeline on a labelled dataset (audio by default, scripts with ``from_text``)."""
    calls = calls if calls is not None else load_dataset(dataset_dir, limit=limit)
    runner = text_runner(analyzers) if from_text else audio_runner(analyzers, asr_model=asr_model)
    model = None if from_text else asr_model or analyzers.settings.asr.model
    results = run_calls(calls, runner, on_result=on_result)
    return EvalReport(dataset=str(dataset_dir), mode="text" if from_text else "audio", asr_model=model,
                      results=results)
