"""Segments → turns logic with a scripted transcriber (the real model is in tests/integration)."""

from __future__ import annotations

import numpy as np
import pytest

from callintel.audio.decode import DecodedAudio
from callintel.config import AsrSettings
from callintel.domain import ChannelMap
from callintel.ml.protocols import AsrResult, AsrSegment, AsrWord, FloatArray, TranscribeOptions
from callintel.understanding.transcribe import (
    TurnOptions,
    collapse_loops,
    is_trusted,
    kept_words,
    split_turns,
    transcribe_audio,
)

OPTS = TurnOptions()


def words(text: str, start: float, step: float = 0.3) -> tuple[AsrWord, ...]:
    return tuple(
        AsrWord(word=" " + w, start=start + i * step, end=start + i * step + 0.25, probability=0.9)
        for i, w in enumerate(text.split())
    )


def segment(*parts: tuple[str, float], logprob: float = -0.3, no_speech: float = 0.1,
            ratio: float = 1.2) -> AsrSegment:
    ws = tuple(w for text, start in parts for w in words(text, start))
    return AsrSegment(start=ws[0].start, end=ws[-1].end, text=" ".join(t for t, _ in parts), words=ws,
                      avg_logprob=logprob, no_speech_prob=no_speech, compression_ratio=ratio)


class ScriptedTranscriber:
    """Returns a prepared result per channel, recognised by the channel's first sample."""

    name = "scripted"

    def __init__(self, results: dict[int, AsrResult]) -> None:
        self.results = results
        self.calls: list[TranscribeOptions] = []

    def transcribe(self, samples: FloatArray, *, options: TranscribeOptions) -> AsrResult:
        self.calls.append(options)
        return self.results[int(samples[0])]


def audio(channels: int) -> DecodedAudio:
    signals = tuple(np.full(16000 * 20, float(i), dtype=np.float32) for i in range(channels))
    return DecodedAudio(channels=signals, sample_rate=16000, duration_s=20.0, source_channels=channels,
                        source_rate=8000, codec="pcm_mulaw")


def result(*segments: AsrSegment, language: str = "en") -> AsrResult:
    return AsrResult(segments=segments, language=language, language_probability=0.9)


def test_one_whisper_segment_spanning_several_turns_is_split_and_interleaved() -> None:
    # The pitfall: the customer's Whisper segment starts at 2 s but holds two turns (2 s and 8 s);
    # sorting segments would put both customer turns before the agent's 5 s turn.
    agent = result(segment(("hello how can I help", 0.0)), segment(("can I have your number", 5.0)))
    customer = result(segment(("my bill is wrong", 2.0), ("it is four five", 8.0)))
    transcript = transcribe_audio(
        audio(2), ScriptedTranscriber({0: agent, 1: customer}), channel_map=ChannelMap(),
        options=TranscribeOptions(), turns=OPTS,
    )
    assert [(t.speaker, t.text) for t in transcript.turns] == [
        ("agent", "hello how can I help"),
        ("customer", "my bill is wrong"),
        ("agent", "can I have your number"),
        ("customer", "it is four five"),
    ]
    assert [t.index for t in transcript.turns] == [0, 1, 2, 3]
    assert [t.channel for t in transcript.turns] == [0, 1, 0, 1]
    assert transcript.channel_map == ChannelMap()
    assert transcript.channels == 2
    assert transcript.turns[0].confidence == pytest.approx(0.9)
    assert transcript.turns[1].words[0].word == "my"


def test_other_speaker_inside_a_short_pause_splits_the_turn() -> None:
    # 0.6 s pause on the agent side (below turn_gap_s) with the customer's "okay" inside it.
    agent = result(segment(("I see the fee", 0.0), ("I removed it", 1.75)))
    customer = result(segment(("okay", 1.3)))
    transcript = transcribe_audio(
        audio(2), ScriptedTranscriber({0: agent, 1: customer}), channel_map=ChannelMap(),
        options=TranscribeOptions(), turns=OPTS,
    )
    assert [t.text for t in transcript.turns] == ["I see the fee", "okay", "I removed it"]


def test_channel_map_swap_changes_roles_and_is_stated() -> None:
    swapped = ChannelMap(left="customer", right="agent")
    transcript = transcribe_audio(
        audio(2),
        ScriptedTranscriber({0: result(segment(("hi", 0.0))), 1: result(segment(("hello", 2.0)))}),
        channel_map=swapped, options=TranscribeOptions(), turns=OPTS,
    )
    assert [t.speaker for t in transcript.turns] == ["customer", "agent"]
    assert transcript.channel_map == swapped


