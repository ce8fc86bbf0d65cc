"""The whole pipeline's redacted audio copy: the spoken account number is silenced on the
customer's channel only, and everything else is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callintel.audio.decode import AudioLimits, decode_audio
from callintel.pipeline import AnalyzeOptions, analyze_call

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "src/callintel/resources/examples/example_call.wav"


def test_pii_is_silenced_on_the_speakers_channel(analyzers: Any) -> None:
    result = analyze_call(EXAMPLE, analyzers=analyzers, options=AnalyzeOptions(call_id="redact"))
    assert result.redacted_audio is not None
    original = decode_audio(EXAMPLE, limits=AudioLimits())
    redacted = decode_audio(result.redacted_audio, limits=AudioLimits())
    assert len(redacted.channels) == 2
    assert abs(redacted.duration_s - original.duration_s) < 0.01
    spans = [s for s in result.analysis.pii if s.kind == "number"]
    assert spans, "the customer's account number was not found as PII"
    muted = np.zeros(len(original.channels[1]), dtype=bool)
    for span in spans:
        turn = result.raw_transcript.turns[span.turn]
        assert turn.speaker == "customer" and turn.channel == 1
        first, last = int(span.start * 16000), int(span.end * 16000)
        assert np.max(np.abs(original.channels[1][first:last])) > 0.05  # there was speech
        assert np.max(np.abs(redacted.channels[1][first:last])) == 0.0
        muted[max(0, first - 4000) : last + 4000] = True
    # The agent side and the rest of the customer side are untouched (16-bit rounding aside).
    assert np.allclose(redacted.channels[0], original.channels[0], atol=1e-3)
    assert np.allclose(redacted.channels[1][~muted], original.channels[1][~muted], atol=1e-3)
