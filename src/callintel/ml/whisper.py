"""faster-whisper backend for the ``Transcriber`` protocol (CTranslate2 on CPU)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from callintel.errors import InvalidInput, ModelNotFound
from callintel.ml.protocols import AsrResult, AsrSegment, AsrWord, FloatArray, TranscribeOptions

#: Shortest signal worth decoding; below it Whisper only invents text.
_MIN_SAMPLES = 1600  # 0.1 s at 16 kHz
#: Silero VAD speech threshold. The library default (0.5) clips short, quiet phone-band (8 kHz)
#: replies ("Okay.", "Perfect, goodbye."); 0.35 cut per-speaker WER on the stereo fixtures from
#: 0.21 to 0.13 with tiny.en, and hold music still yields no turns (tests/integration/test_asr.py).
VAD_THRESHOLD = 0.35

#: Set by a caller that shows progress (the CLI): called with the end time, in seconds of the
#: signal being transcribed, of each segment as it is decoded.
asr_progress: ContextVar[Callable[[float], None] | None] = ContextVar("asr_progress", default=None)


class WhisperTranscriber:
    """One loaded Whisper model. Thread-safe: concurrent calls take turns on the model."""

    def __init__(
        self,
        model_dir: Path,
        *,
        name: str,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        multilingual: bool = False,
    ) -> None:
        from faster_whisper import WhisperModel

        if not (model_dir / "model.bin").is_file():
            raise ModelNotFound(f"no Whisper model in {model_dir}", path=str(model_dir))
        self.name = name
        self.multilingual = multilingual
        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads,
            local_files_only=True,
        )
        self._lock = threading.Lock()

    def transcribe(self, samples: FloatArray, *, options: TranscribeOptions) -> AsrResult:
        """Timed words for one mono 16 kHz float32 signal."""
        language = self._language(options.language)
        if samples.size < _MIN_SAMPLES or not np.any(samples):
            return AsrResult(segments=(), language=language or "en", language_probability=0.0)
        with self._lock:
            segments, info = self._model.transcribe(
                np.ascontiguousarray(samples, dtype=np.float32),
                language=language,
                beam_size=options.beam_size,
                vad_filter=options.vad_filter,
                vad_parameters={"threshold": VAD_THRESHOLD} if options.vad_filter else None,
                word_timestamps=options.word_timestamps,
                # Conditioning on earlier text lets one mistake loop for minutes on phone audio.
                condition_on_previous_text=False,
            )
            decoded = _consume(segments, report=asr_progress.get())  # the generator runs the model
        return AsrResult(
            segments=decoded, language=str(info.language),
            language_probability=float(info.language_probability),
        )

    def _language(self, requested: str | None) -> str | None:
        if requested is not None and requested.strip().lower() in ("", "auto"):
            requested = None  # detect
        if self.multilingual:
            return requested
        if requested not in (None, "en"):
            raise InvalidInput(
                f"model {self.name} transcribes English only; choose the multilingual 'base' model "
                f"for language '{requested}'",
                language=requested, model=self.name,
            )
        return "en"


def _consume(segments: Any, *, report: Callable[[float], None] | None) -> tuple[AsrSegment, ...]:
    decoded: list[AsrSegment] = []
    for raw in segments:
        decoded.append(_segment(raw))
        if report is not None:
            report(decoded[-1].end)
    return tuple(decoded)


def _segment(segment: Any) -> AsrSegment:
    words = tuple(
        AsrWord(word=w.word, start=float(w.start), end=float(w.end), probability=float(w.probability))
        for w in (segment.words or ())
    )
    return AsrSegment(
        start=float(segment.start), end=float(segment.end), text=str(segment.text).strip(),
        words=words, avg_logprob=float(segment.avg_logprob),
        no_speech_prob=float(segment.no_speech_prob),
        compression_ratio=float(segment.compression_ratio),
    )
