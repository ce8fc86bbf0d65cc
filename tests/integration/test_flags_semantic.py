"""Urgent-topic flags with the real all-MiniLM-L6-v2 embedder.

The table below was written for this test: none of its lines is a prototype or near-miss phrase
in resources/flags.yaml, nor in the development list used to set the thresholds. The test prints
precision and recall over it (run with ``-s`` to see them) and fails under the floors.
"""

from __future__ import annotations

from typing import Any

import pytest

from callintel.understanding.flags import FlagDetector, pattern_topics

pytestmark = pytest.mark.slow

POSITIVES: dict[str, list[str]] = {
    "cancellation": [
        "I'm done with you, close my account.",
        "Honestly just end the whole plan, I'm finished with this company.",
        "I'd like to stop being a member as of today.",
        "Go ahead and shut down my service at the end of the month.",
        "I'm taking my family plan over to T-Mobile.",
        "I no longer need the subscription, please discontinue it.",
        "Can you help me get out of my contract early?",
    ],
    "refund": [
        "I paid for something that never arrived and I want that money returned.",
        "Can you put the forty dollars back on my Visa?",
        "I'm expecting a reimbursement for the broken speaker.",
        "You charged me for a month I didn't use, so pay it back.",
        "When is the credit for the overcharge going to hit my account?",
        "I'd like my payment reversed for the cancelled trip.",
    ],
    "outage": [
        "None of the TVs in the house have any signal since noon.",
        "Is your whole network having problems today? Nothing loads.",
        "Our office lost internet two hours ago and so did the building next door.",
        "My cell has shown zero bars all weekend and my neighbours have the same.",
        "The website throws an error for everyone in our team.",
        "We've had no electricity since the storm last night.",
    ],
    "supervisor_request": [
        "Let me talk to your boss.",
        "Put your manager on the phone please.",
        "I'd like to speak to whoever is above you.",
        "Is there a team lead I can talk to?",
        "I want someone with authority to handle this, not you.",
        "Transfer me up the chain, please.",
    ],
    "repeat_contact": [
        "This is the third time I'm calling.",
        "I rang on Monday and again on Wednesday about this exact thing.",
        "I've been passed around four different agents already this week.",
        "Your colleague promised me a fix last time I phoned.",
        "Every week I end up calling you about the same bill.",
        "I was on the phone with you for an hour yesterday about this.",
    ],
    "legal_threat": [
        "My lawyer will hear about this.",
        "I'll be filing a claim in court if this isn't fixed.",
        "I'm getting legal advice about your contract.",
        "I'm reporting your company to the Better Business Bureau.",
        "My solicitor says this breaks consumer law.",
        "Don't be surprised when you get served papers.",
    ],
    "fraud_or_security": [
        "Someone used my card.",
        "There's a purchase from a store in another state that wasn't me.",
        "I got an email saying my password was changed but I never changed it.",
        "A stranger has access to my online banking.",
        "Somebody ordered a phone on my account without asking me.",
        "My details were leaked in a data breach and now I'm worried.",
    ],
    "chargeback": [
        "I'll dispute it with my bank.",
        "If you won't fix this my card company will claw the money back.",
        "I'm calling American Express to contest the payment.",
        "I've already asked my bank to reverse that transaction.",
        "I'll just raise a dispute through my credit card.",
    ],
}

NEGATIVES: list[str] = [
    "I don't want a refund, just the replacement.",
    "I'm not cancelling, I love the service.",
    "Please don't close my account, I just want it paused.",
    "I never asked for my money back.",
    "I'm not looking to speak to a manager, you're doing fine.",
    "This is my first time ever calling you.",
    "It's not an outage, the cable was unplugged.",
    "I'm not going to take you to court or anything, I just want answers.",
    "Is there anything else I can help you with today?",
    "Thanks for calling, my name is Priya.",
    "Can you confirm the email address on the account?",
    "I'd like to add my daughter as an authorised user.",
    "What time does the store open on Saturday?",
    "The delivery came yesterday and everything was fine.",
    "Can I change my payment date to the fifteenth?",
    "I'm looking at the new phones, which one has the best camera?",
    "The bill looks right this month, I just had a question.",
    "My husband will call back later to finish the setup.",
    "Could you resend the invoice to my work email?",
    "I moved house and need the service at the new address.",
    "Sure, go ahead and read me the terms.",
    "It's working again after I restarted the modem.",
    "I'll need to think about the upgrade offer.",
    "Yes, the last four digits are correct.",
    "Okay, I'll wait for the email then.",
]


