"""Call driver (intent): why the customer called.

The customer's side is scored piece by piece (each substantive turn, and each pair of
consecutive turns, since Whisper splits one statement into fragments at pauses). Pieces that
the head itself calls ``other`` (greetings, "yes", identity checks) carry little weight; the
opening, where the reason is usually stated, carries a fixed share of the weight however
long the call is. A weak or split result is reported as ``other`` with ``low_confidence``,
never as a confident guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from callintel.config import ModelSettings
from callintel.domain import IntentResult, LabelScore, Transcript, Turn
from callintel.ml.heads import cached_head, resolve_head_dir
from callintel.ml.protocols import Classifier, Embedder, FloatArray
from callintel.ml.registry import ModelManager
from callintel.understanding.training import Example, train_intent

OTHER = "other"
MIN_WORDS = 3
"""Shorter turns ("yes", "okay then") say nothing about the call driver."""
OPENING_TURNS = 4
"""Substantive customer turns that count as the opening."""
OPENING_SHARE = 0.6
"""Share of the weight the opening gets, whatever the call's length."""
SECONDARY_MIN = 0.15
MAX_SECONDARY = 3
MAX_EVIDENCE = 3
MAX_TURNS = 300
"""Customer turns scored at most (the opening is always among them)."""


@dataclass(frozen=True, slots=True)
class _Piece:
    turns: tuple[int, ...]
    text: str
    position: int
    """Order of the piece's first turn among the substantive customer turns."""


@dataclass(frozen=True, slots=True)
class _Scored:
    pieces: tuple[_Piece, ...]
    proba: FloatArray
    weight: FloatArray
    final: dict[str, float]


def _source_turns(transcript: Transcript) -> list[Turn]:
    turns = [t for t in transcript.turns if t.text.strip()]
    customer = [t for t in turns if t.speaker == "customer"]
    chosen = customer or turns  # mono or unlabelled calls: all turns
    substantive = [t for t in chosen if len(t.text.split()) >= MIN_WORDS]
    return (substantive or chosen)[:MAX_TURNS]


def _pieces(turns: Sequence[Turn]) -> list[_Piece]:
    pieces = [_Piece((t.index,), t.text, i) for i, t in enumerate(turns)]
    for i in range(len(turns) - 1):
        a, b = turns[i], turns[i + 1]
        pieces.append(_Piece((a.index, b.index), f"{a.text} {b.text}", i))
    return pieces


def _position_weights(positions: Sequence[int]) -> FloatArray:
    """The opening gets ``OPENING_SHARE`` of the weight, decaying from the first turn (the reason
    is usually the customer's first real sentence); the rest of the call shares the remainder."""
    pos = np.asarray(positions, dtype=np.float32)
    opening = pos < OPENING_TURNS
    decay = np.where(opening, 1.0 / (1.0 + pos), 0.0)
    n_rest = int((~opening).sum())
    share = OPENING_SHARE if n_rest else 1.0
    base = np.where(opening, share * decay / max(float(decay.sum()), 1e-9), (1.0 - share) / max(n_rest, 1))
    return base.astype(np.float32)


