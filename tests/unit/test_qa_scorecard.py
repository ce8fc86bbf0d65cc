"""Scorecard: the default card on good, bad and escalated calls; n/a logic; custom and invalid YAML.

Uses the real sentence embedder (semantic checks) loaded once per session.
"""

from __future__ import annotations

from typing import Any

import pytest

from callintel.domain import Escalation, EscalationReason, Flag, IntentResult, QAResult, Transcript, Turn
from callintel.errors import ScorecardInvalid
from callintel.understanding.qa import load_scorecard, parse_scorecard, score_call


def call(*lines: tuple[str, str]) -> Transcript:
    turns = tuple(
        Turn(index=i, speaker=s, start=i * 4.0, end=i * 4.0 + 3.5, text=t)  # type: ignore[arg-type]
        for i, (s, t) in enumerate(lines)
    )
    return Transcript(turns=turns, language="en", duration_s=len(lines) * 4.0, channels=2)


A, C = "agent", "customer"

GOOD_BILLING = call(
    (A, "Hi, you've reached Northwind Telecom. This is Maria. How can I help you today?"),
    (C, "I see two charges for the same subscription on my card. Why am I being overcharged?"),
    (A, "I'm sorry about that. I understand how concerning unexpected charges can be. "
        "Can I have your email address or account ID, please?"),
    (C, "Yes, it's [EMAIL]."),
    (A, "Thank you. Please give me a moment while I review your billing history."),
    (A, "Thanks for your patience. There was a duplicate charge of twenty dollars on March third. "
        "I've processed a refund for the duplicate amount."),
    (C, "Okay, but why did this happen?"),
    (A, "That's a fair question. It was a payment retry. I've flagged it for our billing team."),
    (C, "Alright."),
    (A, "I'll also send you a confirmation email with the refund details, and it should reflect "
        "within five business days. Is there anything else I can help you with today?"),
    (C, "No, that's all."),
    (A, "Thank you for calling Northwind, have a great day."),
)

BAD_BILLING = call(
    (A, "Yeah, hello."),
    (C, "I was charged twice for my subscription this month."),
    (A, "Billing does that sometimes."),
    (C, "So can you fix it or not?"),
    (A, "Not my department. Call back later."),
    (C, "Unbelievable."),
    (A, "Bye."),
)

PRODUCT_QUESTION = call(
    (A, "Thank you for calling Brightside Software, my name is Tom. What can I do for you?"),
    (C, "Hi, I'm interested in your team plan and wanted to know what features it includes."),
    (A, "Great question, I can certainly help with that. The team plan includes shared inboxes and reports."),
    (C, "Sounds useful. Can you send me details?"),
    (A, "Absolutely, I'll send the information to you by email shortly."),
    (A, "Is there anything else I can help you with? Thanks for considering Brightside."),
)

ANGRY_TRANSFER = call(
    (A, "Thank you for calling Northwind Telecom. This is Dan. How can I assist you today?"),
    (C, "I'm furious! I've called three times and no one has fixed my internet. I want a supervisor now."),
    (A, "I'm really sorry you've had this experience. I understand how frustrating it must be."),
    (C, "Just get me the supervisor."),
    (A, "I understand. May I confirm your account number so the supervisor has the right details?"),
    (C, "It's [ACCOUNT_NUMBER]."),
    (A, "Thank you. I'll escalate this to my supervisor immediately and share these details."),
    (A, "Thank you for your patience. Please hold while I connect you with my supervisor."),
)


def require_escalation() -> Escalation:
    return Escalation(
        decision="require", priority="high",
        reasons=(EscalationReason(code="supervisor_request", turns=(1, 3)),), handoff_brief=None,
    )


def items(result: QAResult) -> dict[str, Any]:
    return {i.id: i for i in result.items}


@pytest.fixture(scope="module")
def card(embedder: Any) -> Any:
    return load_scorecard(None, embedder=embedder)


