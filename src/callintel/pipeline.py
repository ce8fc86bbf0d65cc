"""``analyze_call``: audio → Analysis. The one function the CLI, the worker and the eval harness call.

The step functions live in ``understanding/``, ``kb/`` and ``guardrail``; this module only wires
them. ``Analyzers`` holds the loaded, per-process pieces (models, heads, policies) so that a
worker builds them once and reuses them for every call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from callintel.audio.decode import DecodedAudio
from callintel.config import Settings
from callintel.domain import Analysis, ChannelMap, KBSuggestion, PiiSpan, Transcript
from callintel.guardrail import GuardrailInput, GuardrailPolicy, decide, load_policy
from callintel.ml.protocols import Transcriber
from callintel.ml.registry import AsrConfig, ModelManager
from callintel.understanding.flags import FlagDetector
from callintel.understanding.intent import IntentModel
from callintel.understanding.metrics import compute_metrics
from callintel.understanding.pii import redact_transcript
from callintel.understanding.qa import Scorecard, load_scorecard, score_call
from callintel.understanding.sentiment import SentimentModel
from callintel.understanding.summary import summarize
from callintel.understanding.transcribe import transcribe_recording

#: ``(query, k) -> suggestions`` for one tenant's knowledge base.
KBSearch = Callable[[str, int], Sequence[KBSuggestion]]
#: ``customer_id -> contacts in the policy window`` from our own history.
ContactCounter = Callable[[str], int]


@dataclass(frozen=True)
class AnalyzeOptions:
    """Per-call options (what a request may choose)."""

    call_id: str
    channel_map: ChannelMap = field(default_factory=ChannelMap)
    asr_model: str | None = None
    language: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class AnalyzeResult:
    analysis: Analysis
    raw_transcript: Transcript
    redacted_audio: bytes | None
    """WAV bytes of the audio with PII spans silenced (None when redaction is off)."""


@dataclass
class Analyzers:
    """Everything loaded once per process that a call's analysis uses."""

    settings: Settings
    models: ModelManager
    intent: IntentModel
    sentiment: SentimentModel
    flags: FlagDetector
    scorecard: Scorecard
    policy: GuardrailPolicy

    def transcriber(self, model: str | None = None) -> Transcriber:
        asr = self.settings.asr
        return self.models.transcriber(
            AsrConfig(model=model or asr.model, compute_type=asr.compute_type, cpu_threads=asr.cpu_threads)
        )


def load_analyzers(settings: Settings, models: ModelManager | None = None) -> Analyzers:
    """Build the default analyzers (the composition roots call this once)."""
    models = models or ModelManager.from_settings(settings.models)
    embedder = models.embedder(settings.models.embedder)
    return Analyzers(
        settings=settings,
        models=models,
        intent=IntentModel.load(models=models, embedder=embedder, settings=settings.models),
        sentiment=SentimentModel.load(models=models, embedder=embedder, settings=settings.models),
        flags=FlagDetector(embedder=embedder),
        scorecard=load_scorecard(None, embedder=embedder),
        policy=load_policy(settings.guardrail.policy_path, settings=settings.guardrail),
    )


def transcribe_file(
    data: bytes | Path, *, analyzers: Analyzers, options: AnalyzeOptions
) -> tuple[DecodedAudio, Transcript]:
    """Decode and transcribe only (the foundation path, also used by ``bench/asr.py``)."""
    settings = analyzers.settings
    return transcribe_recording(
        data, analyzers.transcriber(options.asr_model), audio=settings.audio, asr=settings.asr,
        channel_map=options.channel_map, language=options.language or settings.asr.language,
    )


def analyze_transcript(
    transcript: Transcript,
    *,
    analyzers: Analyzers,
    call_id: str,
    kb: KBSearch | None = None,
    contacts: int = 0,
    customer_id: str | None = None,
) -> tuple[Analysis, tuple[PiiSpan, ...]]:
    """Everything after transcription; live sessions reuse it on typed utterances."""
    redacted, spans = redact_transcript(transcript)
    intent = analyzers.intent.classify(redacted)
    sentiment = analyzers.sentiment.analyze(redacted)
    flags = analyzers.flags.detect(redacted)
    summary = summarize(redacted, intent=intent, flags=flags)
    metrics = compute_metrics(redacted)
    suggestions: tuple[KBSuggestion, ...] = ()
    if kb is not None and summary.reason is not None:
        suggestions = tuple(kb(summary.reason.text, analyzers.settings.live.kb_top_k))
    escalation = decide(
        GuardrailInput(
            transcript=redacted, intent=intent, sentiment=sentiment, flags=flags,
            summary=summary, prior_contacts=contacts, customer_id=customer_id,
        ),
        policy=analyzers.policy,
    )
    qa = score_call(
        redacted, scorecard=analyzers.scorecard, flags=flags, escalation=escalation, intent=intent
    )
    analysis = Analysis(
        call_id=call_id, duration_s=transcript.duration_s, language=transcript.language,
        channel_map=transcript.channel_map, transcript=redacted, intent=intent, sentiment=sentiment,
        flags=flags, summary=summary, escalation=escalation, kb_suggestions=suggestions, qa=qa,
        metrics=metrics, pii=spans, low_confidence=escalation.low_confidence,
    )
    return analysis, spans


def analyze_call(
    data: bytes | Path,
    *,
    analyzers: Analyzers,
    options: AnalyzeOptions,
    kb: KBSearch | None = None,
    contacts: ContactCounter | None = None,
) -> AnalyzeResult:
    """Audio in, the whole analysis out."""
    from callintel.audio.redact import silence_spans

    audio, transcript = transcribe_file(data, analyzers=analyzers, options=options)
    prior = contacts(options.customer_id) if contacts and options.customer_id else 0
    analysis, spans = analyze_transcript(
        transcript, analyzers=analyzers, call_id=options.call_id, kb=kb, contacts=prior,
        customer_id=options.customer_id,
    )
    redacted_audio = None
    if analyzers.settings.privacy.redact_audio:
        redacted_audio = silence_spans(audio, spans, transcript=transcript)
    return AnalyzeResult(analysis=analysis, raw_transcript=transcript, redacted_audio=redacted_audio)