#: Written after an earlier round of rule changes and run to report held-out numbers; it then
#: influenced the next round of prototypes, so it is no longer held out (see FRESH_POSITIVES).
HELD_OUT_POSITIVES: dict[str, list[str]] = {
    "cancellation": [
        "yeah I think we're gonna part ways, can you end my service",
        "I want out of this membership, it's costing me too much",
        "please remove me as a customer and stop billing me",
        "I'm not renewing next year, I'd like to close everything now",
    ],
    "refund": [
        "I was overcharged and I'd like that amount returned to me",
        "can I get a refund on the headphones",
        "I returned the item three weeks ago and still no money",
        "you owe me for the two weeks the service was off",
    ],
    "outage": [
        "the lights on the modem are all red and nobody on my street has internet",
        "my phone line has been dead since this morning",
        "your app just says service unavailable",
        "is there something going on with the network, calls keep failing for all of us",
    ],
    "supervisor_request": [
        "can I please speak with a manager",
        "I want your supervisor on this call",
        "get me somebody higher up because you can't help me",
        "I'd like to escalate this to someone senior",
    ],
    "repeat_contact": [
        "I already called about this on Friday",
        "this is like my fifth call about the same problem",
        "I spoke to someone last week and they said it was fixed",
        "I keep having to call you guys back",
    ],
    "legal_threat": [
        "I'm going to get a lawyer involved",
        "I'll be taking this to small claims",
        "you'll be hearing from my attorney",
        "I'm going to sue if I don't get my money",
    ],
    "fraud_or_security": [
        "there's a withdrawal on my account that I didn't do",
        "I think somebody hacked my email and got into my account",
        "my card got skimmed at a gas station",
        "I don't recognize these charges from last night",
    ],
    "chargeback": [
        "fine, I'll just do a chargeback then",
        "I'm going to call my card company and dispute this",
        "my bank is going to reverse the payment",
        "I'll contest the charge with my credit card provider",
    ],
}

HELD_OUT_NEGATIVES: list[str] = [
    "I don't need a refund, I just want it to work",
    "no I'm not trying to cancel, I want to add a line",
    "can you tell me what my balance is",
    "the technician was very helpful last time",
    "I'd like to pay my bill with a new card",
    "I'm calling to check on my order status",
    "that's all for today, thanks so much",
    "my son set up the account for me",
    "what's the cheapest plan you have",
    "I'm happy to stay with you if the price is right",
    "could you spell that for me",
    "my manager wants a copy of the invoice",
]


#: Written after the prototypes were last extended (which the table above had influenced), and run
#: once to report held-out numbers.
FRESH_POSITIVES: dict[str, list[str]] = {
    "cancellation": [
        "we've decided not to continue with you after this month",
        "how do I close out my membership completely",
        "I'm cancelling, no offer will change my mind",
        "just terminate the line, I don't need it anymore",
    ],
    "refund": [
        "I'd like the twenty dollars put back on my account",
        "will I be reimbursed for the repair I paid for",
        "I want a full refund, the product never worked",
        "can you return the deposit you took",
    ],
    "outage": [
        "half the town has no broadband since the storm",
        "the portal won't load for me or any of my coworkers",
        "is the mobile network down? I can't make calls",
        "our phones have been dead all morning, the whole office",
    ],
    "supervisor_request": [
        "I need to speak to a supervisor please",
        "put me through to your manager",
        "is there anyone more senior I can talk to",
        "I'd like this escalated to someone in charge",
    ],
    "repeat_contact": [
        "I've called about this at least four times",
        "this is my second call today about the same thing",
        "I already went through all this with your colleague yesterday",
        "I keep ringing and it never gets fixed",
    ],
    "legal_threat": [
        "I'll be speaking to my lawyer about this",
        "I'm considering legal action",
        "you'll hear from the consumer ombudsman",
        "I'll take you to small claims court if I have to",
    ],
    "fraud_or_security": [
        "somebody has been using my account without my permission",
        "there are two purchases on my card I never authorized",
        "I think I was scammed by someone claiming to be you",
        "my online account was compromised last night",
    ],
    "chargeback": [
        "I'll get my bank to claw it back",
        "I'm filing a dispute with my credit card company",
        "I'll do a chargeback if this isn't fixed today",
        "my bank said they can reverse the payment for me",
    ],
}

