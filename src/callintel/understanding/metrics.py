"""Conversation metrics from turn timings: talk time, silences, interruptions, speed, monologues.

Interruptions are only counted on stereo (two-channel) transcripts, where both speakers' timings
are measured separately; a mono transcript has no overlapping speech to measure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from callintel.domain import Metrics, Transcript, Turn

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class MetricOptions:
    silence_s: float = 3.0
    """Gaps where nobody speaks longer than this are silences (non-talk time)."""
    min_overlap_s: float = 0.3
    """A turn that starts at least this long before the other speaker's turn ends interrupts it."""
    monologue_gap_s: float = 3.0
    """Consecutive customer turns closer than this (with no agent turn between) form one monologue."""


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of intervals, sorted and non-overlapping."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def talk_time(turns: Sequence[Turn]) -> float:
    return sum(end - start for start, end in merge_intervals((t.start, t.end) for t in turns))


def silences(turns: Sequence[Turn], *, duration: float, longer_than: float) -> tuple[Interval, ...]:
    """Stretches where nobody speaks, including before the first and after the last turn."""
    speech = merge_intervals((t.start, t.end) for t in turns)
    gaps: list[Interval] = []
    cursor = 0.0
    for start, end in speech:
        if start - cursor > longer_than:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    end_of_call = max(duration, cursor)
    if end_of_call - cursor > longer_than:
        gaps.append((cursor, end_of_call))
    return tuple((round(a, 3), round(b, 3)) for a, b in gaps)


def _speech_end(turn: Turn) -> float:
    """The last word's end where words are known: turn ends often include trailing silence."""
    return turn.words[-1].end if turn.words else turn.end


def interruptions(transcript: Transcript, *, min_overlap_s: float) -> dict[str, int]:
    """Per interrupter: turns that start while the other speaker is still talking."""
    speakers = _speakers(transcript)
    counts = dict.fromkeys(speakers, 0)
    if transcript.channels < 2:
        return counts
    turns = sorted(transcript.turns, key=lambda t: t.start)
    for i, turn in enumerate(turns):
        for other in turns[:i]:
            if other.speaker == turn.speaker:
                continue
            if other.start < turn.start and _speech_end(other) - turn.start >= min_overlap_s:
                counts[turn.speaker] = counts.get(turn.speaker, 0) + 1
                break
    return counts


def words_per_minute(turns: Sequence[Turn]) -> float:
    minutes = talk_time(turns) / 60.0
    if minutes <= 0:
        return 0.0
    words = sum(len(t.words) if t.words else len(t.text.split()) for t in turns)
    return round(words / minutes, 1)


def longest_monologue(transcript: Transcript, *, speaker: str, gap_s: float) -> float:
    """Longest stretch of one speaker's consecutive turns that no other speaker breaks."""
    best = 0.0
    run: tuple[float, float] | None = None
    for turn in sorted(transcript.turns, key=lambda t: t.start):
        if turn.speaker != speaker:
            run = None
            continue
        if run is not None and turn.start - run[1] <= gap_s:
            run = (run[0], max(run[1], turn.end))
        else:
            run = (turn.start, turn.end)
        best = max(best, run[1] - run[0])
    return round(best, 3)


def _speakers(transcript: Transcript) -> list[str]:
    found = {t.speaker for t in transcript.turns}
    return ["agent", "customer", *sorted(found - {"agent", "customer"})]


def compute_metrics(transcript: Transcript, *, options: MetricOptions | None = None) -> Metrics:
    """All conversation metrics of one call."""
    opts = options or MetricOptions()
    speakers = _speakers(transcript)
    by = {s: tuple(t for t in transcript.turns if t.speaker == s) for s in speakers}
    talk = {s: round(talk_time(by[s]), 3) for s in speakers}
    gaps = silences(transcript.turns, duration=transcript.duration_s, longer_than=opts.silence_s)
    both = talk["agent"] + talk["customer"]
    return Metrics(
        duration_s=round(transcript.duration_s, 3),
        talk_time_s=talk,
        non_talk_time_s=round(sum(b - a for a, b in gaps), 3),
        silences=gaps,
        interruptions=interruptions(transcript, min_overlap_s=opts.min_overlap_s),
        words_per_minute={s: words_per_minute(by[s]) for s in speakers},
        agent_talk_ratio=round(talk["agent"] / both, 4) if both > 0 else None,
        longest_customer_monologue_s=longest_monologue(
            transcript, speaker="customer", gap_s=opts.monologue_gap_s
        ),
    )
