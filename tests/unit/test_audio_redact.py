"""Silencing PII spans in a copy of the audio, on the speaker's own channel."""

from __future__ import annotations

import io
import wave

import numpy as np

from callintel.audio.decode import AudioLimits, DecodedAudio, decode_audio
from callintel.audio.redact import PAD_S, silence_spans
from callintel.domain import ChannelMap, PiiSpan, Transcript, Turn


def _audio(channels: int, seconds: float = 4.0) -> DecodedAudio:
    n = int(seconds * 16000)
    signals = tuple(np.full(n, 0.5, dtype=np.float32) for _ in range(channels))
    return DecodedAudio(channels=signals, sample_rate=16000, duration_s=seconds, source_channels=channels,
                        source_rate=16000, codec="pcm_s16le")


def _transcript(channel: int | None, channels: int) -> Transcript:
    turn = Turn(index=0, speaker="customer" if channel == 1 else "unknown", start=0.5, end=3.0,
                text="my card is 4111", channel=channel)
    return Transcript(turns=(turn,), language="en", duration_s=4.0, channels=channels,
                      channel_map=ChannelMap() if channels == 2 else None)


def _read(wav: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getsampwidth() == 2
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return w.getframerate(), frames.reshape(-1, w.getnchannels()).astype(np.float32) / 32767


SPAN = PiiSpan(turn=0, kind="card", start=1.0, end=2.0, char_start=11, char_end=15)


def test_span_is_silenced_on_the_speakers_channel_only() -> None:
    rate, samples = _read(silence_spans(_audio(2), [SPAN], transcript=_transcript(1, 2)))
    assert rate == 16000
    assert samples.shape == (64000, 2)
    first, last = int((1.0 - PAD_S) * rate), int((2.0 + PAD_S) * rate)
    assert np.all(samples[first:last, 1] == 0)
    assert np.allclose(samples[:, 0], 0.5, atol=1e-3)  # the agent side is untouched
    assert np.allclose(samples[: first - 1, 1], 0.5, atol=1e-3)
    assert np.allclose(samples[last + 1 :, 1], 0.5, atol=1e-3)


def test_mono_uses_channel_zero_and_keeps_the_original() -> None:
    audio = _audio(1)
    _, samples = _read(silence_spans(audio, [SPAN], transcript=_transcript(None, 1)))
    assert samples.shape == (64000, 1)
    assert np.all(samples[16000:32000, 0] == 0)
    assert np.all(audio.channels[0] == 0.5)  # a copy was redacted


def test_unknown_turn_silences_every_channel() -> None:
    span = PiiSpan(turn=9, kind="card", start=1.0, end=2.0, char_start=0, char_end=4)
    _, samples = _read(silence_spans(_audio(2), [span], transcript=_transcript(1, 2)))
    assert np.all(samples[16000:32000] == 0)


def test_real_call_roundtrips_through_the_decoder(fixtures_dir) -> None:  # type: ignore[no-untyped-def]
    audio = decode_audio(fixtures_dir / "audio" / "stereo_8k_mulaw.wav", limits=AudioLimits())
    wav = silence_spans(audio, [], transcript=_transcript(1, 2))
    again = decode_audio(wav, limits=AudioLimits())
    assert len(again.channels) == 2
    assert again.duration_s == audio.duration_s
    assert np.allclose(again.channels[0], audio.channels[0], atol=1e-3)
