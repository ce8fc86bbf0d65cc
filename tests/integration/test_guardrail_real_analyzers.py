"""The guardrail on the labelled calls with the REAL analyzers (intent, sentiment, flags, summary).

Same calls as tests/unit/test_guardrail_calls.py, but every input the guardrail consumes comes
from the trained heads and detectors, the way the pipeline and live assist call it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from callintel.domain import Transcript, Turn
from callintel.guardrail import GuardrailInput, decide, decide_live, should_notify

pytestmark = pytest.mark.slow

CALLS = Path(__file__).resolve().parents[1] / "fixtures" / "guardrail" / "calls.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CALLS.read_text("utf-8"))["calls"]


def transcript_of(lines: list[str]) -> Transcript:
    roles = {"A": "agent", "C": "customer"}
    turns = tuple(
        Turn(index=i, speaker=roles[line[0]], start=5.0 * i, end=5.0 * i + 4.5, text=line[3:])  # type: ignore[arg-type]
        for i, line in enumerate(lines)
    )
    return Transcript(turns=turns, language="en", duration_s=5.0 * len(turns), channels=2)


def analyzed_input(analyzers: Any, transcript: Transcript, prior_contacts: int = 0) -> GuardrailInput:
    from callintel.understanding.summary import summarize

    intent = analyzers.intent.classify(transcript)
    flags = analyzers.flags.detect(transcript)
    return GuardrailInput(
        transcript=transcript, intent=intent, sentiment=analyzers.sentiment.analyze(transcript),
        flags=flags, summary=summarize(transcript, intent=intent, flags=flags), prior_contacts=prior_contacts,
    )


@pytest.fixture(scope="module")
def outcomes(analyzers: Any) -> dict[str, Any]:
    results = {}
    for case in CASES:
        inp = analyzed_input(analyzers, transcript_of(case["turns"]), case.get("prior_contacts", 0))
        results[case["id"]] = decide(inp, policy=analyzers.policy)
    return results


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_call_with_real_analyzers(case: dict[str, Any], outcomes: dict[str, Any]) -> None:
    escalation = outcomes[case["id"]]
    expect = case["expect"]
    got = {r.code for r in escalation.reasons}
    assert (escalation.decision == "none") is (expect["decision"] == "none"), escalation.reasons
    assert set(expect["codes"]) <= got, escalation.reasons
    if expect["decision"] == "require":
        assert escalation.decision == "require"
    if escalation.decision != "none":
        brief = escalation.handoff_brief
        assert brief is not None
        said = " ".join(line[3:] for line in case["turns"])
        assert all(part in said for part in brief.wants.split(" / ")), brief.wants  # extractive


def test_precision_recall_with_real_analyzers(outcomes: dict[str, Any]) -> None:
    pairs = [(c["expect"]["decision"] != "none", outcomes[c["id"]].decision != "none") for c in CASES]
    tp = sum(w and g for w, g in pairs)
    fp = sum(g and not w for w, g in pairs)
    fn = sum(w and not g for w, g in pairs)
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    wanted = [(c["id"], code) for c in CASES for code in c["expect"]["codes"]]
    found = sum(code in {r.code for r in outcomes[cid].reasons} for cid, code in wanted)
    extra = sum(
        len({r.code for r in outcomes[c["id"]].reasons} - set(c["expect"]["codes"])) for c in CASES
    )
    print(f"\nreal analyzers, {len(CASES)} calls: escalate precision {precision:.2f} recall {recall:.2f}; "
          f"reason codes recall {found / len(wanted):.2f}, unexpected extra reasons {extra}")
    assert recall == 1.0 and precision >= 0.9


def test_pipeline_puts_the_escalation_in_the_analysis(analyzers: Any) -> None:
    from callintel.pipeline import analyze_transcript

    case = next(c for c in CASES if c["id"] == "supervisor_demand_angry_repeat")
    analysis, _ = analyze_transcript(transcript_of(case["turns"]), analyzers=analyzers, call_id="call-g1")
    doc = analysis.to_dict()
    escalation = doc["escalation"]
    assert escalation["decision"] == "require" and escalation["priority"] == "high"
    codes = {r["code"]: r["turns"] for r in escalation["reasons"]}
    assert codes["human_requested"] == [3]
    assert escalation["handoff_brief"]["text"].startswith("Customer:")
    assert doc["low_confidence"] == escalation["low_confidence"]
    assert should_notify(analysis.escalation, policy=analyzers.policy)


def test_live_warning_on_the_triggering_utterance(analyzers: Any) -> None:
    lines = [
        "A: Thanks for calling, how can I help?",
        "C: My bill doubled this month and I don't know why.",
        "A: Let me take a look at the account for you.",
        "C: Honestly, just let me speak to a manager.",
    ]
    previous = None
    first_warning: dict[str, int] = {}
    for n in range(1, len(lines) + 1):
        live = decide_live(analyzed_input(analyzers, transcript_of(lines[:n])), policy=analyzers.policy,
                           previous=previous)
        for reason in live.new_reasons:
            first_warning.setdefault(reason.code, n - 1)
        previous = live.escalation
    assert first_warning.get("human_requested") == 3
    assert previous is not None and previous.decision == "require"


DEVSET = Path(__file__).resolve().parents[2] / "eval" / "devset" / "calls"


def test_precision_recall_on_the_eval_devset(analyzers: Any) -> None:
    """The project's evaluation dev set (scripted calls labelled with ``expected.escalation``)."""
    pairs: list[tuple[str, bool, bool]] = []
    for path in sorted(DEVSET.glob("*.yaml")):
        call = yaml.safe_load(path.read_text("utf-8"))
        expected = call["expected"].get("escalation")
        if expected is None:
            continue
        turns = tuple(
            Turn(index=i, speaker=t["speaker"], start=5.0 * i, end=5.0 * i + 4.5, text=t["text"])
            for i, t in enumerate(call["turns"])
        )
        transcript = Transcript(turns=turns, language="en", duration_s=5.0 * len(turns), channels=2)
        escalation = decide(analyzed_input(analyzers, transcript), policy=analyzers.policy)
        pairs.append((call["id"], expected != "none", escalation.decision != "none"))
    assert len(pairs) >= 30
    tp = sum(w and g for _, w, g in pairs)
    fp = [cid for cid, w, g in pairs if g and not w]
    fn = [cid for cid, w, g in pairs if w and not g]
    precision, recall = tp / max(1, tp + len(fp)), tp / max(1, tp + len(fn))
    print(f"\neval devset, {len(pairs)} calls: escalate precision {precision:.2f} recall {recall:.2f}; "
          f"false positives {fp}, misses {fn}")
    assert precision >= 0.9 and recall >= 0.9
