"""Channels → ordered, speaker-attributed turns.

Stereo calls carry one speaker per channel: each channel is transcribed on its own (VAD on, so the
other side's talk and the silence are skipped) and labelled with its role from the channel map.
Whisper segments are NOT turns: one segment can span several voice-activity chunks, i.e. several
turns of one speaker with the other speaker talking in between, and sorting segments by start
then interleaves the speakers wrongly. So the words of each channel are split into turns where
the gap between two words is long, or where the other side speaks inside the gap; the turns of
all channels are then sorted by start.

Guards against Whisper's failure modes on phone audio: segments with a high no-speech
probability and no confident decoding are dropped, and so are repetition loops (a segment whose
text compresses too well, or a short word sequence repeated back to back), which Whisper
produces on silence, noise and hold music.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from callintel.audio.decode import AudioLimits, DecodedAudio, decode_audio
from callintel.config import AsrSettings, AudioSettings
from callintel.domain import ChannelMap, Speaker, Transcript, Turn, Word
from callintel.ml.protocols import AsrResult, AsrSegment, AsrWord, TranscribeOptions, Transcriber

_TOKEN = re.compile(r"[^\w']+")
_WORDLIKE = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class TurnOptions:
    """How segments become turns, and which segments are distrusted."""

    turn_gap_s: float = 1.0
    no_speech_threshold: float = 0.6
    min_avg_logprob: float = -1.2
    max_compression_ratio: float = 2.4
    max_ngram_repeats: int = 4
    #: A segment decoded this confidently is kept even when its no-speech probability is high.
    #: (No-speech probability is per 30 s window and runs 0.6-0.75 on real noisy 8 kHz speech
    #: decoded at -0.5 to -0.65; Whisper's hallucinations on hold music sit near -0.9.)
    confident_logprob: float = -0.8

    @classmethod
    def from_settings(cls, settings: AsrSettings) -> TurnOptions:
        return cls(
            turn_gap_s=settings.turn_gap_s,
            no_speech_threshold=settings.no_speech_threshold,
            min_avg_logprob=settings.min_avg_logprob,
            max_compression_ratio=settings.max_compression_ratio,
            max_ngram_repeats=settings.max_ngram_repeats,
        )


@dataclass(frozen=True, slots=True)
class _Draft:
    channel: int
    speaker: Speaker
    words: tuple[AsrWord, ...]


def transcribe_audio(
    audio: DecodedAudio,
    transcriber: Transcriber,
    *,
    channel_map: ChannelMap,
    options: TranscribeOptions,
    turns: TurnOptions,
) -> Transcript:
    """Transcribe every channel of ``audio`` and merge the channels into ordered turns."""
    stereo = audio.is_stereo
    results = [transcriber.transcribe(samples, options=options) for samples in audio.channels]
    words = [kept_words(r.segments, options=turns) for r in results]
    drafts: list[_Draft] = []
    for channel, channel_words in enumerate(words):
        others = sorted(w.start for c, ws in enumerate(words) if c != channel for w in ws)
        speaker: Speaker = channel_map.role(channel) if stereo else "unknown"
        for group in split_turns(channel_words, gap_s=turns.turn_gap_s, other_starts=others):
            drafts.append(_Draft(channel=channel, speaker=speaker, words=group))
    drafts.sort(key=lambda d: (d.words[0].start, d.channel))
    return Transcript(
        turns=tuple(_turn(i, d) for i, d in enumerate(drafts)),
        language=_language(results, words, default=options.language),
        duration_s=audio.duration_s,
        channels=len(audio.channels),
        channel_map=channel_map if stereo else None,
    )


def transcribe_recording(
    data: bytes | Path,
    transcriber: Transcriber,
    *,
    audio: AudioSettings,
    asr: AsrSettings,
    channel_map: ChannelMap,
    language: str | None,
) -> tuple[DecodedAudio, Transcript]:
    """Decode a recording within the audio limits and transcribe it with the ASR settings."""
    decoded = decode_audio(data, limits=AudioLimits.from_settings(audio))
    transcript = transcribe_audio(
        decoded, transcriber, channel_map=channel_map,
        options=TranscribeOptions(language=language, beam_size=asr.beam_size),
        turns=TurnOptions.from_settings(asr),
    )
    return decoded, transcript


def kept_words(segments: Sequence[AsrSegment], *, options: TurnOptions) -> tuple[AsrWord, ...]:
    """The words of the segments that pass the guards, loops collapsed, in time order."""
    kept: list[AsrWord] = []
    for segment in segments:
        if not is_trusted(segment, options=options):
            continue
        words = list(segment.words) or [_segment_as_word(segment)]
        collapsed = collapse_loops(words, max_repeats=options.max_ngram_repeats)
        if len(collapsed) * 2 < len(words):
            continue  # mostly a loop: nothing in it is trustworthy
        kept.extend(w for w in collapsed if _WORDLIKE.search(w.word))  # not bare punctuation
    return tuple(kept)


def is_trusted(segment: AsrSegment, *, options: TurnOptions) -> bool:
    """False for segments that are most likely silence, noise or a repetition loop."""
    if segment.compression_ratio > options.max_compression_ratio:
        return False
    if segment.avg_logprob < options.min_avg_logprob:
        return False
    silent = segment.no_speech_prob > options.no_speech_threshold
    return not (silent and segment.avg_logprob < options.confident_logprob)


def collapse_loops(words: Sequence[AsrWord], *, max_repeats: int) -> list[AsrWord]:
    """Keep one copy of any 1- to 4-word sequence repeated back to back more than ``max_repeats`` times."""
    out = list(words)
    while (loop := _find_loop([_norm(w.word) for w in out], max_repeats=max_repeats)) is not None:
        start, size, count = loop
        out = out[: start + size] + out[start + size * count :]
    return out


def _find_loop(tokens: Sequence[str], *, max_repeats: int) -> tuple[int, int, int] | None:
    for size in range(1, 5):
        for start in range(len(tokens) - size * (max_repeats + 1) + 1):
            gram = tokens[start : start + size]
            count = 1
            while tokens[start + size * count : start + size * (count + 1)] == gram:
                count += 1
            if count > max_repeats:
                return start, size, count
    return None


def split_turns(
    words: Sequence[AsrWord], *, gap_s: float, other_starts: Sequence[float] = ()
) -> list[tuple[AsrWord, ...]]:
    """Split one speaker's words where the pause is longer than ``gap_s`` or where another speaker
    starts a word inside the pause (``other_starts`` sorted)."""
    groups: list[list[AsrWord]] = []
    for word in words:
        if groups and not _breaks(groups[-1][-1], word, gap_s=gap_s, other_starts=other_starts):
            groups[-1].append(word)
        else:
            groups.append([word])
    return [tuple(g) for g in groups]


def _breaks(prev: AsrWord, word: AsrWord, *, gap_s: float, other_starts: Sequence[float]) -> bool:
    if word.start - prev.end > gap_s:
        return True
    i = bisect.bisect_left(other_starts, prev.end)
    return i < len(other_starts) and other_starts[i] < word.start


def _turn(index: int, draft: _Draft) -> Turn:
    words = tuple(Word(word=w.word.strip(), start=w.start, end=w.end, probability=w.probability)
                  for w in draft.words)
    text = " ".join(w.word for w in words)
    return Turn(
        index=index, speaker=draft.speaker, start=words[0].start, end=words[-1].end, text=text,
        words=words, confidence=sum(w.probability for w in words) / len(words), channel=draft.channel,
    )


def _segment_as_word(segment: AsrSegment) -> AsrWord:
    """Segments decoded without word timestamps become one timed chunk."""
    return AsrWord(word=segment.text, start=segment.start, end=segment.end,
                   probability=math.exp(segment.avg_logprob))


def _norm(token: str) -> str:
    return _TOKEN.sub("", token.lower())


def _language(
    results: Sequence[AsrResult], words: Sequence[Sequence[AsrWord]], *, default: str | None
) -> str:
    """The language of the channel with the most speech."""
    if default is not None and default.strip().lower() in ("", "auto"):
        default = None
    if not results:
        return default or "en"
    best = max(range(len(results)), key=lambda i: (len(words[i]), results[i].language_probability))
    if not words[best] and default:
        return default
    return results[best].language or default or "en"
