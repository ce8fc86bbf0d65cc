"""The readable report and progress accounting of ``callintel analyze`` (no models)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from callintel.cli import analyze
from callintel.domain import (
    Analysis,
    ChannelMap,
    Escalation,
    EscalationReason,
    IntentResult,
    QAItem,
    QAResult,
    Summary,
    SummaryItem,
    Transcript,
    Turn,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"


def _transcript(channel_map: ChannelMap | None) -> Transcript:
    turns = (
        Turn(index=0, speaker="agent", start=0.2, end=3.9, text="Acme support, how can I help?", channel=0),
        Turn(index=1, speaker="customer", start=4.1, end=65.0, text="I was charged twice.", channel=1),
    )
    return Transcript(turns=turns, language="en", duration_s=3725.0, channels=2, channel_map=channel_map)


@pytest.mark.parametrize(("seconds", "text"), [(0, "00:00"), (75.9, "01:15"), (3725, "1:02:05")])
def test_clock(seconds: float, text: str) -> None:
    assert analyze.clock(seconds) == text


def test_transcript_only_report() -> None:
    out = io.StringIO()
    analysis = analyze.transcript_analysis(_transcript(ChannelMap()), call_id="c1")
    assert analysis.to_dict()["channel_map"] == {"left": "agent", "right": "customer"}
    analyze.print_analysis(analysis, name="call.wav", out=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "== call.wav  1:02:05  language=en  channels: left=agent, right=customer"
    assert lines[1] == "[00:00-00:03]    agent: Acme support, how can I help?"
    assert lines[2] == "[00:04-01:05] customer: I was charged twice."


def test_report_with_analysis_parts_and_no_speech() -> None:
    empty = Transcript(turns=(), language="en", duration_s=8.0, channels=1)
    analysis = Analysis(
        call_id="c2", duration_s=8.0, language="en", channel_map=None, transcript=empty,
        intent=IntentResult(label="billing", confidence=0.88),
        summary=Summary(reason=SummaryItem(text="double charge", turns=(1,)), actions=(), outcome="resolved",
                        outcome_turns=(), next_steps=(SummaryItem(text="refund in 5 days", turns=(2,)),)),
        escalation=Escalation(decision="suggest", priority="high",
                              reasons=(EscalationReason(code="angry_customer", turns=(1,)),),
                              handoff_brief=None),
        qa=QAResult(score=55.0, items=(QAItem(id="g", label="greeting", result="fail", turns=()),)),
    )
    out = io.StringIO()
    analyze.print_analysis(analysis, name="x.wav", out=out)
    text = out.getvalue()
    assert "channels: mono (speaker unknown)" in text
    assert "(no speech found)" in text
    assert "intent: billing (0.88)" in text
    assert "reason: double charge" in text and "next step: refund in 5 days" in text
    assert "outcome: resolved" in text
    assert "escalation: suggest (high); reasons: angry_customer" in text
    assert "qa: 55/100 on scorecard default; failed: greeting" in text


def test_progress_counts_channel_seconds() -> None:
    stereo, mono = FIXTURES / "stereo_16k.wav", FIXTURES / "mono_16k.wav"
    progress = analyze._Progress([stereo, mono])
    assert progress.expected[stereo] == pytest.approx(2 * 14.0, abs=0.2)
    assert progress.expected[mono] == pytest.approx(5.4, abs=0.1)
    assert not progress.bar.disable  # several files: shown
    progress.segment(4.0)
    progress.segment(10.0)
    progress.segment(3.0)  # the right channel started
    assert progress.bar.n == pytest.approx(13.0)
    progress.file_done(stereo)
    assert progress.bar.n == pytest.approx(progress.expected[stereo], abs=0.1)
    progress.bar.close()
    assert analyze._Progress([mono]).bar.disable  # one short call: no bar


def test_no_files_is_an_input_error() -> None:
    from callintel.errors import InvalidInput

    with pytest.raises(InvalidInput):
        analyze.run(argparse.Namespace(files=[], example=False))


def test_example_call_is_packaged() -> None:
    assert analyze.example_call().is_file()
    assert analyze.example_call().with_suffix(".json").is_file()
