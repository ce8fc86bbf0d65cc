"""A copy of a call's audio with the PII spans silenced, as a 16-bit PCM WAV."""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence

import numpy as np

from callintel.audio.decode import DecodedAudio
from callintel.domain import PiiSpan, Transcript

#: Silence a little around each span: word timestamps are approximate.
PAD_S = 0.15


def silence_spans(
    audio: DecodedAudio, spans: Sequence[PiiSpan], *, transcript: Transcript, pad_s: float = PAD_S
) -> bytes:
    """WAV bytes (``audio.sample_rate``, same channels) with each span zeroed on its speaker's channel.

    A span's channel is the channel of its turn (mono audio: channel 0); a span whose turn is
    unknown is silenced on every channel, since leaking PII is worse than losing audio.
    """
    channels = [np.array(c, dtype=np.float32, copy=True) for c in audio.channels]
    channel_of = {t.index: t.channel for t in transcript.turns}
    rate = audio.sample_rate
    for span in spans:
        first = max(0, int((span.start - pad_s) * rate))
        last = min(len(channels[0]), int(np.ceil((span.end + pad_s) * rate)))
        if last <= first:
            continue
        for index in _targets(channel_of.get(span.turn, -1), count=len(channels)):
            channels[index][first:last] = 0.0
    return to_wav(channels, sample_rate=rate)


def _targets(channel: int | None, *, count: int) -> range:
    if channel is None:
        return range(0, 1)
    if 0 <= channel < count:
        return range(channel, channel + 1)
    return range(count)


def to_wav(channels: Sequence[np.ndarray], *, sample_rate: int) -> bytes:
    """Interleave float channels in [-1, 1] into a 16-bit PCM WAV."""
    stacked = np.stack([np.asarray(c, dtype=np.float32) for c in channels], axis=1)
    pcm = (np.clip(stacked, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()