def test_good_call_passes_every_item(card: Any) -> None:
    result = score_call(GOOD_BILLING, scorecard=card, flags=(), escalation=None)
    got = items(result)
    assert {k: v.result for k, v in got.items()} == {
        "greeting": "pass", "verification": "pass", "reason_identified": "pass", "empathy": "pass",
        "resolution": "pass", "next_steps": "pass", "close": "pass",
    }
    assert result.score == 100.0
    assert got["greeting"].turns == (0,)
    assert 2 in got["verification"].turns
    assert 5 in got["resolution"].turns
    assert got["close"].turns == (9, 11)  # "anything else?" and the closing thanks


def test_bad_call_fails_items(card: Any) -> None:
    result = score_call(BAD_BILLING, scorecard=card, flags=(), escalation=None)
    got = items(result)
    for item_id in ("greeting", "verification", "reason_identified", "empathy", "resolution", "close"):
        assert got[item_id].result == "fail", item_id
    assert result.score is not None and result.score < 20


def test_verification_not_applicable_to_product_question(card: Any) -> None:
    intent = IntentResult(label="product_inquiry", confidence=0.9)
    result = score_call(PRODUCT_QUESTION, scorecard=card, flags=(), escalation=None, intent=intent)
    got = items(result)
    assert got["verification"].result == "n/a"
    assert got["greeting"].result == "pass"
    assert got["close"].result == "pass"
    assert result.score == 100.0


def test_verification_applies_by_intent_and_flag(card: Any) -> None:
    billing = IntentResult(label="billing", confidence=0.9)
    by_intent = items(score_call(PRODUCT_QUESTION, scorecard=card, intent=billing))
    assert by_intent["verification"].result == "fail"
    refund = Flag(topic="refund", turns=(1,), confidence=0.9, raised_by="customer")
    by_flag = items(score_call(PRODUCT_QUESTION, scorecard=card, flags=(refund,)))
    assert by_flag["verification"].result == "fail"


def test_required_escalation_needs_a_transfer(card: Any) -> None:
    result = score_call(ANGRY_TRANSFER, scorecard=card, flags=(), escalation=require_escalation())
    got = items(result)
    assert got["resolution"].result == "pass"
    assert "require" in got["resolution"].note
    assert set(got["resolution"].turns) & {6, 7}
    assert got["close"].result == "n/a"  # handed over: the supervisor closes the call
    # A "resolution" phrase is not enough when a human was required.
    resolved_only = call(*[(t.speaker, t.text) for t in GOOD_BILLING.turns])
    again = items(score_call(resolved_only, scorecard=card, escalation=require_escalation()))
    assert again["resolution"].result == "fail"


def test_empty_transcript_is_all_na(card: Any) -> None:
    result = score_call(call(), scorecard=card)
    assert result.score is None
    assert {i.result for i in result.items} == {"n/a"}


CUSTOM = """
name: acme-retention
version: 2
items:
  - id: disclosure
    label: Recording disclosure in the opening
    weight: 3
    checks:
      - type: phrase
        speaker: agent
        position: opening
        window: 1
        keywords: ["this call may be recorded", "call is recorded"]
  - id: retention_offer
    label: Retention offer on cancellations
    applies_when:
      intents: [cancellation]
    checks:
      - type: semantic
        threshold: 0.55
        examples: ["We have a cheaper plan that might suit you better", "I can offer you a discount"]
"""


