"""Conversation metrics on constructed transcripts with known timings."""

from __future__ import annotations

import pytest

from callintel.domain import Speaker, Transcript, Turn, Word
from callintel.understanding.metrics import MetricOptions, compute_metrics, merge_intervals


def turn(index: int, speaker: Speaker, start: float, end: float, words: int = 0) -> Turn:
    step = (end - start) / words if words else 0.0
    timed = tuple(Word(f" w{k}", start + k * step, start + (k + 1) * step, 0.9) for k in range(words))
    return Turn(index=index, speaker=speaker, start=start, end=end, text="word " * max(words, 1), words=timed)


def stereo(*turns: Turn, duration: float, channels: int = 2) -> Transcript:
    return Transcript(turns=turns, language="en", duration_s=duration, channels=channels)


def test_merge_intervals() -> None:
    assert merge_intervals([(3, 4), (0, 1), (0.5, 2), (5, 5)]) == [(0, 2), (3, 4)]


def test_talk_time_ratio_and_speed() -> None:
    m = compute_metrics(stereo(
        turn(0, "agent", 0.0, 10.0, words=30),
        turn(1, "customer", 11.0, 16.0, words=10),
        turn(2, "agent", 17.0, 27.0, words=20),
        duration=28.0,
    ))
    assert m.talk_time_s == {"agent": 20.0, "customer": 5.0}
    assert m.agent_talk_ratio == pytest.approx(0.8)
    assert m.words_per_minute == {"agent": 150.0, "customer": 120.0}
    assert m.silences == () and m.non_talk_time_s == 0.0
    assert m.interruptions == {"agent": 0, "customer": 0}


def test_silences_over_three_seconds_including_start_and_end() -> None:
    m = compute_metrics(stereo(
        turn(0, "agent", 4.0, 8.0, words=8),
        turn(1, "customer", 9.0, 12.0, words=6),   # 1 s gap: conversation, not silence
        turn(2, "agent", 20.0, 22.0, words=4),     # 8 s of silence before this
        duration=30.0,                              # and 8 s after the last turn
    ))
    assert m.silences == ((0.0, 4.0), (12.0, 20.0), (22.0, 30.0))
    assert m.non_talk_time_s == pytest.approx(20.0)


def test_interruptions_count_the_speaker_who_cuts_in() -> None:
    m = compute_metrics(stereo(
        turn(0, "agent", 0.0, 10.0, words=20),
        turn(1, "customer", 6.0, 12.0, words=12),   # starts 4 s before the agent stops
        turn(2, "agent", 11.9, 15.0, words=6),      # 0.1 s overlap: a normal handover
        turn(3, "customer", 16.0, 18.0, words=4),
        turn(4, "agent", 17.0, 19.0, words=4),      # agent cuts in 1 s early
        duration=20.0,
    ))
    assert m.interruptions == {"agent": 1, "customer": 1}


def test_interruption_uses_last_word_end_not_padded_turn_end() -> None:
    agent = Turn(index=0, speaker="agent", start=0.0, end=6.0, text="hello there",
                 words=(Word(" hello", 0.0, 1.0, 0.9), Word(" there", 1.0, 2.0, 0.9)))
    m = compute_metrics(stereo(agent, turn(1, "customer", 3.0, 5.0, words=4), duration=6.0))
    assert m.interruptions == {"agent": 0, "customer": 0}


def test_mono_has_no_interruptions_and_no_ratio_for_unknown_speakers() -> None:
    m = compute_metrics(stereo(
        turn(0, "unknown", 0.0, 5.0, words=10),
        turn(1, "unknown", 3.0, 9.0, words=12),
        duration=10.0, channels=1,
    ))
    assert m.interruptions == {"agent": 0, "customer": 0, "unknown": 0}
    assert m.agent_talk_ratio is None
    assert m.talk_time_s["unknown"] == 9.0
    assert m.longest_customer_monologue_s == 0.0


def test_longest_customer_monologue_joins_consecutive_customer_turns() -> None:
    m = compute_metrics(stereo(
        turn(0, "customer", 0.0, 5.0, words=10),
        turn(1, "agent", 5.5, 7.0, words=3),
        turn(2, "customer", 8.0, 14.0, words=12),
        turn(3, "customer", 15.0, 22.0, words=14),  # same speaker, 1 s later: one monologue 8..22
        turn(4, "agent", 23.0, 24.0, words=2),
        duration=25.0,
    ))
    assert m.longest_customer_monologue_s == pytest.approx(14.0)


def test_options_change_the_silence_threshold() -> None:
    t = stereo(turn(0, "agent", 0.0, 2.0, words=4), turn(1, "customer", 4.0, 6.0, words=4), duration=6.0)
    assert compute_metrics(t).silences == ()
    assert compute_metrics(t, options=MetricOptions(silence_s=1.5)).silences == ((2.0, 4.0),)


def test_empty_transcript() -> None:
    m = compute_metrics(stereo(duration=12.0))
    assert m.talk_time_s == {"agent": 0.0, "customer": 0.0}
    assert m.silences == ((0.0, 12.0),) and m.agent_talk_ratio is None
