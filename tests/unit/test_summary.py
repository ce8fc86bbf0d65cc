"""Extractive summary: reason, actions, outcome and next steps, each from transcript sentences."""

from __future__ import annotations

import re

import pytest

from callintel.domain import IntentResult, Speaker, Summary, Transcript, Turn
from callintel.understanding.summary import ExtractiveSummarizer, Summarizer, normalise, summarize

A: Speaker = "agent"
C: Speaker = "customer"


def call(*lines: tuple[Speaker, str]) -> Transcript:
    turns = tuple(
        Turn(index=i, speaker=spk, start=i * 6.0, end=i * 6.0 + 5.0, text=text)
        for i, (spk, text) in enumerate(lines)
    )
    return Transcript(turns=turns, language="en", duration_s=len(lines) * 6.0, channels=2)


BILLING = call(
    (A, "Thank you for calling Acme, this is Sam. How can I help you today?"),
    (C, "Hi, um, I'm calling because I was charged twice for my subscription this month."),
    (A, "I'm sorry about that. Can I have your account number please?"),
    (C, "Sure, it's [ACCOUNT]."),
    (A, "Thank you, I've verified your account. I can see a duplicate charge of $45.20 on March 3rd."),
    (A, "I've processed a refund for the duplicate amount, and it should show up within 3 to 5 business "
        "days."),
    (C, "Okay, but why did this happen?"),
    (A, "It was a payment retry error. I'll also send you a confirmation email with the details by Friday."),
    (C, "Great, thank you so much for your help."),
    (A, "Is there anything else I can help you with today?"),
    (C, "No, that's all. Bye."),
)


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9$.']+", text.lower()))


def assert_extractive(summary: Summary, transcript: Transcript) -> None:
    """Every item's words come from the turns it cites (nothing is invented)."""
    items = [i for i in (summary.reason, *summary.actions, *summary.next_steps) if i is not None]
    for item in items:
        assert item.turns, item
        source = " ".join(transcript.turns[t].text for t in item.turns).lower()
        missing = {w.strip(".") for w in words_of(item.text)} - {w.strip(".") for w in words_of(source)}
        assert not missing, (item.text, missing)
        for value in (item.amount, item.date):
            assert value is None or value.lower() in source


def test_billing_call_summary() -> None:
    s = summarize(BILLING, intent=None, flags=())
    assert s.reason is not None
    assert s.reason.text == "I'm calling because I was charged twice for my subscription this month."
    assert s.reason.turns == (1,)
    kinds = [a.kind for a in s.actions]
    assert kinds[:1] == ["verified_account"] and "issued_refund" in kinds
    assert s.outcome == "resolved" and 8 in s.outcome_turns
    refund = next(n for n in s.next_steps if n.kind == "refund")
    assert refund.amount == "$45.20" and refund.date == "within 3 to 5 business days"
    assert refund.turns == (4, 5)  # the amount was stated in turn 4, the promise in turn 5
    email = next(n for n in s.next_steps if n.kind == "email")
    assert email.date == "by Friday" and email.turns == (7,)
    assert not s.low_confidence
    assert_extractive(s, BILLING)


def test_escalated_call() -> None:
    t = call(
        (A, "Thanks for calling, how can I help?"),
        (C, "This is the third time I'm calling about my internet. It's been down since Monday."),
        (A, "I'm sorry. I see there's an outage in your area."),
        (C, "This is ridiculous. I want to speak to your supervisor."),
        (A, "I understand. Let me transfer you to my supervisor now, please hold."),
    )
    s = summarize(t, intent=None, flags=())
    assert s.outcome == "escalated" and s.outcome_turns == (4,)
    assert s.reason is not None and s.reason.turns == (1,)
    assert "down since Monday" in s.reason.text
    assert [a.kind for a in s.actions] == ["looked_up", "transferred"]
    assert_extractive(s, t)


def test_pending_call_with_technician_and_callback() -> None:
    t = call(
        (A, "Hello, how can I help?"),
        (C, "My router keeps dropping the connection every evening."),
        (A, "I've run a diagnostic on your line. I've opened a ticket and a technician will come on Tuesday "
            "between 9 and 12."),
        (A, "We'll call you back once the technician has confirmed."),
        (C, "Okay, thanks."),
    )
    s = summarize(t, intent=None, flags=())
    assert s.outcome == "pending"
    assert {a.kind for a in s.actions} >= {"troubleshooting", "opened_ticket"}
    kinds = {n.kind: n for n in s.next_steps}
    assert kinds["appointment"].date == "on Tuesday between 9 and 12"
    assert kinds["callback"].turns == (3,)
    assert_extractive(s, t)


def test_unresolved_call() -> None:
    t = call(
        (A, "How can I help?"),
        (C, "I was charged a cancellation fee I never agreed to."),
        (A, "Unfortunately I can't remove that fee, it's in the contract."),
        (C, "That's unacceptable. Forget it."),
    )
    s = summarize(t, intent=None, flags=())
    assert s.outcome == "unresolved" and s.outcome_turns == (2, 3)
    assert s.actions == ()  # "I can't remove that fee" is not an action taken
    assert_extractive(s, t)


def test_no_cues_means_a_low_confidence_guess() -> None:
    t = call((A, "Hello."), (C, "Hello?"), (A, "Can you hear me?"))
    s = summarize(t, intent=None, flags=())
    assert s.reason is None and s.outcome == "unresolved" and s.low_confidence
    assert s.actions == () and s.next_steps == ()


