"""Evaluation harness arithmetic with hand-made analyses (no models)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from callintel.cli.eval import print_report
from callintel.domain import (
    Analysis,
    ChannelMap,
    Escalation,
    Flag,
    IntentResult,
    SentimentResult,
    SpeakerSentiment,
    Summary,
    Transcript,
    Turn,
)
from callintel.errors import AudioUnreadable, DatasetInvalid
from callintel.evaluation import (
    NOTHING,
    PRF,
    CallResult,
    EvalCall,
    EvalReport,
    Expected,
    Predicted,
    ScriptTurn,
    agreement,
    load_dataset,
    prf,
    run_calls,
    score_call,
    script_transcript,
)
from callintel.understanding.wer import WerScore

DEVSET = Path(__file__).resolve().parents[2] / "eval" / "devset"


def expected(intent: str = "billing", flags: tuple[str, ...] = (), outcome: str = "resolved",
             sentiment: str = "neutral", escalation: str = "none") -> Expected:
    return Expected(intent=intent, flags=frozenset(flags), outcome=outcome,
                    customer_sentiment=sentiment, escalation=escalation)


def call(call_id: str = "c1", exp: Expected | None = None, *, mono: bool = False) -> EvalCall:
    turns = (
        ScriptTurn("agent", "Thanks for calling, this is Ana.", 0.5, 2.0),
        ScriptTurn("customer", "I was charged $49 twice.", 2.5, 4.0),
        ScriptTurn("agent", "I've refunded one charge.", 4.5, 6.0),
    )
    return EvalCall(id=call_id, turns=turns, expected=exp or expected(),
                    channel_map=None if mono else ChannelMap())


def predicted(intent: str | None = "billing", flags: tuple[str, ...] = (), outcome: str | None = "resolved",
              sentiment: str | None = "neutral", escalation: str | None = "none") -> Predicted:
    return Predicted(intent=intent, flags=frozenset(flags), outcome=outcome,
                     customer_sentiment=sentiment, escalation=escalation)


def report(*results: CallResult) -> EvalReport:
    return EvalReport(dataset="fake", mode="text", asr_model=None, results=results)


def analysis(*, customer: str | None = "negative", flags: tuple[str, ...] = ("refund",)) -> Analysis:
    by_speaker = {"agent": SpeakerSentiment("positive", 0.4, 2)}
    if customer:
        by_speaker["customer"] = SpeakerSentiment(customer, -0.5, 1)  # type: ignore[arg-type]
    transcript = Transcript(turns=(), language="en", duration_s=6.0, channels=2)
    return Analysis(
        call_id="c1", duration_s=6.0, language="en", channel_map=ChannelMap(), transcript=transcript,
        intent=IntentResult(label="billing", confidence=0.9),
        sentiment=SentimentResult(turns=(), by_speaker=by_speaker, trend=None),
        flags=tuple(Flag(topic=t, turns=(1,), confidence=0.8, raised_by="customer") for t in flags),
        summary=Summary(reason=None, actions=(), outcome="resolved", outcome_turns=(), next_steps=()),
        escalation=Escalation(decision="suggest", priority="normal", reasons=(), handoff_brief=None),
    )


# --- counting --------------------------------------------------------------------------------------
def test_prf_counts_and_rates() -> None:
    value = prf([(True, True), (True, True), (True, False), (False, True), (False, False)])
    assert (value.tp, value.fp, value.fn) == (2, 1, 1)
    assert value.precision == pytest.approx(2 / 3)
    assert value.recall == pytest.approx(2 / 3)
    assert value.f1 == pytest.approx(2 / 3)


def test_prf_undefined_rates_are_none_not_zero() -> None:
    nothing_predicted = prf([(True, False), (False, False)])
    assert nothing_predicted.precision is None
    assert nothing_predicted.recall == 0.0
    assert nothing_predicted.f1 is None
    assert PRF().recall is None
    assert (PRF(1, 2, 3) + PRF(4, 5, 6)) == PRF(5, 7, 9)


def test_agreement_can_leave_out_missing_predictions() -> None:
    pairs = [("a", "a"), ("b", None), ("c", "x")]
    assert agreement(pairs).rate == pytest.approx(1 / 3)
    kept = agreement(pairs, skip_missing=True)
    assert (kept.correct, kept.total) == (1, 2)
    assert agreement([]).rate is None


# --- the report ------------------------------------------------------------------------------------
def test_report_aggregates_labels() -> None:
    r1 = CallResult(call("a", expected("billing", ("refund",), escalation="none")),
                    predicted("billing", ("refund",), escalation="none"))
    r2 = CallResult(call("b", expected("complaint", ("supervisor_request", "repeat_contact"),
                                       outcome="escalated", sentiment="negative", escalation="require")),
                    predicted("complaint", ("supervisor_request", "refund"), outcome="pending",
                              sentiment="negative", escalation="suggest"))
    r3 = CallResult(call("c", expected("appointment", sentiment="positive", escalation="none")),
                    predicted("other", (), sentiment="neutral", escalation="require"))
    rep = report(r1, r2, r3)
    assert (rep.intent.correct, rep.intent.total) == (2, 3)
    assert (rep.outcome.correct, rep.outcome.total) == (2, 3)
    assert (rep.customer_sentiment.correct, rep.customer_sentiment.total) == (2, 3)
    by_topic = rep.flags_by_topic()
    assert by_topic["refund"] == PRF(tp=1, fp=1, fn=0)
    assert by_topic["repeat_contact"] == PRF(tp=0, fp=0, fn=1)
    assert by_topic["supervisor_request"] == PRF(tp=1, fp=0, fn=0)
    assert rep.flags == PRF(tp=2, fp=1, fn=1)
    # suggest and require both count as "a human is needed"
    assert rep.escalation == PRF(tp=1, fp=1, fn=0)
    assert (rep.escalation_decision.correct, rep.escalation_decision.total) == (1, 3)
    assert rep.confusion("intent") == {"appointment": {"other": 1}, "billing": {"billing": 1},
                                       "complaint": {"complaint": 1}}
    assert rep.confusion("escalation") == {"none": {"none": 1, "require": 1}, "require": {"suggest": 1}}


def test_sentiment_agreement_skips_calls_without_a_customer() -> None:
    mono = CallResult(call("m", expected(sentiment="negative"), mono=True), predicted(sentiment=None))
    stereo = CallResult(call("s", expected(sentiment="negative")), predicted(sentiment="negative"))
    rep = report(mono, stereo)
    assert (rep.customer_sentiment.correct, rep.customer_sentiment.total) == (1, 1)


def test_failed_call_counts_as_wrong_everywhere_but_sentiment() -> None:
    failed = CallResult(call("f", expected("billing", ("refund",), escalation="require")), NOTHING,
                        error="audio_unreadable: bad")
    rep = report(failed)
    assert rep.intent.rate == 0.0
    assert rep.flags == PRF(tp=0, fp=0, fn=1)
    assert rep.escalation == PRF(tp=0, fp=0, fn=1)
    assert rep.customer_sentiment.total == 0
    assert rep.errors == [failed]
    assert failed.mistakes[0] == "error audio_unreadable: bad"


def test_wer_sums_errors_over_calls_not_rates() -> None:
    a = CallResult(call("a"), predicted(), wer=WerScore(1, 0, 0, 10))
    b = CallResult(call("b"), predicted(), wer=WerScore(0, 3, 0, 90))
    rep = report(a, b)
    assert rep.wer is not None
    assert rep.wer.wer == pytest.approx(4 / 100)
    assert report(CallResult(call("c"), predicted())).wer is None


def test_mistakes_are_readable() -> None:
    result = CallResult(call("a", expected("billing", ("refund", "chargeback"), escalation="require")),
                        predicted("other", ("refund", "outage"), escalation="none"))
    assert result.mistakes == [
        "intent: expected billing, got other",
        "escalation: expected require, got none",
        "missed flags: chargeback",
        "extra flags: outage",
    ]


# --- scoring one call ---------------------------------------------------------------------------------
def test_score_call_reads_the_analysis_and_scores_wer_per_speaker() -> None:
    hyp_turns = (
        Turn(0, "agent", 0.5, 2.0, "thanks for calling this is anna"),
        Turn(1, "customer", 2.5, 4.0, "i was charged 49 dollars twice"),
        Turn(2, "agent", 4.5, 6.0, "ive refunded one charge"),
    )
    hyp = Transcript(turns=hyp_turns, language="en", duration_s=6.0, channels=2)
    result = score_call(call("c1", expected(flags=("refund",))), analysis(), hypothesis=hyp)
    assert result.predicted == predicted("billing", ("refund",), sentiment="negative", escalation="suggest")
    assert result.wer is not None
    # only "ana" → "anna" differs; "$49" and "49 dollars" normalise to the same words
    assert result.wer.errors == 1
    assert result.wer_by_speaker["customer"].errors == 0
    assert result.wer_by_speaker["agent"].errors == 1


def test_score_call_mono_has_no_speaker_wer_or_customer() -> None:
    hyp = Transcript(turns=(Turn(0, "unknown", 0, 6, "thanks for calling"),), language="en",
                     duration_s=6.0, channels=1)
    result = score_call(call("m", mono=True), analysis(customer=None), hypothesis=hyp)
    assert result.wer_by_speaker == {}
    assert result.wer is not None and result.wer.deletions > 0
    assert result.predicted.customer_sentiment is None


def test_script_transcript_keeps_order_roles_and_times() -> None:
    transcript = script_transcript(call())
    assert [t.speaker for t in transcript.turns] == ["agent", "customer", "agent"]
    assert [t.channel for t in transcript.turns] == [0, 1, 0]
    assert transcript.turns[1].start == 2.5
    assert transcript.channels == 2


def test_run_calls_isolates_a_failing_call() -> None:
    seen: list[str] = []

    def runner(c: EvalCall) -> tuple[Analysis, Transcript | None]:
        if c.id == "bad":
            raise AudioUnreadable("cannot decode")
        return analysis(), None

    results = run_calls([call("good"), call("bad")], runner, on_result=lambda r: seen.append(r.call.id))
    assert seen == ["good", "bad"]
    assert results[0].error is None and results[0].predicted.intent == "billing"
    assert results[1].error == "audio_unreadable: cannot decode"
    assert results[1].predicted == NOTHING


# --- datasets ------------------------------------------------------------------------------------------
def _write_script(folder: Path, call_id: str, **overrides: object) -> None:
    doc: dict[str, object] = {
        "id": call_id,
        "expected": {"intent": "billing", "flags": ["refund"], "outcome": "resolved",
                     "customer_sentiment": "neutral", "escalation": "none"},
        "turns": [{"speaker": "agent", "text": "Hello there."},
                  {"speaker": "customer", "text": "I need a refund for order 12345."}],
    }
    doc.update(overrides)
    (folder / "calls").mkdir(parents=True, exist_ok=True)
    (folder / "calls" / f"{call_id}.yaml").write_text(yaml.safe_dump(doc))


def test_load_dataset_from_manifest(tmp_path: Path) -> None:
    _write_script(tmp_path, "one")
    times = [{"speaker": "agent", "start": 0.4, "end": 1.2},
             {"speaker": "customer", "start": 1.5, "end": 3.0}]
    entry = {"id": "one", "script": "calls/one.yaml", "audio": "audio/one.wav",
             "channel_map": "customer,agent", "turns": times}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(entry) + "\n")
    [loaded] = load_dataset(tmp_path)
    assert loaded.audio == tmp_path / "audio" / "one.wav"
    assert loaded.channel_map == ChannelMap(left="customer", right="agent")
    assert loaded.turns[1].start == 1.5
    assert loaded.expected.flags == frozenset({"refund"})


def test_load_dataset_without_manifest_invents_times(tmp_path: Path) -> None:
    _write_script(tmp_path, "b")
    _write_script(tmp_path, "a")
    calls = load_dataset(tmp_path)
    assert [c.id for c in calls] == ["a", "b"]
    assert calls[0].audio is None
    assert 0 < calls[0].turns[0].end < calls[0].turns[1].start
    assert len(load_dataset(tmp_path, limit=1)) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"expected": {"intent": "billing", "outcome": "fixed", "customer_sentiment": "neutral",
                      "escalation": "none"}},
        {"turns": [{"speaker": "robot", "text": "hi"}]},
        {"turns": None},
        {"turns": ["just a string"]},
    ],
)
def test_malformed_scripts_are_typed_errors(tmp_path: Path, overrides: dict[str, object]) -> None:
    _write_script(tmp_path, "bad", **overrides)
    with pytest.raises(DatasetInvalid):
        load_dataset(tmp_path)


def test_missing_dataset_and_stale_manifest_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetInvalid):
        load_dataset(tmp_path)
    _write_script(tmp_path, "one")
    entry = {"id": "one", "script": "calls/one.yaml", "audio": "a.wav", "turns": [{"start": 0, "end": 1}]}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(entry) + "\n")
    with pytest.raises(DatasetInvalid, match="re-render"):
        load_dataset(tmp_path)


# --- the committed dev set ------------------------------------------------------------------------------
def test_devset_is_complete_and_varied() -> None:
    calls = load_dataset(DEVSET)
    assert len(calls) >= 32
    assert len({c.id for c in calls}) == len(calls)
    intents = {c.expected.intent for c in calls}
    assert intents == {"billing", "technical_support", "order_status", "product_inquiry", "complaint",
                       "cancellation", "appointment", "other"}
    topics = set().union(*(c.expected.flags for c in calls))
    assert topics == {"cancellation", "refund", "outage", "supervisor_request", "repeat_contact",
                      "legal_threat", "fraud_or_security", "chargeback"}
    assert {c.expected.outcome for c in calls} == {"resolved", "escalated", "pending", "unresolved"}
    assert sum(c.expected.escalation == "none" for c in calls) >= 10  # calm calls that must not escalate
    assert len({c.industry for c in calls}) >= 6
    assert sum(c.channel_map is None for c in calls) >= 2  # some mono recordings
    for c in calls:
        assert c.audio is not None and c.audio.is_file(), c.id
        assert all(t.end > t.start for t in c.turns), c.id


def test_devset_audio_stays_small() -> None:
    total = sum(p.stat().st_size for p in (DEVSET / "audio").iterdir())
    assert total < 15 * 1024 * 1024


# --- printing ------------------------------------------------------------------------------------------
def test_printed_and_json_report() -> None:
    rep = report(
        CallResult(call("a", expected(flags=("refund",))), predicted(flags=("refund",)),
                   wer=WerScore(1, 1, 0, 20), wer_by_speaker={"agent": WerScore(1, 1, 0, 20)}),
        CallResult(call("b", expected("complaint")), predicted("other")),
    )
    out = io.StringIO()
    print_report(rep, out=out, verbose=True)
    text = out.getvalue()
    assert "intent accuracy              0.500  (1/2)" in text
    assert "refund" in text and "WER (normalised)             0.100" in text
    assert "intent: expected complaint, got other" in text
    assert "  complaint            other 1" in text
    doc = rep.to_dict()
    assert doc["intent_accuracy"] == {"correct": 1, "total": 2, "rate": 0.5}
    assert doc["flags"]["micro"]["precision"] == 1.0
    assert doc["wer"]["wer"] == 0.1
    assert doc["confusion"]["intent"] == {"billing": {"billing": 1}, "complaint": {"other": 1}}
    first = doc["results"][0]
    assert first["expected"]["flags"] == ["refund"] and first["predicted"]["intent"] == "billing"
    assert first["wer_by_speaker"] == {"agent": 0.1}
    assert json.dumps(doc)


@pytest.mark.parametrize("fmt", ["ulaw8k", "opus", "mp3"])
def test_devset_stereo_channels_do_not_bleed(fmt: str) -> None:
    """Each speaker is only on their own channel (coupled-stereo codecs once leaked 7-14 dB)."""
    import numpy as np

    from callintel.audio.decode import AudioLimits, decode_audio

    entries = [json.loads(line) for line in (DEVSET / "manifest.jsonl").read_text().splitlines()]
    entry = next(e for e in entries if e["format"] == fmt and e["channels"] == 2)
    audio = decode_audio(DEVSET / entry["audio"], limits=AudioLimits())
    left = entry["channel_map"].split(",")[0]
    own = other = 0.0
    times = entry["turns"]
    for i, turn in enumerate(times):
        if any(j != i and t["start"] < turn["end"] and turn["start"] < t["end"] for j, t in enumerate(times)):
            continue  # overlapping speech is on both channels by design
        ch = 0 if turn["speaker"] == left else 1
        span = slice(int(turn["start"] * audio.sample_rate), int(turn["end"] * audio.sample_rate))
        own += float(np.square(audio.channels[ch][span]).sum())
        other += float(np.square(audio.channels[1 - ch][span]).sum())
    assert 10 * np.log10(own / other) > 25
