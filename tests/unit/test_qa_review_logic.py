"""Pure review logic: applying corrections to an analysis document, turning corrections into
training examples, repeat-contact and transfer detection, search segments and rank fusion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callintel.errors import InvalidInput
from callintel.review.corrections import (
    CorrectionRequest,
    QAOverride,
    SummaryFix,
    TurnLabel,
    apply_corrections,
    intent_text,
)
from callintel.review.metrics import repeat_flags, transferred
from callintel.review.search import Hit, fuse, segments_of
from callintel.storage.qa_repo import MetricRow
from callintel.understanding.feedback import CorrectionRecord, examples_from_corrections, training_set
from callintel.understanding.training import Example


def document() -> dict[str, Any]:
    turns = [
        {"index": 0, "speaker": "agent", "start": 0.0, "text": "Thanks for calling Acme, this is Jo."},
        {"index": 1, "speaker": "customer", "start": 3.0, "text": "I was charged twice this month."},
        {"index": 2, "speaker": "agent", "start": 6.0, "text": "I'm sorry, I've refunded the duplicate."},
        {"index": 3, "speaker": "customer", "start": 9.0, "text": "Great, thanks."},
    ]
    return {
        "transcript": {"channels": 2, "turns": turns},
        "intent": {"label": "other", "confidence": 0.4, "secondary": [], "turns": [1]},
        "sentiment": {"turns": [{"turn": i, "speaker": t["speaker"], "label": "neutral", "score": 0.1}
                                for i, t in enumerate(turns)]},
        "flags": [{"topic": "outage", "turns": [1], "confidence": 0.7, "raised_by": "customer"}],
        "summary": {"reason": {"text": "charged twice", "turns": [1]}, "actions": [], "outcome": "pending",
                    "outcome_turns": [], "next_steps": []},
        "qa": {"score": 50.0, "scorecard": "default", "items": [
            {"id": "greeting", "label": "G", "result": "pass", "turns": [0]},
            {"id": "empathy", "label": "E", "result": "fail", "turns": []},
            {"id": "close", "label": "C", "result": "n/a", "turns": []}]},
    }


def test_apply_corrections_marks_and_keeps_original() -> None:
    doc = document()
    request = CorrectionRequest(
        intent="billing", flags=("refund", "outage"), sentiment=(TurnLabel(1, "negative"),),
        qa=(QAOverride("empathy", "pass", "apologised"),), summary=SummaryFix(outcome="resolved"),
    )
    applied = apply_corrections(doc, request, weights={"greeting": 1, "empathy": 3})
    new = applied.document
    assert doc["intent"]["label"] == "other"  # the input is never modified
    assert new["intent"] | {"label": "billing", "corrected": True} == new["intent"]
    assert new["intent"]["original"] == {"label": "other", "confidence": 0.4}
    assert [f["topic"] for f in new["flags"]] == ["refund", "outage"]
    assert new["flags"][0]["corrected"] is True and "corrected" not in new["flags"][1]
    assert new["sentiment"]["turns"][1]["label"] == "negative" and new["sentiment"]["turns"][1]["score"] < 0
    assert new["qa"]["score"] == 100.0 and new["qa"]["items"][1]["original"]["result"] == "fail"
    assert new["summary"]["outcome"] == "resolved"
    assert new["corrected"] == ["intent", "flags", "sentiment", "qa", "summary"]
    fields = [c.field for c in applied.changes]
    assert fields == ["intent", "flags", "sentiment.turns[1]", "qa.items[empathy]", "summary"]
    assert applied.changes[0].corrected == {"label": "billing", "text": "I was charged twice this month."}
    assert applied.changes[2].corrected["text"] == "I was charged twice this month."


def test_qa_rescore_uses_weights_and_skips_na() -> None:
    request = CorrectionRequest(qa=(QAOverride("greeting", "fail"), QAOverride("empathy", "pass")))
    new = apply_corrections(document(), request, weights={"greeting": 1, "empathy": 3}).document
    assert new["qa"]["score"] == 75.0
    all_na = CorrectionRequest(qa=(QAOverride("greeting", "n/a"), QAOverride("empathy", "n/a")))
    assert apply_corrections(document(), all_na, weights={}).document["qa"]["score"] is None


@pytest.mark.parametrize(
    "request_",
    [
        CorrectionRequest(),
        CorrectionRequest(sentiment=(TurnLabel(9, "negative"),)),
        CorrectionRequest(sentiment=(TurnLabel(1, "angry"),)),
        CorrectionRequest(qa=(QAOverride("nope", "pass"),)),
        CorrectionRequest(qa=(QAOverride("greeting", "maybe"),)),
        CorrectionRequest(summary=SummaryFix(outcome="done")),
    ],
)
def test_bad_corrections_are_refused(request_: CorrectionRequest) -> None:
    with pytest.raises(InvalidInput):
        apply_corrections(document(), request_, weights={})


def test_intent_text_prefers_evidence_turns() -> None:
    doc = document()
    assert intent_text(doc) == "I was charged twice this month."
    doc["intent"]["turns"] = []
    doc["summary"]["reason"]["turns"] = []
    assert intent_text(doc) == "I was charged twice this month. Great, thanks."


def test_examples_from_corrections_latest_wins_and_kinds_split() -> None:
    records = [
        CorrectionRecord("c1", "intent", {"label": "other", "text": "my bill is wrong"}),
        CorrectionRecord("c1", "intent", {"label": "billing", "text": "my bill is wrong"}),
        CorrectionRecord("c1", "sentiment.turns[3]", {"label": "negative", "text": "this is awful"}),
        CorrectionRecord("c2", "flags", {"topics": ["refund"], "text": "x"}),
        CorrectionRecord("c3", "intent", None),
    ]
    intents = examples_from_corrections("intent", records)
    assert [(e.text, e.label) for e in intents] == [("my bill is wrong", "billing")]
    sentiments = examples_from_corrections("sentiment", records)
    assert [(e.text, e.label) for e in sentiments] == [("this is awful", "negative")]
    assert sentiments[0].group == "correction:c1:sentiment.turns[3]"
    with pytest.raises(InvalidInput):
        examples_from_corrections("colour", records)


def test_training_set_lets_corrections_replace_base_examples() -> None:
    base = [Example("My bill is wrong", "other"), Example("Where is my parcel", "order_status")]
    merged = training_set(base, [Example("my bill is wrong", "billing", group="correction:c1:intent")])
    assert [(e.text, e.label) for e in merged] == [("Where is my parcel", "order_status"),
                                                    ("my bill is wrong", "billing")]


def row(call_id: str, customer: str | None, at: datetime, **kw: Any) -> MetricRow:
    values: dict[str, Any] = dict(queue=None, agent_id=None, duration_s=60.0, intent=None, sentiment=None,
                                  flags=[], escalation=None, qa_score=None, hold_s=None,
                                  after_call_work_s=None, transferred=None)
    values.update(kw)
    return MetricRow(call_id=call_id, at=at, customer_id=customer, **values)


def test_repeat_contact_means_another_call_within_seven_days_after() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [row("a", "c1", t0), row("b", "c1", t0 + timedelta(days=6)), row("c", "c2", t0),
            row("d", None, t0)]
    contacts = {"c1": [t0, t0 + timedelta(days=6), t0 + timedelta(days=20)],
                "c2": [t0, t0 + timedelta(days=8)]}
    assert repeat_flags(rows, contacts) == {"a": True, "b": False, "c": False, "d": False}


def test_transfer_reported_wins_over_transcript() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    said = {"transcript": {"turns": [{"speaker": "agent", "text": "Let me transfer you to billing."}]}}
    assert transferred(row("a", None, t0), said) is True
    assert transferred(row("a", None, t0, transferred=False), said) is False
    customer = {"transcript": {"turns": [{"speaker": "customer", "text": "Transfer you to whom?"}]}}
    assert transferred(row("a", None, t0), customer) is False


def test_segments_and_fusion() -> None:
    segments = segments_of(document())
    singles = [s for s in segments if s[0] == s[1]]
    assert [s[0] for s in singles] == [0, 1, 2]  # "Great, thanks." is too short to index alone
    windows = [s for s in segments if s[0] != s[1]]
    assert [w[:2] for w in windows] == [(0, 2)]
    assert "customer: I was charged twice" in windows[0][3] and windows[0][2] == 0.0
    fused = fuse([("a", 0.9), ("b", 0.5)], [Hit("b", 0.8, semantic=0.8, snippet="s", turns=(1,)),
                                             Hit("c", 0.7, semantic=0.7)], limit=3)
    assert [h.call_id for h in fused] == ["b", "a", "c"]
    assert fused[0].text_rank == 0.5 and fused[0].semantic == 0.8 and fused[0].turns == (1,)