FRESH_NEGATIVES: list[str] = [
    "I'm not asking for my money back, just an explanation",
    "I don't want to close the account, only change the plan",
    "we're not switching, we just want a better price",
    "is your store open on Sundays",
    "I forgot the password for my email",
    "the engineer fixed the line yesterday, it's all good now",
    "can I get a copy of last month's statement",
    "my bank details have changed, can I update them",
    "the new router works great, thanks",
    "I'd like to upgrade to the faster plan",
    "please send the receipt to my email",
    "I'll call back tomorrow when I have the number",
]


#: Lines from reviewed calls that went wrong (billing disputes read as fraud, a payment read as a
#: chargeback, negated refunds and outages, missed outage and phishing paraphrases), each next to
#: lines written afresh in the same spirit so the rules generalise rather than memorise.
REVIEW_POSITIVES: dict[str, list[str]] = {
    "outage": [
        "the power has gone off again",
        "half the town has no broadband since the storm",
        "the service is down for everyone in my area",
        "no signal since this morning",
        "the electricity went off across our whole estate an hour ago",
        "nobody on our road has had internet since lunchtime",
        "we've got no phone line at all since the roadworks started",
    ],
    "fraud_or_security": [
        "someone called pretending to be the bank and I read them my card number",
        "I clicked a link in a text and now there are payments I didn't make",
        "a caller said she was from your security team and I told her my passcode",
        "I put my login into a website that turned out to be fake",
        "my son's friend borrowed my card and has been using it without asking",
    ],
    "refund": [
        "I'm after a refund for the broken kettle",
        "can I have the money back for the charger that never turned up",
    ],
    "chargeback": [
        "my card provider will reverse this if you don't",
        "I'm going to ask the bank to pull that payment back",
    ],
}

REVIEW_NEGATIVES: list[str] = [
    "Hi Maria, I was charged for the high dollar for international calls, but I did not make any.",
    "my bill has a charge for calls to Spain and I haven't rung anyone there",
    "you've billed me for a sports channel I never watched",
    "there's a roaming charge on here but I didn't go abroad",
    "Both charges went through on my card.",
    "the two payments both came out of my current account",
    "I'm not after my money back.",
    "I don't need a refund, just send an engineer",
    "I'm not looking for compensation, I just want it working",
    "there's no outage, I was only checking my bill",
    "my own boiler broke so the house is cold",
    "I paid by card yesterday and it went through fine",
]


@pytest.fixture(scope="module")
def detector(embedder: Any) -> FlagDetector:
    return FlagDetector(embedder=embedder)


def found(detector: FlagDetector, text: str) -> set[str]:
    return {f.topic for f in detector.detect_text(text, speaker="customer", turn=0)}


def score_table(
    detector: FlagDetector, positives: dict[str, list[str]], negatives: list[str]
) -> tuple[float, float, int, list[str]]:
    """Precision, recall, how many hits only similarity found, and the mistakes."""
    tp = fp = fn = 0
    misses: list[str] = []
    semantic_only = 0
    for topic, lines in positives.items():
        for line in lines:
            got = found(detector, line)
            tp += topic in got
            fn += topic not in got
            fp += len(got - {topic})
            if topic not in got:
                misses.append(f"missed {topic}: {line}")
            elif topic not in pattern_topics(line, detector.rules)[0]:
                semantic_only += 1
            misses.extend(f"extra {t}: {line}" for t in got - {topic})
    for line in negatives:
        got = found(detector, line)
        fp += len(got)
        misses.extend(f"false {t}: {line}" for t in got)
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    total = sum(len(v) for v in positives.values())
    print(
        f"\n{total} paraphrases, {len(negatives)} negated/neutral lines: precision {precision:.3f} "
        f"recall {recall:.3f} (tp={tp} fp={fp} fn={fn}); caught by similarity alone: {semantic_only}"
    )
    print("\n".join(misses))
    return precision, recall, semantic_only, misses


