"""The guardrail over a labelled set of realistic calls (tests/fixtures/guardrail/calls.yaml).

Inputs are hand-built (sentiment from the file's labels, no flags), so this measures the
guardrail's own logic; tests/integration/test_guardrail_calls.py runs the same calls through the
real intent, sentiment, flag and summary analyzers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from callintel.config import GuardrailSettings
from callintel.domain import (
    SentimentResult,
    SentimentTrend,
    SpeakerSentiment,
    Transcript,
    Turn,
    TurnSentiment,
)
from callintel.guardrail import GuardrailInput, GuardrailPolicy, decide, load_policy

CALLS = Path(__file__).resolve().parents[1] / "fixtures" / "guardrail" / "calls.yaml"
SCORES = {"neg": -0.7, "neu": 0.0, "pos": 0.7}
LABELS = {"neg": "negative", "neu": "neutral", "pos": "positive"}


def load_calls() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = yaml.safe_load(CALLS.read_text("utf-8"))["calls"]
    return calls


def transcript_of(case: dict[str, Any]) -> Transcript:
    roles = {"A": "agent", "C": "customer"}
    turns = tuple(
        Turn(index=i, speaker=roles[line[0]], start=5.0 * i, end=5.0 * i + 4.5, text=line[3:])  # type: ignore[arg-type]
        for i, line in enumerate(case["turns"])
    )
    return Transcript(turns=turns, language="en", duration_s=5.0 * len(turns), channels=2)


def labelled_sentiment(transcript: Transcript, labels: list[str]) -> SentimentResult:
    customer = transcript.by_speaker("customer")
    scores = [SCORES[lb] for lb in labels]
    turns = tuple(
        TurnSentiment(turn=t.index, speaker="customer", label=LABELS[lb], score=SCORES[lb])  # type: ignore[arg-type]
        for t, lb in zip(customer, labels, strict=True)
    )
    quarter = max(1, len(scores) // 4)
    start, end = sum(scores[:quarter]) / quarter, sum(scores[-quarter:]) / quarter
    direction = "worsening" if end - start < -0.2 else "improving" if end - start > 0.2 else "stable"
    mean = sum(scores) / len(scores)
    overall = SpeakerSentiment(label="negative" if mean < -0.2 else "neutral", score=mean, turns=len(scores))
    trend = SentimentTrend(start=start, end=end, delta=end - start, direction=direction)  # type: ignore[arg-type]
    return SentimentResult(turns=turns, by_speaker={"customer": overall}, trend=trend)


def precision_recall(results: list[tuple[bool, bool]]) -> tuple[float, float]:
    tp = sum(1 for want, got in results if want and got)
    fp = sum(1 for want, got in results if got and not want)
    fn = sum(1 for want, got in results if want and not got)
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


@pytest.fixture(scope="module")
def policy() -> GuardrailPolicy:
    return load_policy(None, settings=GuardrailSettings())


CASES = load_calls()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_call(case: dict[str, Any], policy: GuardrailPolicy) -> None:
    transcript = transcript_of(case)
    inp = GuardrailInput(
        transcript=transcript, sentiment=labelled_sentiment(transcript, case["sentiment"]),
        prior_contacts=case.get("prior_contacts", 0),
    )
    escalation = decide(inp, policy=policy)
    expect = case["expect"]
    assert escalation.decision == expect["decision"], escalation.reasons
    assert set(expect["codes"]) <= {r.code for r in escalation.reasons}
    for reason in escalation.reasons:
        assert reason.turns or reason.code == "repeat_contact", reason  # evidence cited
    if expect["decision"] == "none":
        assert escalation.reasons == ()


def test_precision_recall_over_the_call_set(policy: GuardrailPolicy) -> None:
    escalate: list[tuple[bool, bool]] = []
    per_code: list[tuple[bool, bool]] = []
    for case in CASES:
        transcript = transcript_of(case)
        inp = GuardrailInput(
            transcript=transcript, sentiment=labelled_sentiment(transcript, case["sentiment"]),
            prior_contacts=case.get("prior_contacts", 0),
        )
        escalation = decide(inp, policy=policy)
        escalate.append((case["expect"]["decision"] != "none", escalation.decision != "none"))
        got = {r.code for r in escalation.reasons}
        per_code += [(True, code in got) for code in case["expect"]["codes"]]
        per_code += [(False, True) for code in got - set(case["expect"]["codes"])]
    precision, recall = precision_recall(escalate)
    code_precision, code_recall = precision_recall(per_code)
    print(f"\nescalate: precision {precision:.2f} recall {recall:.2f} over {len(CASES)} calls; "
          f"reason codes: precision {code_precision:.2f} recall {code_recall:.2f}")
    assert precision == 1.0 and recall == 1.0
    assert code_recall == 1.0 and code_precision >= 0.85
