"""Small interfaces every model backend implements. Callers depend on these, never on a library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class AsrWord:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class AsrSegment:
    """One decoded segment, times in seconds from the start of the audio given."""

    start: float
    end: float
    text: str
    words: tuple[AsrWord, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass(frozen=True, slots=True)
class AsrResult:
    segments: tuple[AsrSegment, ...]
    language: str
    language_probability: float


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    language: str | None = "en"
    beam_size: int = 5
    vad_filter: bool = True
    word_timestamps: bool = True


@runtime_checkable
class Transcriber(Protocol):
    """Speech to timed words for one mono 16 kHz float32 signal."""

    name: str

    def transcribe(self, samples: FloatArray, *, options: TranscribeOptions) -> AsrResult: ...


@runtime_checkable
class Embedder(Protocol):
    """Text to L2-normalised vectors."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> FloatArray: ...


@runtime_checkable
class Classifier(Protocol):
    """Texts to a probability per label (rows sum to 1)."""

    name: str
    version: str
    labels: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str]) -> FloatArray: ...