class IntentModel:
    """Classifies the call driver with any ``Classifier`` (default: the packaged head)."""

    def __init__(
        self, classifier: Classifier, *, low_confidence: float = 0.55, call_low_confidence: float = 0.45
    ) -> None:
        self.classifier = classifier
        self.labels = tuple(classifier.labels)
        self.low_confidence = low_confidence
        self.call_low_confidence = call_low_confidence
        self._other = self.labels.index(OTHER) if OTHER in self.labels else None

    @classmethod
    def load(
        cls, *, models: ModelManager, embedder: Embedder, settings: ModelSettings, version: str | None = None
    ) -> IntentModel:
        """``version``, else the ACTIVE or latest head under ``settings.resolved_heads_dir()``,
        else the packaged head."""
        folder = resolve_head_dir("intent", heads_dir=settings.resolved_heads_dir(), version=version)
        head = cached_head(models, folder, embedder=embedder)
        return cls(
            head,
            low_confidence=settings.low_confidence,
            call_low_confidence=settings.intent_call_low_confidence,
        )

    @classmethod
    def from_examples(
        cls, examples: Sequence[Example], *, embedder: Embedder, low_confidence: float = 0.55, seed: int = 0
    ) -> IntentModel:
        """A tenant taxonomy: its own labels, trained on its own examples (in-process, seconds)."""
        head, _ = train_intent(examples, embedder=embedder, seed=seed)
        return cls(head, low_confidence=low_confidence)

    def classify(self, transcript: Transcript) -> IntentResult:
        """Intent of one call, citing the customer turns that state it."""
        pieces = _pieces(_source_turns(transcript))
        if not pieces:
            return IntentResult(OTHER, 0.0, low_confidence=True, model_version=self.classifier.version)
        return self._result(self._score(pieces), threshold=self.call_low_confidence)

    def classify_text(self, text: str) -> IntentResult:
        """Intent of one utterance (live assist); ``turns`` stays empty."""
        if not text.strip():
            return IntentResult(OTHER, 0.0, low_confidence=True, model_version=self.classifier.version)
        scored = self._score([_Piece((), text, 0)])
        return self._result(scored, threshold=self.low_confidence)

    def _score(self, pieces: Sequence[_Piece]) -> _Scored:
        proba = self.classifier.predict_proba([p.text for p in pieces])
        base = _position_weights([p.position for p in pieces])
        relevance = np.ones(len(pieces), dtype=np.float32)
        if self._other is not None:
            relevance = (1.0 - proba[:, self._other]).astype(np.float32)
        # decisive pieces ("you charged me twice") outweigh vague ones ("when will that show up")
        driver = proba.copy()
        if self._other is not None:
            driver[:, self._other] = 0.0
        decisive = driver.max(axis=1) / np.maximum(driver.sum(axis=1), 1e-9)
        weight = (base * relevance * decisive**2).astype(np.float32)
        return _Scored(tuple(pieces), proba, weight, self._combine(proba, weight, relevance))

    def _combine(self, proba: FloatArray, weight: FloatArray, relevance: FloatArray) -> dict[str, float]:
        """Mixture: how strongly any piece states a driver, times which driver the pieces state."""
        if float(weight.sum()) <= 1e-6:
            mean = proba.mean(axis=0)
            return {label: float(mean[i]) for i, label in enumerate(self.labels)}
        mix = (weight[:, None] * proba).sum(axis=0) / weight.sum()
        if self._other is None:
            return {label: float(mix[i]) for i, label in enumerate(self.labels)}
        mix[self._other] = 0.0
        mix = mix / max(float(mix.sum()), 1e-9)
        strength = float(relevance.max())
        final = {label: strength * float(mix[i]) for i, label in enumerate(self.labels)}
        final[OTHER] = 1.0 - strength
        return final

    def _result(self, scored: _Scored, *, threshold: float) -> IntentResult:
        best = max(scored.final, key=lambda label: scored.final[label])
        confidence = scored.final[best]
        low = confidence < threshold
        primary = OTHER if low else best
        return IntentResult(
            label=primary,
            confidence=round(confidence, 4),
            secondary=self._secondary(scored, exclude=primary),
            turns=self._evidence(scored, best),
            low_confidence=low,
            model_version=self.classifier.version,
        )

    def _secondary(self, scored: _Scored, *, exclude: str) -> tuple[LabelScore, ...]:
        """Other drivers: strong overall, or clearly stated in at least one piece."""
        top = scored.proba.argmax(axis=1)
        scores: dict[str, float] = {}
        for i, label in enumerate(self.labels):
            stated = scored.proba[top == i, i]
            local = 0.5 * float(stated.max()) if stated.size else 0.0
            scores[label] = max(scored.final[label], local)
        ranked = sorted(
            (
                LabelScore(label, round(s, 4))
                for label, s in scores.items()
                if label != exclude and s >= SECONDARY_MIN
            ),
            key=lambda item: -item.confidence,
        )
        return tuple(ranked[:MAX_SECONDARY])

    def _evidence(self, scored: _Scored, label: str) -> tuple[int, ...]:
        """Turns that state ``label`` most strongly; pairs of turns only when no single turn does."""
        col = self.labels.index(label)
        top = scored.proba.argmax(axis=1)
        stating = [i for i in range(len(scored.pieces)) if top[i] == col]
        singles = [i for i in stating if len(scored.pieces[i].turns) == 1]
        ranked = sorted(
            singles or stating, key=lambda i: -float(scored.proba[i, col] * (scored.weight[i] + 1e-3))
        )
        turns: list[int] = []
        for i in ranked:
            turns.extend(t for t in scored.pieces[i].turns if t not in turns)
        return tuple(sorted(turns[:MAX_EVIDENCE]))
