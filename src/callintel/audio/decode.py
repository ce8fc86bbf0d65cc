"""Decode any audio FFmpeg reads into 16 kHz float32 mono signals, one per channel.

PyAV (bundled FFmpeg) reads WAV PCM, G.711 mu-law/A-law, MP3, OGG/Opus, FLAC, M4A/AAC and more,
at any sample rate. Stereo calls keep their two channels apart (agent and customer are usually
recorded on separate sides); anything with more than two channels is refused.

Every failure is a typed ``AudioError`` with a stable code; nothing here raises a library error,
and limits are checked before and during decoding so a hostile file cannot run for hours.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from callintel.config import AudioSettings
from callintel.errors import (
    AudioChannels,
    AudioEmpty,
    AudioNoSamples,
    AudioTooLarge,
    AudioTooLong,
    AudioUnreadable,
)

Samples = npt.NDArray[np.float32]

#: Channels whose samples differ by less than this everywhere are one signal copied twice.
_DUPLICATE_TOLERANCE = 1e-3
#: Decoding errors tolerated (skipped frames) before a file is called unreadable.
_MAX_BAD_FRAMES = 50


@dataclass(frozen=True, slots=True)
class AudioLimits:
    """What a recording may be: at most ``max_duration_s`` long and ``max_bytes`` big."""

    max_duration_s: float = 4 * 3600.0
    max_bytes: int = 512 * 1024 * 1024
    sample_rate: int = 16000

    @classmethod
    def from_settings(cls, settings: AudioSettings) -> AudioLimits:
        return cls(
            max_duration_s=settings.max_duration_s,
            max_bytes=settings.max_bytes,
            sample_rate=settings.sample_rate,
        )


@dataclass(frozen=True, slots=True, eq=False)  # arrays have no single truth value: compare by identity
class DecodedAudio:
    """Decoded audio: one float32 mono signal per channel, all at ``sample_rate``."""

    channels: tuple[Samples, ...]
    sample_rate: int
    duration_s: float
    source_channels: int
    source_rate: int
    codec: str

    @property
    def is_stereo(self) -> bool:
        return len(self.channels) == 2

    def mono(self) -> Samples:
        """All channels mixed down to one signal."""
        if len(self.channels) == 1:
            return self.channels[0]
        mixed: Samples = np.mean(np.stack(self.channels), axis=0).astype(np.float32)
        return mixed


def decode_audio(data: bytes | Path, *, limits: AudioLimits) -> DecodedAudio:
    """Decode ``data`` (the file's bytes, or a path) within ``limits``.

    Raises ``AudioEmpty``, ``AudioTooLarge``, ``AudioUnreadable``, ``AudioChannels``,
    ``AudioTooLong`` or ``AudioNoSamples``.
    """
    source = _open_source(data, limits=limits)
    try:
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            return _decode_container(container, limits=limits)
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        # FFmpegError subclasses ValueError/OSError; a typed AudioError raised inside passes through.
        raise AudioUnreadable(f"not a readable audio file: {_reason(exc)}") from exc


def _open_source(data: bytes | Path, *, limits: AudioLimits) -> io.BytesIO | str:
    if isinstance(data, Path):
        try:
            size = data.stat().st_size
        except OSError as exc:
            raise AudioUnreadable(f"cannot read {data.name}: {exc.strerror}") from exc
        _check_size(size, limits=limits)
        return str(data)
    _check_size(len(data), limits=limits)
    return io.BytesIO(data)


def _check_size(size: int, *, limits: AudioLimits) -> None:
    if size == 0:
        raise AudioEmpty("the audio file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise AudioTooLarge(
            f"the audio file is {size} bytes; the limit is {limits.max_bytes}",
            size=size, limit=limits.max_bytes,
        )


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[0].strip() or type(exc).__name__


def _decode_container(container: Any, *, limits: AudioLimits) -> DecodedAudio:
    if not container.streams.audio:
        raise AudioUnreadable("the file has no audio stream")
    stream = container.streams.audio[0]
    n_channels = int(stream.codec_context.channels or 0)
    if n_channels > 2:
        raise AudioChannels(
            f"the audio has {n_channels} channels; at most 2 (agent and customer) are supported",
            channels=n_channels,
        )
    _check_duration(container_duration(container, stream), limits=limits)
    layout = "mono" if n_channels == 1 else "stereo"
    signals = _decode_samples(container, stream, layout=layout, limits=limits)
    if signals.shape[1] == 0:
        raise AudioNoSamples("the audio file contains no samples")
    channels = _split(signals)
    return DecodedAudio(
        channels=channels,
        sample_rate=limits.sample_rate,
        duration_s=signals.shape[1] / limits.sample_rate,
        source_channels=n_channels or signals.shape[0],
        source_rate=int(stream.codec_context.sample_rate or stream.rate or 0),
        codec=str(stream.codec_context.name),
    )


def probe_duration(path: Path) -> float | None:
    """Declared duration of an audio file from its header, without decoding; None if unknown
    or unreadable (``decode_audio`` reports the error properly)."""
    return probe(path)[0]


def probe(path: Path) -> tuple[float | None, int]:
    """Declared ``(duration in seconds or None, channel count)`` from the header, without decoding;
    ``(None, 0)`` for anything unreadable."""
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                return None, 0
            stream = container.streams.audio[0]
            return container_duration(container, stream), int(stream.codec_context.channels or 0)
    except (av.error.FFmpegError, ValueError, OSError, EOFError):
        return None, 0


def container_duration(container: Any, stream: Any) -> float | None:
    """Duration the container or stream header declares, in seconds, if any."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / float(av.time_base)
    return None


def _check_duration(seconds: float | None, *, limits: AudioLimits) -> None:
    if seconds is not None and seconds > limits.max_duration_s:
        raise AudioTooLong(
            f"the audio lasts {seconds:.0f} s; the limit is {limits.max_duration_s:.0f} s",
            duration_s=round(seconds, 1), limit_s=limits.max_duration_s,
        )


def _decode_samples(container: Any, stream: Any, *, layout: str, limits: AudioLimits) -> Samples:
    """Resampled planar float32 samples, shape ``(channels, n)``; stops as soon as the audio
    proves longer than allowed, whatever the header said."""
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=limits.sample_rate)
    max_samples = int(limits.max_duration_s * limits.sample_rate) + limits.sample_rate
    width = 1 if layout == "mono" else 2
    chunks: list[Samples] = []
    total = 0
    for frame in _frames(container, stream):
        for out in resampler.resample(frame):
            chunk = np.asarray(out.to_ndarray(), dtype=np.float32).reshape(width, -1)
            chunks.append(chunk)
            total += chunk.shape[1]
        if total > max_samples:
            _check_duration(total / limits.sample_rate, limits=limits)
    for out in resampler.resample(None):
        chunks.append(np.asarray(out.to_ndarray(), dtype=np.float32).reshape(width, -1))
    if not chunks:
        return np.zeros((width, 0), dtype=np.float32)
    return np.clip(np.concatenate(chunks, axis=1), -1.0, 1.0)


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    """Decoded frames, skipping isolated corrupt packets the way media players do."""
    bad = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
            frames = packet.decode()
        except StopIteration:
            return
        except av.error.InvalidDataError:
            bad += 1
            if bad > _MAX_BAD_FRAMES:
                raise
            continue
        for frame in frames:
            frame.pts = None  # the resampler need not check timestamps
            yield frame


def _split(signals: Samples) -> tuple[Samples, ...]:
    """One contiguous array per channel; a stereo file carrying one signal twice becomes mono."""
    if signals.shape[0] == 2:
        left, right = signals[0], signals[1]
        if float(np.max(np.abs(left - right))) < _DUPLICATE_TOLERANCE:
            return (np.ascontiguousarray(left),)
        return (np.ascontiguousarray(left), np.ascontiguousarray(right))
    return (np.ascontiguousarray(signals[0]),)