def test_mono_is_unknown_speaker_without_channel_map() -> None:
    transcript = transcribe_audio(
        audio(1), ScriptedTranscriber({0: result(segment(("one two", 0.0), ("three four", 5.0)))}),
        channel_map=ChannelMap(), options=TranscribeOptions(), turns=OPTS,
    )
    assert {t.speaker for t in transcript.turns} == {"unknown"}
    assert len(transcript.turns) == 2  # split on the long pause
    assert transcript.channel_map is None
    assert transcript.channels == 1


def test_language_comes_from_the_channel_with_most_speech() -> None:
    transcript = transcribe_audio(
        audio(2),
        ScriptedTranscriber({0: result(segment(("hola", 0.0)), language="es"),
                             1: result(segment(("si claro que si", 2.0)), language="es"),
                             }),
        channel_map=ChannelMap(), options=TranscribeOptions(language=None), turns=OPTS,
    )
    assert transcript.language == "es"


def test_silent_call_has_no_turns_and_falls_back_to_requested_language() -> None:
    transcript = transcribe_audio(
        audio(2), ScriptedTranscriber({0: result(), 1: result()}), channel_map=ChannelMap(),
        options=TranscribeOptions(language="en"), turns=OPTS,
    )
    assert transcript.turns == ()
    assert transcript.language == "en"
    assert transcript.duration_s == 20.0


@pytest.mark.parametrize(
    ("logprob", "no_speech", "ratio", "trusted"),
    [
        (-0.3, 0.1, 1.2, True),
        (-0.9, 0.9, 1.2, False),  # probably silence: high no-speech, unsure decoding
        (-0.3, 0.9, 1.2, True),  # confident decoding wins over the no-speech estimate
        (-0.62, 0.74, 1.6, True),  # real speech on a noisy 8 kHz call (per-window no-speech is high)
        (-1.5, 0.1, 1.2, False),  # hallucination-level log-probability
        (-0.3, 0.1, 3.1, False),  # text compresses like a loop
    ],
)
def test_segment_guards(logprob: float, no_speech: float, ratio: float, trusted: bool) -> None:
    seg = segment(("some words here", 0.0), logprob=logprob, no_speech=no_speech, ratio=ratio)
    assert is_trusted(seg, options=OPTS) is trusted


def test_loops_are_collapsed_or_dropped() -> None:
    looped = list(words("thanks for calling " + "thank you " * 8, 0.0))
    collapsed = collapse_loops(looped, max_repeats=4)
    assert [w.word.strip() for w in collapsed] == ["thanks", "for", "calling", "thank", "you"]
    # A segment that is mostly loop is dropped whole.
    mostly = AsrSegment(start=0, end=5, text="", words=tuple(looped), avg_logprob=-0.3,
                        no_speech_prob=0.1, compression_ratio=1.5)
    assert kept_words([mostly], options=OPTS) == ()
    # A few repeats are normal speech ("no no no") and stay.
    normal = list(words("no no no I did not", 0.0))
    assert collapse_loops(normal, max_repeats=4) == normal


def test_split_turns_on_gap() -> None:
    ws = words("a b", 0.0) + words("c d", 3.0)
    assert [len(g) for g in split_turns(ws, gap_s=1.0)] == [2, 2]
    assert [len(g) for g in split_turns(ws, gap_s=5.0)] == [4]
    assert split_turns((), gap_s=1.0) == []


def test_turn_options_from_settings() -> None:
    opts = TurnOptions.from_settings(AsrSettings(turn_gap_s=0.7, max_ngram_repeats=3))
    assert opts.turn_gap_s == 0.7
    assert opts.max_ngram_repeats == 3
    assert opts.no_speech_threshold == AsrSettings().no_speech_threshold


def test_segments_without_words_still_become_turns() -> None:
    seg = AsrSegment(start=1.0, end=2.0, text="hello there", words=(), avg_logprob=-0.2,
                     no_speech_prob=0.1, compression_ratio=1.0)
    kept = kept_words([seg], options=OPTS)
    assert [(w.word, w.start, w.end) for w in kept] == [("hello there", 1.0, 2.0)]


def test_punctuation_only_words_are_not_speech() -> None:
    seg = AsrSegment(start=2.8, end=4.2, text=".", words=(), avg_logprob=-0.3, no_speech_prob=0.2,
                     compression_ratio=0.1)
    assert kept_words([seg], options=OPTS) == ()
