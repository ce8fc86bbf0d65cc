"""Audio decoding: formats, rates, channel split, limits and every bad-audio case (committed fixtures)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from callintel.audio import decode as decode_module
from callintel.audio.decode import AudioLimits, decode_audio, probe_duration
from callintel.config import AudioSettings
from callintel.errors import AudioError

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
BAD = Path(__file__).resolve().parents[1] / "fixtures" / "bad"
LIMITS = AudioLimits()

BAD_CASES = [
    ("empty.wav", "audio_empty"),
    ("truncated_header.wav", "audio_unreadable"),
    ("truncated.m4a", "audio_unreadable"),
    ("random.bin", "audio_unreadable"),
    ("text.txt", "audio_unreadable"),
    ("three_channels.wav", "audio_channels"),
    ("zero_samples.wav", "audio_no_samples"),
]


@pytest.mark.parametrize(("name", "code"), BAD_CASES)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["path", "bytes"])
def test_bad_audio_gets_typed_error(name: str, code: str, as_bytes: bool) -> None:
    path = BAD / name
    data: bytes | Path = path.read_bytes() if as_bytes else path
    with pytest.raises(AudioError) as caught:
        decode_audio(data, limits=LIMITS)
    assert caught.value.code == code
    assert caught.value.message
    assert caught.value.status in (413, 422)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as caught:
        decode_audio(tmp_path / "nope.wav", limits=LIMITS)
    assert caught.value.code == "audio_unreadable"


@pytest.mark.parametrize("as_bytes", [False, True], ids=["path", "bytes"])
def test_byte_limit(as_bytes: bool) -> None:
    path = AUDIO / "mono_16k.wav"
    limits = AudioLimits(max_bytes=path.stat().st_size - 1)
    with pytest.raises(AudioError) as caught:
        decode_audio(path.read_bytes() if as_bytes else path, limits=limits)
    assert caught.value.code == "audio_too_large"
    assert caught.value.status == 413
    decode_audio(path, limits=AudioLimits(max_bytes=path.stat().st_size))  # exactly at the limit is fine


def test_duration_limit_checked_from_header_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded although the header already proved the audio too long")

    monkeypatch.setattr(decode_module, "_decode_samples", no_decoding)
    with pytest.raises(AudioError) as caught:
        decode_audio(AUDIO / "stereo_16k.wav", limits=AudioLimits(max_duration_s=5.0))
    assert caught.value.code == "audio_too_long"
    assert caught.value.details["limit_s"] == 5.0


def test_duration_limit_checked_while_decoding_when_header_is_silent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(decode_module, "container_duration", lambda container, stream: None)
    with pytest.raises(AudioError) as caught:
        decode_audio(AUDIO / "stereo_16k.wav", limits=AudioLimits(max_duration_s=5.0))
    assert caught.value.code == "audio_too_long"


def test_limits_from_settings() -> None:
    limits = AudioLimits.from_settings(AudioSettings(max_duration_s=60, max_bytes=1000))
    assert (limits.max_duration_s, limits.max_bytes, limits.sample_rate) == (60, 1000, 16000)
    assert AudioLimits.from_settings(AudioSettings()).max_duration_s == 4 * 3600


FORMATS = [
    # file, channels after decoding, source rate, codec
    ("stereo_16k.wav", 2, 16000, "pcm_s16le"),
    ("stereo_8k_mulaw.wav", 2, 8000, "pcm_mulaw"),
    ("mono_16k.wav", 1, 16000, "pcm_s16le"),
    ("mono.mp3", 1, 22050, "mp3"),
    ("mono.opus", 1, 48000, "opus"),
    ("hello_alaw_8k.wav", 1, 8000, "pcm_alaw"),
    ("hello.m4a", 1, 24000, "aac"),
    # stereo FLAC whose two channels carry the same signal: decoded as one channel
    ("hello_44k_stereo.flac", 1, 44100, "flac"),
]


@pytest.mark.parametrize(("name", "channels", "rate", "codec"), FORMATS)
def test_formats_decode_to_16k_float_mono_channels(name: str, channels: int, rate: int, codec: str) -> None:
    audio = decode_audio(AUDIO / name, limits=LIMITS)
    assert len(audio.channels) == channels
    assert audio.sample_rate == 16000
    assert audio.source_rate == rate
    assert audio.codec.startswith(codec)
    declared = probe_duration(AUDIO / name)
    assert declared is not None
    assert audio.duration_s == pytest.approx(declared, abs=0.1)
    for signal in audio.channels:
        assert signal.dtype == np.float32
        assert signal.ndim == 1
        assert len(signal) == round(audio.duration_s * 16000)
        assert 0.05 < float(np.max(np.abs(signal))) <= 1.0


def test_bytes_and_path_decode_identically() -> None:
    path = AUDIO / "stereo_8k_mulaw.wav"
    a = decode_audio(path, limits=LIMITS)
    b = decode_audio(path.read_bytes(), limits=LIMITS)
    assert all(np.array_equal(x, y) for x, y in zip(a.channels, b.channels, strict=True))


def _rms(signal: np.ndarray, start_s: float, end_s: float) -> float:
    part = signal[int(start_s * 16000) : int(end_s * 16000)]
    return float(np.sqrt(np.mean(np.square(part))))


@pytest.mark.parametrize("name", ["stereo_16k.wav", "stereo_8k_mulaw.wav"])
def test_stereo_channels_stay_apart(name: str) -> None:
    # The fixtures open with 0.5 s of silence, then the agent (left) speaks while the right is silent.
    audio = decode_audio(AUDIO / name, limits=LIMITS)
    left, right = audio.channels
    assert audio.source_channels == 2
    assert _rms(left, 0.7, 1.7) > 0.02
    assert _rms(right, 0.7, 1.7) < 0.002
    assert np.allclose(audio.mono(), (left + right) / 2, atol=1e-6)


def test_resampling_keeps_duration_and_content() -> None:
    # 8 kHz mu-law to 16 kHz: twice the samples, same seconds.
    audio = decode_audio(AUDIO / "stereo_8k_mulaw.wav", limits=LIMITS)
    assert audio.source_rate == 8000
    assert len(audio.channels[0]) == round(audio.duration_s * 16000)
    assert audio.duration_s == pytest.approx(probe_duration(AUDIO / "stereo_8k_mulaw.wav") or 0, abs=0.02)


def test_a_generated_wav_roundtrips_exactly() -> None:
    rate, seconds = 16000, 0.5
    tone = (0.25 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((tone * 32767).astype("<i2").tobytes())
    audio = decode_audio(buffer.getvalue(), limits=LIMITS)
    assert audio.duration_s == pytest.approx(seconds)
    assert np.allclose(audio.channels[0], tone, atol=1e-3)