def test_table_precision_and_recall(detector: FlagDetector) -> None:
    precision, recall, semantic_only, misses = score_table(detector, POSITIVES, NEGATIVES)
    assert precision >= 0.9, misses
    assert recall >= 0.85, misses
    # The semantic detector must be pulling its weight, not just the patterns.
    assert semantic_only >= 5


def test_second_table_precision_and_recall(detector: FlagDetector) -> None:
    precision, recall, _, misses = score_table(detector, HELD_OUT_POSITIVES, HELD_OUT_NEGATIVES)
    assert precision >= 0.85, misses
    assert recall >= 0.75, misses


def test_fresh_table_precision_and_recall(detector: FlagDetector) -> None:
    precision, recall, _, misses = score_table(detector, FRESH_POSITIVES, FRESH_NEGATIVES)
    assert precision >= 0.85, misses
    assert recall >= 0.75, misses


def test_review_table_precision_and_recall(detector: FlagDetector) -> None:
    precision, recall, _, misses = score_table(detector, REVIEW_POSITIVES, REVIEW_NEGATIVES)
    assert precision >= 0.9, misses
    assert recall >= 0.85, misses


def test_outage_question_and_agent_denial(detector: FlagDetector) -> None:
    (asked,) = detector.detect_text("Is there an outage on your side too?", speaker="customer", turn=0)
    assert asked.topic == "outage" and asked.low_confidence
    denied = detector.detect_text("There's no outage in your area.", speaker="agent", turn=1)
    assert denied == ()


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("I'm done with you, close my account", "cancellation"),
        ("this is the third time I'm calling", "repeat_contact"),
        ("let me talk to your boss", "supervisor_request"),
        ("my lawyer will hear about this", "legal_threat"),
        ("someone used my card", "fraud_or_security"),
        ("I'll dispute it with my bank", "chargeback"),
    ],
)
def test_issue_examples(detector: FlagDetector, text: str, topic: str) -> None:
    assert topic in found(detector, text)


@pytest.mark.parametrize("text", ["I don't want a refund, just the replacement", "I'm not cancelling"])
def test_issue_negations(detector: FlagDetector, text: str) -> None:
    assert found(detector, text) == set()


def test_whole_call_with_agent_and_customer(detector: FlagDetector, embedder: Any) -> None:
    from callintel.domain import Transcript, Turn

    lines = [
        ("agent", "Thank you for calling, this is Alex, how can I help?"),
        ("customer", "Yeah, I've rung you people twice already about my broadband dying every night."),
        ("agent", "I'm sorry to hear that. Is there anything else going on with the account?"),
        ("customer", "Honestly if it's not sorted today I'm walking away to another provider."),
        ("agent", "I understand. I'll refund this month's charge of twenty dollars."),
        ("customer", "Fine. Thank you."),
    ]
    turns = tuple(
        Turn(index=i, speaker=s, start=i * 5.0, end=i * 5.0 + 4.0, text=t)  # type: ignore[arg-type]
        for i, (s, t) in enumerate(lines)
    )
    flags = detector.detect(Transcript(turns=turns, language="en", duration_s=30.0, channels=2))
    by_topic = {f.topic: f for f in flags}
    assert by_topic["repeat_contact"].turns == (1,) and by_topic["repeat_contact"].raised_by == "customer"
    assert by_topic["cancellation"].turns == (3,)
    assert by_topic["refund"].raised_by == "agent" and by_topic["refund"].turns == (4,)
    assert "supervisor_request" not in by_topic
