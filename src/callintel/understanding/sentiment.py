"""Sentiment per turn, per speaker, and the customer's trend over the call.

Any ``Classifier`` whose labels map onto negative / neutral / positive works: the packaged
head over sentence embeddings by default, or a local Hugging Face sequence-classification
folder when ``ModelSettings.sentiment_model_dir`` is set. Each turn gets a signed score
(P(positive) − P(negative), in [-1, 1]).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np

from callintel.config import ModelSettings
from callintel.domain import (
    SentimentLabel,
    SentimentResult,
    SentimentTrend,
    Speaker,
    SpeakerSentiment,
    Transcript,
    Turn,
    TurnSentiment,
)
from callintel.errors import ConfigError
from callintel.ml.heads import cached_head, cached_hf_classifier, resolve_head_dir
from callintel.ml.protocols import Classifier, Embedder, FloatArray
from callintel.ml.registry import ModelManager

CANONICAL: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
LABEL_BAND = 0.2
"""Without a neutral class, turn scores beyond ±this are negative / positive; inside, neutral."""
SPEAKER_BAND: dict[str, tuple[float, float]] = {
    "agent": (0.25, 0.25),
    "customer": (0.2, 0.1),
    "unknown": (0.2, 0.1),
}
"""(negative, positive) bands: a speaker's mean score below −negative / above +positive labels
them negative / positive. Customers voice happiness mildly (one warm turn among many neutral
ones), while an agent's apologies and fault reports lean negative without being negative;
measured on the eval dev set."""
UPSET_SCORE = -0.7
UPSET_TURNS = 2
"""A customer with at least this many turns scoring at or below ``UPSET_SCORE`` (clearly upset),
making up at least a quarter of their turns, is negative whatever the mean: two angry or
distressed turns among polite small talk make a negative call."""
TREND_BAND = 0.2
"""A change of the customer's score by more than this is a trend."""
_STARS = re.compile(r"^([1-5])\s*stars?$")


def canonical_label(name: str, *, index: int, count: int) -> SentimentLabel:
    """Map a model's label name (``NEGATIVE``, ``LABEL_2``, ``4 stars``...) onto ours."""
    low = name.strip().lower()
    for label in CANONICAL:
        if low.startswith(label[:3]):
            return label
    stars = _STARS.match(low)
    if stars:
        value = int(stars.group(1))
        return "negative" if value <= 2 else "neutral" if value == 3 else "positive"
    if low.startswith("label_") and count in (2, 3):
        order: tuple[SentimentLabel, ...] = ("negative", "positive") if count == 2 else CANONICAL
        return order[index]
    raise ConfigError(f"sentiment model label '{name}' is not negative/neutral/positive", label=name)


def _label_of(score: float, band: float = LABEL_BAND) -> SentimentLabel:
    return "positive" if score > band else "negative" if score < -band else "neutral"