def test_intent_turns_steer_the_reason() -> None:
    t = call(
        (C, "I need to change my delivery address."),
        (C, "I'd like to upgrade my plan today."),
        (A, "Sure, I can help with both of those."),
        (A, "Both are done now."),
        (C, "Thanks."),
    )
    plain = summarize(t, intent=None, flags=())
    steered = summarize(t, intent=IntentResult(label="billing", confidence=0.9, turns=(1,)), flags=())
    assert plain.reason is not None and steered.reason is not None
    assert plain.reason.turns == (0,) and steered.reason.turns == (1,)


def test_questions_and_offers_are_not_promises() -> None:
    t = call(
        (C, "I'm having trouble logging in to my account."),
        (A, "Would you like me to email you a reset link?"),
        (A, "Should I call you back later?"),
    )
    s = summarize(t, intent=None, flags=())
    assert s.next_steps == ()


def test_spoken_amount_is_kept_as_said() -> None:
    t = call(
        (C, "I'm calling about a late fee on my bill."),
        (A, "I'll credit back forty five dollars and twenty cents within two business days."),
    )
    (step,) = summarize(t, intent=None, flags=()).next_steps
    assert step.kind == "refund"
    assert step.amount == "forty five dollars and twenty cents"
    assert step.date == "within two business days"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("um, so I was charged twice", "I was charged twice."),
        ("Yeah, okay, my internet is, uh, down!", "My internet is down!"),
        ("the order never came", "The order never came."),
    ],
)
def test_normalise(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


def test_extractive_summarizer_satisfies_the_protocol() -> None:
    summarizer: Summarizer = ExtractiveSummarizer()
    assert summarizer.summarize(BILLING, intent=None, flags=()) == summarize(BILLING, intent=None, flags=())


def test_transfer_to_another_team_is_escalated_but_a_waitlist_is_pending() -> None:
    transfer = call(
        (C, "There are card payments I didn't make."),
        (A, "I've frozen the card. I'm going to transfer you to them now."),
        (C, "Okay."),
    )
    assert summarize(transfer, intent=None, flags=()).outcome == "escalated"
    waitlist = call(
        (C, "I'm trying to move my appointment."),
        (A, "Nothing is free next week."),
        (A, "I can put you on the waitlist. If something opens, I'll call you straight away."),
        (C, "I suppose."),
    )
    s = summarize(waitlist, intent=None, flags=())
    assert s.outcome == "pending" and s.outcome_turns == (2,)


def test_a_condition_is_not_dissatisfaction() -> None:
    t = call(
        (C, "I was billed for twelve seats instead of five."),
        (A, "Let me check the invoices."),
        (A, "I've raised a ticket with the billing team to refund the difference."),
        (C, "Fine, but if it's not sorted by Friday I'll dispute the charges."),
        (A, "Noted, I'll put the deadline on the ticket."),
    )
    assert summarize(t, intent=None, flags=()).outcome == "pending"


def test_a_plain_thanks_at_the_end_is_a_resolution() -> None:
    t = call(
        (C, "I ordered bedding last week and I'm wondering where it is."),
        (A, "It left our warehouse on Monday and arrives tomorrow."),
        (C, "Thanks."),
    )
    s = summarize(t, intent=None, flags=())
    assert s.outcome == "resolved" and s.outcome_turns == (2,) and not s.low_confidence


def test_a_booked_visit_resolves_an_appointment_call() -> None:
    t = call(
        (C, "I'd like to book a smart meter installation."),
        (A, "You're booked for Friday the 8th."),
        (A, "The engineer will call about thirty minutes before arriving."),
        (C, "Okay, thanks."),
    )
    assert summarize(t, intent=None, flags=()).outcome == "pending"
    booking = IntentResult(label="appointment", confidence=0.9)
    assert summarize(t, intent=booking, flags=()).outcome == "resolved"


def test_a_polite_close_without_a_fix_is_unresolved() -> None:
    for last in ("Okay. Thanks anyway.", "Okay. Well, that's disappointing. Bye."):
        t = call(
            (C, "Is there a way to export invoices to Excel?"),
            (A, "Unfortunately that model doesn't support it and it isn't planned."),
            (C, last),
        )
        s = summarize(t, intent=None, flags=())
        assert s.outcome == "unresolved" and 2 in s.outcome_turns, last


def test_thanks_after_an_earlier_complaint_is_resolved() -> None:
    t = call(
        (C, "I wanted to give feedback about a rude cashier."),
        (A, "I'm sorry. I've logged this for the store manager."),
        (C, "Thank you, I just found it disappointing."),
        (A, "As an apology, I'll add a ten dollar voucher to your loyalty card."),
        (C, "That's kind, thank you."),
    )
    assert summarize(t, intent=None, flags=()).outcome == "resolved"


def test_empty_transcript() -> None:
    s = summarize(Transcript(turns=(), language="en", duration_s=0.0, channels=1), intent=None, flags=())
    assert s.reason is None and s.actions == () and s.next_steps == () and s.low_confidence


def test_staying_on_the_line_for_a_handover_is_escalated() -> None:
    t = call(
        (C, "There are payments on my card I didn't make."),
        (A, "Our fraud team handles that."),
        (A, "I'll stay on the line until they pick up."),
    )
    s = summarize(t, intent=None, flags=())
    assert s.outcome == "escalated" and s.outcome_turns == (2,)