def test_custom_yaml_scorecard(embedder: Any) -> None:
    card = load_scorecard(CUSTOM, embedder=embedder)
    assert card.name == "acme-retention"
    calm_cancel = call(
        (A, "Thanks for calling Acme, this call may be recorded. How can I help?"),
        (C, "I want to cancel my subscription, it's too expensive."),
        (A, "I understand. We do have a lower-cost plan that may fit your needs better."),
        (C, "No, just cancel it."),
    )
    cancel = IntentResult(label="cancellation", confidence=0.95)
    got = items(score_call(calm_cancel, scorecard=card, intent=cancel))
    assert got["disclosure"].result == "pass" and got["disclosure"].turns == (0,)
    assert got["retention_offer"].result == "pass" and got["retention_offer"].turns == (2,)
    billing = IntentResult(label="billing", confidence=0.9)
    other = items(score_call(calm_cancel, scorecard=card, intent=billing))
    assert other["retention_offer"].result == "n/a"
    no_disclosure = call((A, "Hello."), (C, "Cancel please."), (A, "Done."), (A, "this call may be recorded"))
    res = score_call(no_disclosure, scorecard=card, intent=cancel)
    assert items(res)["disclosure"].result == "fail"  # said, but not in the opening
    assert items(res)["retention_offer"].result == "fail"
    assert res.score == 0.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x\nitems: [", "not valid YAML"),
        ("- just\n- a list", "mapping"),
        ("name: x\nitems: []", "items: List should have at least 1 item"),
        ("name: x\nitems:\n  - {id: a, label: A, checks: [{type: phrase}]}", "at least one pattern"),
        ("name: x\nitems:\n  - {id: a, label: A, checks: [{type: phrase, patterns: ['(']}]}",
         "invalid regular expression"),
        ("name: x\nitems:\n  - {id: a, label: A, checks: [{type: fuzzy, examples: [hi]}]}", "type"),
        ("name: x\nitems:\n  - {id: a, label: A, checks: [{type: semantic, examples: [hi], threshold: 2}]}",
         "threshold"),
        ("name: x\nitems:\n  - {id: a, label: A, colour: red, checks: [{type: phrase, keywords: [hi]}]}",
         "colour: Extra inputs are not permitted"),
        ("name: x\nitems:\n  - {id: a, label: A, checks: [{type: phrase, keywords: [hi]}]}\n"
         "  - {id: a, label: B, checks: [{type: phrase, keywords: [yo]}]}", "duplicate item id 'a'"),
        ("name: x\nitems:\n  - {id: a, label: A, applies_when: {}, checks: [{type: phrase, keywords: [hi]}]}",
         "at least one condition"),
        ("name: x\nitems:\n  - {id: a, label: A, applies_when: {escalation: [maybe]}, "
         "checks: [{type: phrase, keywords: [hi]}]}", "escalation"),
    ],
)
def test_invalid_yaml_gives_clear_errors(text: str, fragment: str) -> None:
    with pytest.raises(ScorecardInvalid) as info:
        parse_scorecard(text)
    assert info.value.code == "scorecard_invalid"
    assert fragment in info.value.message


def test_missing_file_is_a_domain_error(tmp_path: Any) -> None:
    with pytest.raises(ScorecardInvalid, match="cannot read"):
        parse_scorecard(str(tmp_path / "nope.yaml"))


def test_default_scorecard_round_trips(card: Any) -> None:
    again = parse_scorecard(card.to_yaml())
    assert [i.id for i in again.items] == [i.id for i in card.items]
    assert sum(i.weight for i in card.items) == 100


@pytest.mark.parametrize(
    ("opening", "expected"),
    [
        ("Good evening, Trailhead Outdoors, this is Mei.", "pass"),
        ("Northwind support, Sam speaking. How can I help you?", "pass"),
        ("Thank you for calling Acme, my name is Jo.", "pass"),
        ("Hello, this is Sam.", "fail"),  # no company
        ("Thank you for calling Acme, how can I help?", "fail"),  # no agent name
        ("Thank you for calling, this is Sam.", "fail"),  # no company
        ("Yeah, hello.", "fail"),
    ],
)
def test_greeting_needs_company_and_agent_name(card: Any, opening: str, expected: str) -> None:
    result = score_call(call((A, opening), (C, "Hi, my bill is wrong.")), scorecard=card)
    assert items(result)["greeting"].result == expected
