"""Guardrail unit tests: policy loading, each signal (and its negations), decision, brief, live."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from callintel.config import GuardrailSettings
from callintel.domain import (
    Flag,
    IntentResult,
    SentimentResult,
    SentimentTrend,
    SpeakerSentiment,
    Summary,
    SummaryItem,
    Transcript,
    Turn,
    TurnSentiment,
    to_jsonable,
)
from callintel.errors import PolicyInvalid
from callintel.guardrail import (
    GuardrailInput,
    GuardrailPolicy,
    decide,
    decide_live,
    load_policy,
    money_amounts,
    needs_review,
    parse_policy,
    review_rank,
    should_notify,
    words_to_number,
)

SCORES = {"neg": -0.7, "neu": 0.0, "pos": 0.7}
LABELS = {"neg": "negative", "neu": "neutral", "pos": "positive"}


def call(*lines: str, confidence: float = 0.9) -> Transcript:
    """``"A: ..."`` agent, ``"C: ..."`` customer, ``"U: ..."`` unattributed."""
    roles = {"A": "agent", "C": "customer", "U": "unknown"}
    turns = tuple(
        Turn(index=i, speaker=roles[line[0]], start=4.0 * i, end=4.0 * i + 3.5, text=line[3:],  # type: ignore[arg-type]
             confidence=confidence)
        for i, line in enumerate(lines)
    )
    return Transcript(turns=turns, language="en", duration_s=4.0 * len(lines), channels=2)


def sentiment_for(
    transcript: Transcript, labels: list[str], trend: SentimentTrend | None = None
) -> SentimentResult:
    customer = transcript.by_speaker("customer") or transcript.by_speaker("unknown")
    assert len(customer) == len(labels)
    turns = tuple(
        TurnSentiment(turn=t.index, speaker=t.speaker, label=LABELS[lb], score=SCORES[lb])  # type: ignore[arg-type]
        for t, lb in zip(customer, labels, strict=True)
    )
    mean = sum(SCORES[lb] for lb in labels) / len(labels)
    label = "negative" if mean < -0.2 else "positive" if mean > 0.2 else "neutral"
    by_speaker = {"customer": SpeakerSentiment(label=label, score=mean, turns=len(labels))}
    return SentimentResult(turns=turns, by_speaker=by_speaker, trend=trend)


@pytest.fixture(scope="module")
def policy() -> GuardrailPolicy:
    return load_policy(None, settings=GuardrailSettings())


def codes(inp: GuardrailInput, policy: GuardrailPolicy) -> set[str]:
    return {r.code for r in decide(inp, policy=policy).reasons}


# --- policy --------------------------------------------------------------------------------------


def test_default_policy_loads_with_settings_values(policy: GuardrailPolicy) -> None:
    assert policy.human_requested.decision == "require"
    assert policy.legal_threat.priority == "urgent"
    assert policy.beyond_authority.refund_limit == 100.0
    assert policy.repeat_contact.count == 3 and policy.repeat_contact.days == 7
    tuned = load_policy(None, settings=GuardrailSettings(refund_authority_limit=500, repeat_contact_days=30))
    assert tuned.beyond_authority.refund_limit == 500 and tuned.repeat_contact.days == 30


def test_yaml_values_win_over_settings(tmp_path: Path) -> None:
    path = tmp_path / "tenant.yaml"
    path.write_text("beyond_authority:\n  refund_limit: 40\nlegal_threat:\n  enabled: false\n")
    loaded = load_policy(path, settings=GuardrailSettings(refund_authority_limit=500))
    assert loaded.beyond_authority.refund_limit == 40
    assert loaded.legal_threat.enabled is False
    assert loaded.repeat_contact.count == 3


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("human_requested:\n  decision: maybe\n", "human_requested.decision"),
        ("negative_sentiment:\n  window: 0\n", "negative_sentiment.window"),
        ("legal_threat:\n  patterns: ['(unclosed']\n", "legal_threat.patterns"),
        ("surprise_signal: {}\n", "surprise_signal"),
        ("combinations:\n  - codes: [legal_threat, bogus]\n", "combinations.0.codes"),
        ("low_confidence:\n  escalate_on: [vibes]\n", "low_confidence.escalate_on.0"),
    ],
)
def test_bad_policy_names_the_field(text: str, field: str) -> None:
    with pytest.raises(PolicyInvalid) as info:
        parse_policy(text)
    assert info.value.code == "policy_invalid"
    assert info.value.details["field"] == field
    assert field in info.value.message


def test_unparseable_or_missing_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyInvalid):
        parse_policy("human_requested: [unclosed")
    with pytest.raises(PolicyInvalid):
        parse_policy("- just\n- a list\n")
    with pytest.raises(PolicyInvalid):
        load_policy(tmp_path / "absent.yaml", settings=GuardrailSettings())


# --- signals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I want to speak to a supervisor.",
        "Can I talk to a real person please?",
        "Let me speak to someone who can actually help.",
        "Operator!",
        "Representative, please.",
        "Just put me through to your manager.",
        "Is there somebody higher up I can talk to?",
        "I'd like to chat with a human being.",
    ],
)
def test_human_request_paraphrases(text: str, policy: GuardrailPolicy) -> None:
    inp = GuardrailInput(transcript=call("A: How can I help?", f"C: {text}"))
    escalation = decide(inp, policy=policy)
    assert escalation.decision == "require" and escalation.priority == "high"
    assert escalation.reasons[0].code == "human_requested" and escalation.reasons[0].turns == (1,)


@pytest.mark.parametrize(
    "text",
    [
        "No, I don't need to speak to a manager, thanks.",
        "You've been great, no need to talk to a supervisor.",
        "The representative last time was very kind.",
        "I spoke to my wife about it.",
    ],
)
def test_no_human_request(text: str, policy: GuardrailPolicy) -> None:
    inp = GuardrailInput(transcript=call("A: How can I help?", f"C: {text}"))
    assert "human_requested" not in codes(inp, policy)


def test_human_request_from_flag_but_not_from_agent(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hello.", "C: Get me whoever signs off on this stuff.")
    flag = Flag(topic="supervisor_request", turns=(1,), confidence=0.8, raised_by="customer")
    assert "human_requested" in codes(GuardrailInput(transcript=transcript, flags=(flag,)), policy)
    agent_flag = Flag(topic="supervisor_request", turns=(0,), confidence=0.9, raised_by="agent")
    assert codes(GuardrailInput(transcript=transcript, flags=(agent_flag,)), policy) == set()
    weak = Flag(topic="supervisor_request", turns=(1,), confidence=0.2, raised_by="customer")
    assert codes(GuardrailInput(transcript=transcript, flags=(weak,)), policy) == set()


def test_agent_words_never_count_as_customer_request(policy: GuardrailPolicy) -> None:
    transcript = call("A: Would you like me to transfer you to a supervisor?", "C: No thanks, that's fine.")
    assert decide(GuardrailInput(transcript=transcript), policy=policy).decision == "none"


def test_mono_call_uses_unattributed_turns(policy: GuardrailPolicy) -> None:
    transcript = call("U: Hello how can I help", "U: I want to speak to a manager right now")
    assert "human_requested" in codes(GuardrailInput(transcript=transcript), policy)


def test_repeat_contact_said_or_from_history(policy: GuardrailPolicy) -> None:
    said = call("A: Hi.", "C: This is the third time I'm calling about this bill.")
    reason = decide(GuardrailInput(transcript=said), policy=policy).reasons[0]
    assert reason.code == "repeat_contact" and reason.turns == (1,)
    calm = call("A: Hi.", "C: I'm calling about my bill.")
    assert codes(GuardrailInput(transcript=calm, prior_contacts=1), policy) == set()
    history = decide(GuardrailInput(transcript=calm, prior_contacts=2), policy=policy)
    assert history.reasons[0].code == "repeat_contact" and "2 earlier contacts" in history.reasons[0].detail
    assert history.decision == "suggest"


def test_repeat_contact_flag_from_agent_counts(policy: GuardrailPolicy) -> None:
    transcript = call("A: I see you've been in touch with us a few times this week.", "C: Yes.")
    flag = Flag(topic="repeat_contact", turns=(0,), confidence=0.7, raised_by="agent")
    assert "repeat_contact" in codes(GuardrailInput(transcript=transcript, flags=(flag,)), policy)


def test_sustained_negative_sentiment(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hi.", "C: It's late.", "A: Sorry.", "C: Ridiculous.", "A: Hm.", "C: Useless.")
    inp = GuardrailInput(transcript=transcript, sentiment=sentiment_for(transcript, ["neg", "neg", "neg"]))
    escalation = decide(inp, policy=policy)
    assert escalation.reasons[0].code == "negative_sentiment"
    assert escalation.reasons[0].turns == (1, 3, 5)
    two = GuardrailInput(transcript=transcript, sentiment=sentiment_for(transcript, ["neg", "neu", "neg"]))
    assert codes(two, policy) == set()


def test_negative_then_recovered_does_not_escalate(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hi.", "C: Bad.", "A: .", "C: Bad.", "A: .", "C: Bad.", "A: Fixed.", "C: Thanks!")
    recovered = sentiment_for(transcript, ["neg", "neg", "neg", "pos"])
    inp = GuardrailInput(transcript=transcript, sentiment=recovered)
    assert codes(inp, policy) == set()


def test_negative_then_calm_on_an_improving_trend_does_not_escalate(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hi.", "C: Cancel it.", "A: .", "C: Too expensive.", "A: .", "C: Just cancel.",
                      "A: Done.", "C: Okay.")
    improving = SentimentTrend(start=-0.7, end=0.0, delta=0.7, direction="improving")
    calm = sentiment_for(transcript, ["neg", "neg", "neg", "neu"], trend=improving)
    assert codes(GuardrailInput(transcript=transcript, sentiment=calm), policy) == set()
    stable = SentimentTrend(start=-0.7, end=-0.2, delta=0.0, direction="stable")
    still = sentiment_for(transcript, ["neg", "neg", "neg", "neu"], trend=stable)
    assert codes(GuardrailInput(transcript=transcript, sentiment=still), policy) == {"negative_sentiment"}


def test_one_mildly_negative_last_turn_is_not_enough(policy: GuardrailPolicy) -> None:
    transcript = call("A: Anything else?", "C: No, you've been helpful.", "A: Great.",
                      "C: No, that's everything.")
    turns = (
        TurnSentiment(turn=1, speaker="customer", label="neutral", score=0.07),
        TurnSentiment(turn=3, speaker="customer", label="negative", score=-0.42),
    )
    trend = SentimentTrend(start=0.07, end=-0.42, delta=-0.49, direction="worsening")
    mild = SentimentResult(turns=turns, by_speaker={}, trend=trend)
    assert codes(GuardrailInput(transcript=transcript, sentiment=mild), policy) == set()
    outburst = (turns[0], TurnSentiment(turn=3, speaker="customer", label="negative", score=-0.95))
    angry = SentimentResult(turns=outburst, by_speaker={}, trend=trend)
    assert codes(GuardrailInput(transcript=transcript, sentiment=angry), policy) == {"negative_sentiment"}


def test_worsening_trend_ending_negative(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hi.", "C: Hello there.", "A: .", "C: Fine.", "A: .", "C: This is awful.")
    worsening = SentimentTrend(start=0.3, end=-0.7, delta=-1.0, direction="worsening")
    inp = GuardrailInput(
        transcript=transcript, sentiment=sentiment_for(transcript, ["pos", "neu", "neg"], trend=worsening)
    )
    reason = decide(inp, policy=policy).reasons[0]
    assert reason.code == "negative_sentiment" and reason.turns == (5,) and "worsening" in reason.detail
    mild = SentimentTrend(start=-0.4, end=-0.7, delta=-0.3, direction="worsening")
    labelled = sentiment_for(transcript, ["pos", "neu", "neg"], mild)
    inp = GuardrailInput(transcript=transcript, sentiment=labelled)
    assert codes(inp, policy) == set()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("If this isn't fixed I'll call my lawyer.", "legal_threat"),
        ("I'm going to take you to small claims court.", "legal_threat"),
        ("I will report you to the Better Business Bureau.", "legal_threat"),
        ("There's a charge on my card that I didn't make.", "fraud_or_security"),
        ("I don't recognize these charges at all.", "fraud_or_security"),
        ("My account was hacked last night.", "fraud_or_security"),
        ("Someone changed my password and email.", "fraud_or_security"),
        ("I'll just do a chargeback then.", "chargeback_threat"),
        ("I'm going to dispute the charge with my bank.", "chargeback_threat"),
        ("I'll call my bank to reverse the payment.", "chargeback_threat"),
        ("If it's not sorted by Friday I'm disputing the charges with our card provider.",
         "chargeback_threat"),
        ("A former employee still has access and downloaded our files last night.", "fraud_or_security"),
        ("I think we've had a data breach.", "fraud_or_security"),
    ],
)
def test_risk_signals(text: str, code: str, policy: GuardrailPolicy) -> None:
    escalation = decide(GuardrailInput(transcript=call("A: How can I help?", f"C: {text}")), policy=policy)
    assert [r.code for r in escalation.reasons] == [code]
    assert escalation.decision == "require"
    assert escalation.priority == ("high" if code == "chargeback_threat" else "urgent")


@pytest.mark.parametrize(
    "text",
    [
        "I'm not going to sue anyone, I just want it fixed.",
        "I don't want to do a chargeback, I'd rather sort it out with you.",
        "Is this charge for the annual plan?",
        "My lawyer friend recommended your service.",
        # billing disputes about usage are not fraud: no transaction noun, or "a charge for ..."
        "I was charged for international calls, but I did not make any.",
        "There's a charge for a movie rental I didn't make, can you check it?",
    ],
)
def test_risk_signals_not_raised(text: str, policy: GuardrailPolicy) -> None:
    assert codes(GuardrailInput(transcript=call("A: How can I help?", f"C: {text}")), policy) == set()


def test_risk_flags_from_detector(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hi.", "C: Something odd is going on with my statements.")
    for topic, code in [("legal_threat", "legal_threat"), ("fraud_or_security", "fraud_or_security"),
                        ("chargeback", "chargeback_threat")]:
        flag = Flag(topic=topic, turns=(1,), confidence=0.9, raised_by="customer")
        escalation = decide(GuardrailInput(transcript=transcript, flags=(flag,)), policy=policy)
        assert [(r.code, r.turns) for r in escalation.reasons] == [(code, (1,))]


def test_money_amounts() -> None:
    assert money_amounts("a refund of $250") == [250.0]
    assert money_amounts("I want my $1,200.50 back") == [1200.5]
    assert money_amounts("credit me 300 dollars") == [300.0]
    assert money_amounts("two hundred and fifty dollars") == [250.0]
    assert money_amounts("fifteen hundred bucks") == [1500.0]
    assert money_amounts("a hundred pounds") == [100.0]
    assert money_amounts("£2k") == [2000.0]
    assert money_amounts("three times in two weeks") == []
    assert words_to_number("one thousand two hundred") == 1200
    assert words_to_number("forty-five") == 45
    assert words_to_number("lots") is None


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("I want a refund of $250 for the heater.", True),
        ("You should credit me two hundred dollars for the outage.", True),
        ("I expect my $400 back.", True),
        ("I want compensation for the day of work I lost.", True),
        ("Can you reimburse me for the hotel?", True),
        ("I paid $300 for this and it broke after a day. I want a refund.", True),
        ("I don't want a refund of the $250, just send the replacement.", False),
        ("My plan is $120 a month. Can you tell me what the discount options are?", False),
        ("I want a refund of $40.", False),
        ("Can I go back to the $150 plan next month?", False),
        ("I paid the $250 with my credit card last week.", False),
        ("I was charged $250 for the annual plan, is that right?", False),
        ("I'd like a refund please.", False),
    ],
)
def test_beyond_authority(text: str, fires: bool, policy: GuardrailPolicy) -> None:
    escalation = decide(GuardrailInput(transcript=call("A: How can I help?", f"C: {text}")), policy=policy)
    assert ("beyond_authority" in {r.code for r in escalation.reasons}) is fires


def test_beyond_authority_limit_from_settings_and_summary() -> None:
    generous = load_policy(None, settings=GuardrailSettings(refund_authority_limit=500))
    transcript = call("A: Hi.", "C: I want a refund of $250.")
    assert codes(GuardrailInput(transcript=transcript), generous) == set()
    promised = call("A: I'll refund you 650 dollars by Friday.", "C: Okay.")
    step = SummaryItem(text="Refund 650 dollars by Friday", turns=(0,), kind="refund", amount="$650")
    summary = Summary(reason=None, actions=(), outcome="pending", outcome_turns=(), next_steps=(step,))
    reason = decide(GuardrailInput(transcript=promised, summary=summary), policy=generous).reasons[0]
    assert reason.code == "beyond_authority" and reason.turns == (0,) and "650" in reason.detail


def test_low_confidence_asr_escalates_and_labels(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hullo cn I hlp.", "C: mmm the thng brkn", confidence=0.3)
    escalation = decide(GuardrailInput(transcript=transcript), policy=policy)
    assert escalation.decision == "suggest" and escalation.priority == "low"
    assert escalation.reasons[0].code == "low_confidence" and escalation.reasons[0].turns == (0, 1)
    assert escalation.low_confidence == ("asr",)
    whole_call = GuardrailInput(transcript=call("A: Hi.", "C: Hello."), asr_confidence=0.2)
    assert decide(whole_call, policy=policy).low_confidence == ("asr",)


def test_low_confidence_classifiers_are_labelled_not_escalated(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hi.", "C: About the thing from before.")
    intent = IntentResult(label="other", confidence=0.31, turns=(1,), low_confidence=True)
    sentiment = SentimentResult(
        turns=(TurnSentiment(turn=1, speaker="customer", label="neutral", score=0.0, confidence=0.35),),
        by_speaker={}, trend=None,
    )
    flag = Flag(topic="refund", turns=(1,), confidence=0.52, raised_by="customer", low_confidence=True)
    summary = Summary(reason=None, actions=(), outcome="unresolved", outcome_turns=(), next_steps=(),
                      low_confidence=True)
    inp = GuardrailInput(
        transcript=transcript, intent=intent, sentiment=sentiment, flags=(flag,), summary=summary
    )
    escalation = decide(inp, policy=policy)
    assert escalation.decision == "none" and escalation.reasons == ()
    assert escalation.low_confidence == ("intent", "sentiment", "flags", "summary")
    strict = parse_policy("low_confidence:\n  escalate_on: [asr, intent]\n")
    reason = decide(inp, policy=strict).reasons[0]
    assert reason.code == "low_confidence" and reason.turns == (1,) and "intent" in reason.detail
    confident = IntentResult(label="billing", confidence=0.9)
    assert decide(GuardrailInput(transcript=transcript, intent=confident), policy=policy).low_confidence == ()


def test_dead_end_repetition_and_phrases(policy: GuardrailPolicy) -> None:
    repeating = call(
        "A: What's the problem?", "C: My thermostat won't connect to the wifi network.",
        "A: Did you restart it?", "C: Yes.", "A: Try the app?", "C: Yes.",
        "A: Anything else?", "C: My thermostat still won't connect to the wifi network.",
    )
    reason = decide(GuardrailInput(transcript=repeating), policy=policy).reasons[0]
    assert reason.code == "self_service_dead_end" and reason.turns == (1, 7)
    for text in ["I already told you my order number.", "I've tried that twice already.",
                 "We're going around in circles here.", "The automated system kept hanging up on me."]:
        inp = GuardrailInput(transcript=call("A: Hi.", f"C: {text}"))
        assert "self_service_dead_end" in codes(inp, policy)
    distinct = call("A: Hi.", "C: My thermostat won't connect to the wifi.", "A: Ok.",
                    "C: The app shows an error code when pairing.")
    assert codes(GuardrailInput(transcript=distinct), policy) == set()


# --- decision, brief, JSON --------------------------------------------------------------------------


def test_strongest_decision_and_combinations(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hi.", "C: Third time I'm calling about this.", "A: Sorry.", "C: Awful.",
                      "A: Hm.", "C: Terrible.")
    inp = GuardrailInput(transcript=transcript, sentiment=sentiment_for(transcript, ["neg", "neg", "neg"]))
    escalation = decide(inp, policy=policy)
    assert {r.code for r in escalation.reasons} == {"repeat_contact", "negative_sentiment"}
    assert (escalation.decision, escalation.priority) == ("require", "high")  # the combination
    legal = call("A: Hi.", "C: Third time I'm calling, I want a supervisor or I'll call my lawyer.")
    escalation = decide(GuardrailInput(transcript=legal), policy=policy)
    assert (escalation.decision, escalation.priority) == ("require", "urgent")


def test_disabled_and_audit_only_signals() -> None:
    transcript = call("A: Hi.", "C: I want to speak to a manager.")
    off = parse_policy("human_requested:\n  enabled: false\n")
    assert decide(GuardrailInput(transcript=transcript), policy=off).reasons == ()
    audit = parse_policy("human_requested:\n  decision: none\n")
    escalation = decide(GuardrailInput(transcript=transcript), policy=audit)
    assert escalation.decision == "none" and escalation.reasons[0].code == "human_requested"


def test_no_escalation_has_human_path_and_no_brief(policy: GuardrailPolicy) -> None:
    escalation = decide(GuardrailInput(transcript=call("A: Hi.", "C: Where's my order?")), policy=policy)
    assert (escalation.decision, escalation.priority, escalation.reasons) == ("none", "low", ())
    assert escalation.handoff_brief is None
    assert "human" in escalation.human_path
    assert not should_notify(escalation, policy=policy) and not needs_review(escalation, policy=policy)


def test_handoff_brief_is_extractive(policy: GuardrailPolicy) -> None:
    transcript = call(
        "A: Thanks for calling, this is Sam.",
        "C: Hi, my name is Dana Whitfield. My router keeps dropping the connection every evening.",
        "A: I've restarted the line and reset your router remotely.",
        "C: It dropped again an hour later. I want someone to come out and replace it.",
        "C: Honestly I want to speak to a supervisor.",
    )
    reason = SummaryItem(text="My router keeps dropping the connection every evening.", turns=(1,))
    action = SummaryItem(text="I've restarted the line and reset your router remotely.", turns=(2,))
    summary = Summary(
        reason=reason, actions=(action,), outcome="escalated", outcome_turns=(4,), next_steps=()
    )
    trend = SentimentTrend(start=-0.2, end=-0.7, delta=-0.5, direction="worsening")
    inp = GuardrailInput(transcript=transcript, summary=summary, customer_id="C-1042",
                         sentiment=sentiment_for(transcript, ["neu", "neg", "neg"], trend=trend))
    brief = decide(inp, policy=policy).handoff_brief
    assert brief is not None
    assert brief.customer == "Dana Whitfield, customer id C-1042"
    assert brief.issue == reason.text and brief.tried == (action.text,)
    assert "replace it" in brief.wants and "supervisor" in brief.wants
    assert brief.sentiment.startswith("customer negative") and "worsening" in brief.sentiment
    said = transcript.text
    for part in brief.wants.split(" / "):
        assert part in said  # nothing invented
    assert "[turns 1]" in brief.text and "human_requested [turns 4]" in brief.text


def test_brief_without_summary_falls_back_to_customer_words(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hello.", "C: Hi there.", "C: I was charged twice for my gym membership.",
                      "C: Get me a manager.")
    brief = decide(GuardrailInput(transcript=transcript), policy=policy).handoff_brief
    assert brief is not None
    assert brief.customer == "not stated" and brief.issue == "I was charged twice for my gym membership."
    assert brief.tried == () and "Tried: nothing recorded" in brief.text


def test_escalation_json_shape(policy: GuardrailPolicy) -> None:
    transcript = call("A: Hi.", "C: I want a supervisor, now.")
    doc = to_jsonable(decide(GuardrailInput(transcript=transcript), policy=policy))
    assert doc["decision"] == "require" and doc["priority"] == "high"
    assert doc["reasons"][0]["code"] == "human_requested" and doc["reasons"][0]["turns"] == [1]
    assert set(doc["handoff_brief"]) == {"customer", "issue", "tried", "wants", "sentiment", "text"}
    assert doc["low_confidence"] == [] and doc["human_path"]


def test_review_helpers(policy: GuardrailPolicy) -> None:
    urgent = decide(GuardrailInput(transcript=call("A: Hi.", "C: My account was hacked.")), policy=policy)
    suggest = decide(GuardrailInput(transcript=call("A: Hi.", "C: I already told you that.")), policy=policy)
    assert should_notify(urgent, policy=policy) and should_notify(suggest, policy=policy)
    assert needs_review(suggest, policy=policy)
    quiet = parse_policy("notify_on: [require]\n")
    assert should_notify(urgent, policy=quiet) and not should_notify(suggest, policy=quiet)
    assert sorted([suggest, urgent], key=review_rank, reverse=True)[0] is urgent


# --- live -----------------------------------------------------------------------------------------


def test_live_warning_arrives_with_the_triggering_utterance(policy: GuardrailPolicy) -> None:
    lines = ["A: Hi, how can I help?", "C: My card was charged twice.", "A: Let me check.",
             "C: This is the third time I'm calling about it.", "A: I'm sorry.", "C: Fine."]
    previous = None
    warned_at: dict[str, int] = {}
    for n in range(1, len(lines) + 1):
        live = decide_live(GuardrailInput(transcript=call(*lines[:n])), policy=policy, previous=previous)
        for reason in live.new_reasons:
            warned_at.setdefault(reason.code, n - 1)
        previous = live.escalation
    assert warned_at == {"repeat_contact": 3}
    assert previous is not None and previous.decision == "suggest"


def varied_call(n_turns: int, seed: int) -> Transcript:
    """A long call whose sentences are all new (nothing cached from earlier runs)."""
    topics = ["router", "invoice", "parcel", "password", "thermostat", "subscription", "battery", "app"]
    lines = []
    for i in range(n_turns):
        topic = topics[(i * 7 + seed) % len(topics)]
        if i % 2:
            lines.append(f"C: The {topic} issue number {seed}-{i} started after the update on day {i}.")
        else:
            lines.append(f"A: Thanks, let me check the {topic} record {seed}-{i} for you right now.")
    return call(*lines)


def test_decision_is_fast_on_a_long_call(policy: GuardrailPolicy) -> None:
    timings = []
    for seed in range(3):
        transcript = varied_call(200, seed)
        inp = GuardrailInput(transcript=transcript, sentiment=sentiment_for(transcript, ["neu"] * 100))
        started = time.perf_counter()
        decide(inp, policy=policy)
        timings.append((time.perf_counter() - started) * 1000)
    assert min(timings) < 100, timings  # a 200-turn call, nothing cached


def test_live_decisions_are_incremental(policy: GuardrailPolicy) -> None:
    transcript = varied_call(200, 99)
    previous = None
    timings = []
    for n in range(150, 201):
        partial = Transcript(turns=transcript.turns[:n], language="en", duration_s=4.0 * n, channels=2)
        started = time.perf_counter()
        live = decide_live(GuardrailInput(transcript=partial), policy=policy, previous=previous)
        timings.append((time.perf_counter() - started) * 1000)
        previous = live.escalation
    # one utterance more than the last call: earlier sentences are cached (median: the machine is shared)
    assert sorted(timings[1:])[len(timings) // 2] < 25, timings