class SentimentModel:
    """Scores turns with a classifier whose labels map onto negative/neutral/positive."""

    def __init__(self, classifier: Classifier, *, low_confidence: float = 0.55) -> None:
        self.classifier = classifier
        self.low_confidence = low_confidence
        count = len(classifier.labels)
        mapped = [canonical_label(n, index=i, count=count) for i, n in enumerate(classifier.labels)]
        # projection from the model's columns onto (negative, neutral, positive)
        self._project = np.zeros((count, 3), dtype=np.float32)
        for i, label in enumerate(mapped):
            self._project[i, CANONICAL.index(label)] = 1.0
        self._has_neutral = "neutral" in mapped

    @classmethod
    def load(
        cls, *, models: ModelManager, embedder: Embedder, settings: ModelSettings, version: str | None = None
    ) -> SentimentModel:
        """The configured Hugging Face folder, else the ACTIVE or latest retrained head under
        ``settings.resolved_heads_dir()``, else the packaged head."""
        if settings.sentiment_model_dir is not None:
            classifier: Classifier = cached_hf_classifier(models, settings.sentiment_model_dir)
        else:
            folder = resolve_head_dir("sentiment", heads_dir=settings.resolved_heads_dir(), version=version)
            classifier = cached_head(models, folder, embedder=embedder)
        return cls(classifier, low_confidence=settings.low_confidence)

    def probabilities(self, texts: Sequence[str]) -> FloatArray:
        """Rows of (negative, neutral, positive) probabilities."""
        cleaned = [t if t.strip() else "okay" for t in texts]
        return np.asarray(self.classifier.predict_proba(cleaned) @ self._project, dtype=np.float32)

    def _turn(self, row: FloatArray, *, turn: int, speaker: Speaker) -> TurnSentiment:
        score = float(row[2] - row[0])
        label: SentimentLabel = CANONICAL[int(row.argmax())]
        if not self._has_neutral:
            label = _label_of(score)
        return TurnSentiment(turn, speaker, label, round(score, 4), round(float(row.max()), 4))

    def score_text(self, text: str, *, turn: int = 0, speaker: Speaker = "unknown") -> TurnSentiment:
        """Sentiment of one utterance (live assist)."""
        return self._turn(self.probabilities([text])[0], turn=turn, speaker=speaker)

    def analyze(self, transcript: Transcript) -> SentimentResult:
        """Per-turn sentiment, each speaker's average, and the customer's trend."""
        turns = transcript.turns
        version = self.classifier.version
        if not turns:
            return SentimentResult((), {}, None, low_confidence=True, model_version=version)
        rows = self.probabilities([t.text for t in turns])
        scored = tuple(
            self._turn(row, turn=t.index, speaker=t.speaker) for t, row in zip(turns, rows, strict=True)
        )
        mean_conf = float(np.mean([s.confidence for s in scored]))
        return SentimentResult(
            turns=scored,
            by_speaker=_by_speaker(scored),
            trend=_trend(transcript, scored),
            low_confidence=mean_conf < self.low_confidence,
            model_version=version,
        )


def _speaker_label(speaker: str, scores: Sequence[float]) -> SentimentLabel:
    """The mean against the role's bands; customers (and unknown) are also negative when clearly
    upset in several turns."""
    if speaker != "agent":
        upset = sum(1 for s in scores if s <= UPSET_SCORE)
        if upset >= UPSET_TURNS and upset * 4 >= len(scores):
            return "negative"
    mean = float(np.mean(scores))
    negative, positive = SPEAKER_BAND[speaker]
    return "positive" if mean > positive else "negative" if mean < -negative else "neutral"


def _by_speaker(scored: Sequence[TurnSentiment]) -> dict[str, SpeakerSentiment]:
    """Each speaker's mean signed score and label (see ``_speaker_label``)."""
    out: dict[str, SpeakerSentiment] = {}
    for speaker in ("agent", "customer", "unknown"):
        scores = [s.score for s in scored if s.speaker == speaker]
        if scores:
            mean = float(np.mean(scores))
            out[speaker] = SpeakerSentiment(_speaker_label(speaker, scores), round(mean, 4), len(scores))
    return out


def _quarters(turns: Sequence[Turn], duration: float) -> tuple[list[int], list[int]]:
    """Positions (in ``turns``) in the first and last quarter of the call's time, else of its turns."""
    if duration > 0:
        mids = [(t.start + t.end) / 2 for t in turns]
        first = [i for i, m in enumerate(mids) if m <= duration / 4]
        last = [i for i, m in enumerate(mids) if m >= 3 * duration / 4]
        if first and last:
            return first, last
    k = max(1, math.ceil(len(turns) / 4))
    return list(range(k)), list(range(len(turns) - k, len(turns)))


def _trend(transcript: Transcript, scored: Sequence[TurnSentiment]) -> SentimentTrend | None:
    """The customer's (else everyone's, on unlabelled calls) first vs last quarter."""
    has_customer = any(t.speaker == "customer" for t in transcript.turns)
    picked = [
        (t, s)
        for t, s in zip(transcript.turns, scored, strict=True)
        if t.speaker == "customer" or not has_customer
    ]
    if len(picked) < 2:
        return None
    end_time = max(transcript.duration_s, max(t.end for t, _ in picked))
    first, last = _quarters([t for t, _ in picked], end_time)
    start = float(np.mean([picked[i][1].score for i in first]))
    end = float(np.mean([picked[i][1].score for i in last]))
    delta = end - start
    direction: Literal["improving", "worsening", "stable"] = (
        "improving" if delta > TREND_BAND else "worsening" if delta < -TREND_BAND else "stable"
    )
    return SentimentTrend(round(start, 4), round(end, 4), round(delta, 4), direction)
