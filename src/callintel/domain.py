"""Frozen dataclasses that flow through the pipelines.

These are the internal shapes; pydantic models at the HTTP and task boundaries mirror them.
``to_jsonable`` turns any of them into the analysis JSON document.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Literal

Speaker = Literal["agent", "customer", "unknown"]
SentimentLabel = Literal["negative", "neutral", "positive"]
Outcome = Literal["resolved", "escalated", "pending", "unresolved"]


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class Turn:
    """One speaker's uninterrupted stretch of speech."""

    index: int
    speaker: Speaker
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    confidence: float = 1.0
    channel: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelMap:
    """Which role each channel carries; stated in every output because vendors disagree."""

    left: Speaker = "agent"
    right: Speaker = "customer"

    @classmethod
    def parse(cls, text: str) -> ChannelMap:
        """Parse ``"agent,customer"`` (left first)."""
        parts = [p.strip().lower() for p in text.split(",")]
        allowed = {"agent", "customer", "unknown"}
        if len(parts) != 2 or not set(parts) <= allowed:
            from callintel.errors import InvalidInput

            raise InvalidInput(
                "channel_map must be two roles, left first, e.g. 'agent,customer'", value=text
            )
        return cls(left=parts[0], right=parts[1])  # type: ignore[arg-type]

    def role(self, channel: int) -> Speaker:
        return self.left if channel == 0 else self.right


@dataclass(frozen=True, slots=True)
class Transcript:
    turns: tuple[Turn, ...]
    language: str
    duration_s: float
    channels: int
    channel_map: ChannelMap | None = None

    @property
    def text(self) -> str:
        return "\n".join(f"{t.speaker}: {t.text}" for t in self.turns)

    def by_speaker(self, speaker: Speaker) -> tuple[Turn, ...]:
        return tuple(t for t in self.turns if t.speaker == speaker)


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    confidence: float


@dataclass(frozen=True, slots=True)
class IntentResult:
    label: str
    confidence: float
    secondary: tuple[LabelScore, ...] = ()
    turns: tuple[int, ...] = ()
    low_confidence: bool = False
    model_version: str = ""


@dataclass(frozen=True, slots=True)
class TurnSentiment:
    turn: int
    speaker: Speaker
    label: SentimentLabel
    score: float
    """Signed score in [-1, 1]: negative below zero."""
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class SpeakerSentiment:
    label: SentimentLabel
    score: float
    turns: int


@dataclass(frozen=True, slots=True)
class SentimentTrend:
    start: float
    end: float
    delta: float
    direction: Literal["improving", "worsening", "stable"]


@dataclass(frozen=True, slots=True)
class SentimentResult:
    turns: tuple[TurnSentiment, ...]
    by_speaker: dict[str, SpeakerSentiment]
    trend: SentimentTrend | None
    low_confidence: bool = False
    model_version: str = ""


@dataclass(frozen=True, slots=True)
class Flag:
    """An urgent topic, with the turns that raised it."""

    topic: str
    turns: tuple[int, ...]
    confidence: float
    raised_by: Speaker
    evidence: tuple[str, ...] = ()
    low_confidence: bool = False


@dataclass(frozen=True, slots=True)
class SummaryItem:
    text: str
    turns: tuple[int, ...]
    kind: str = ""
    """For next steps: ``email``, ``callback``, ``refund``, ``other``."""
    amount: str | None = None
    date: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    reason: SummaryItem | None
    actions: tuple[SummaryItem, ...]
    outcome: Outcome
    outcome_turns: tuple[int, ...]
    next_steps: tuple[SummaryItem, ...]
    low_confidence: bool = False


@dataclass(frozen=True, slots=True)
class PiiSpan:
    turn: int
    kind: str
    start: float
    end: float
    char_start: int
    char_end: int


@dataclass(frozen=True, slots=True)
class Metrics:
    duration_s: float
    talk_time_s: dict[str, float]
    non_talk_time_s: float
    silences: tuple[tuple[float, float], ...]
    interruptions: dict[str, int]
    words_per_minute: dict[str, float]
    agent_talk_ratio: float | None
    longest_customer_monologue_s: float


@dataclass(frozen=True, slots=True)
class EscalationReason:
    code: str
    turns: tuple[int, ...]
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HandoffBrief:
    customer: str
    issue: str
    tried: tuple[str, ...]
    wants: str
    sentiment: str
    text: str


@dataclass(frozen=True, slots=True)
class Escalation:
    decision: Literal["none", "suggest", "require"]
    priority: Literal["low", "normal", "high", "urgent"]
    reasons: tuple[EscalationReason, ...]
    handoff_brief: HandoffBrief | None
    human_path: str = "Customers can always ask for a human; the agent can transfer at any time."
    low_confidence: tuple[str, ...] = ()
    """Outputs (``asr``, ``intent``, ``sentiment``, ``flags``, ``summary``) judged low-confidence."""


@dataclass(frozen=True, slots=True)
class KBSuggestion:
    article_id: str
    title: str
    passage: str
    score: float
    url: str | None = None


@dataclass(frozen=True, slots=True)
class QAItem:
    id: str
    label: str
    result: Literal["pass", "fail", "n/a"]
    turns: tuple[int, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class QAResult:
    score: float | None
    items: tuple[QAItem, ...]
    scorecard: str = "default"


@dataclass(frozen=True)
class Analysis:
    """The whole analysis document of one call."""

    call_id: str
    duration_s: float
    language: str
    channel_map: ChannelMap | None
    transcript: Transcript
    intent: IntentResult | None = None
    sentiment: SentimentResult | None = None
    flags: tuple[Flag, ...] = ()
    summary: Summary | None = None
    escalation: Escalation | None = None
    kb_suggestions: tuple[KBSuggestion, ...] = ()
    qa: QAResult | None = None
    metrics: Metrics | None = None
    pii: tuple[PiiSpan, ...] = ()
    low_confidence: tuple[str, ...] = field(default_factory=tuple)
    """Names of outputs the guardrail judged low-confidence."""

    def to_dict(self) -> dict[str, Any]:
        """The analysis JSON document (stable top-level keys)."""
        doc: dict[str, Any] = {
            "call_id": self.call_id,
            "duration_s": round(self.duration_s, 3),
            "language": self.language,
            "channel_map": to_jsonable(self.channel_map),
            "transcript": {
                "channels": self.transcript.channels,
                "turns": to_jsonable(self.transcript.turns),
            },
            "intent": to_jsonable(self.intent),
            "sentiment": to_jsonable(self.sentiment),
            "flags": to_jsonable(self.flags),
            "summary": to_jsonable(self.summary),
            "escalation": to_jsonable(self.escalation),
            "kb_suggestions": to_jsonable(self.kb_suggestions),
            "qa": to_jsonable(self.qa),
            "metrics": to_jsonable(self.metrics),
            "pii": to_jsonable(self.pii),
            "low_confidence": list(self.low_confidence),
        }
        return doc


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, tuples and enums into JSON-ready values."""
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value
