"""Live-session logic with the pattern-only flag detector, the real guardrail policy and
flows, and tiny stand-ins for the intent and sentiment heads (no models, no Redis)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from callintel.config import LiveSettings, Settings
from callintel.domain import IntentResult, LabelScore, TurnSentiment
from callintel.errors import Conflict, InvalidInput, NotFound
from callintel.guardrail import load_policy
from callintel.live import (
    LiveService,
    MemorySessionStore,
    SessionStart,
    Utterance,
    intent_so_far,
    packaged_flow_runner,
    transcript_of,
)
from callintel.pipeline import Analyzers
from callintel.understanding.flags import FlagDetector


class CountingEmbedder:
    name, dim = "fake", 8

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.batches.append(list(texts))
        return np.zeros((len(texts), self.dim), dtype=np.float32)


class FakeModels:
    def __init__(self) -> None:
        self.emb = CountingEmbedder()

    def embedder(self, name: str = "minilm") -> CountingEmbedder:
        return self.emb


class KeywordIntent:
    def classify_text(self, text: str) -> IntentResult:
        low = text.lower()
        label = "billing" if "charge" in low else "cancellation" if "cancel" in low else "other"
        return IntentResult(
            label, 0.9 if label != "other" else 0.5, secondary=(LabelScore("complaint", 0.05),)
        )


class WordSentiment:
    def score_text(self, text: str, *, turn: int = 0, speaker: str = "unknown") -> TurnSentiment:
        score = -0.8 if any(w in text.lower() for w in ("ridiculous", "awful", "furious")) else 0.2
        label = "negative" if score < 0 else "positive"
        return TurnSentiment(turn, speaker, label, score, 0.9)  # type: ignore[arg-type]


@pytest.fixture()
def live() -> LiveService:
    settings = Settings()
    analyzers = Analyzers(
        settings=settings,
        models=FakeModels(),
        intent=KeywordIntent(),
        sentiment=WordSentiment(),  # type: ignore[arg-type]
        flags=FlagDetector(embedder=None),
        scorecard=None,  # type: ignore[arg-type]
        policy=load_policy(None, settings=settings.guardrail),
    )
    return LiveService(
        analyzers=analyzers,
        store=MemorySessionStore(),
        flows_for=packaged_flow_runner(lambda _t: None),
        config=LiveSettings(max_turns=5, lock_timeout_s=0.2),
    )


def test_flow_intent_and_redaction_per_utterance(live: LiveService) -> None:
    sid = live.start("t", SessionStart())["session_id"]
    agent = live.add_utterance("t", sid, Utterance("agent", "Thanks for calling, how can I help?", ts=0.0))
    assert agent["intent"] is None and agent["flow"] is None and agent["kb_suggestions"] == []
    r = live.add_utterance("t", sid, Utterance("customer", "I was charged twice for my plan.", ts=3.0))
    assert r["intent"]["label"] == "billing" and r["flow"]["flow_id"] == "duplicate_charge"
    r = live.add_utterance("t", sid, Utterance("customer", "My card is 4111 1111 1111 1111.", ts=6.0))
    assert "4111" not in r["turn"]["text"]
    assert "4111" not in str(live.state("t", sid))  # only redacted text is stored
    assert r["flow"]["node_id"] == "check_history" and r["flow"]["moved"]


def test_one_embedding_batch_per_customer_utterance(live: LiveService) -> None:
    sid = live.start("t", SessionStart())["session_id"]
    emb = live.analyzers.models.embedder()  # type: ignore[attr-defined]
    live.add_utterance("t", sid, Utterance("agent", "How can I help?"))
    assert emb.batches == []  # agent turns need no embedding
    live.add_utterance("t", sid, Utterance("customer", "I was charged twice. Please fix it now."))
    assert len(emb.batches) == 1
    assert (
        "I was charged twice." in emb.batches[0]
        and "I was charged twice. Please fix it now." in emb.batches[0]
    )


def test_warning_arrives_with_the_triggering_utterance_once(live: LiveService) -> None:
    sid = live.start("t", SessionStart())["session_id"]
    calm = live.add_utterance("t", sid, Utterance("customer", "I have a question about my bill please."))
    assert calm["escalation"]["warning"] is None and calm["escalation"]["decision"] == "none"
    hot = live.add_utterance(
        "t", sid, Utterance("customer", "This is ridiculous, let me speak to a manager now.")
    )
    assert hot["escalation"]["warning"] and "human requested" in hot["escalation"]["warning"]
    assert [a["topic"] for a in hot["alerts"]] == ["supervisor_request"]
    assert hot["flow"]["flow_id"] == "angry_caller_escalation"
    after = live.add_utterance("t", sid, Utterance("agent", "Of course, one moment."))
    assert after["escalation"]["warning"] is None and after["alerts"] == []
    assert after["escalation"]["decision"] == hot["escalation"]["decision"]


def test_limits_and_errors(live: LiveService) -> None:
    with pytest.raises(NotFound):
        live.add_utterance("t", "live_missing", Utterance("agent", "hi"))
    sid = live.start("t", SessionStart())["session_id"]
    for bad in (
        Utterance("bot", "hi"),
        Utterance("agent", " "),
        Utterance("agent", "x" * 5000),
        Utterance("agent", "hi", ts=-1.0),
    ):
        with pytest.raises(InvalidInput):
            live.add_utterance("t", sid, bad)
    for i in range(5):
        live.add_utterance("t", sid, Utterance("agent", f"line {i}"))
    with pytest.raises(Conflict, match="too many utterances"):
        live.add_utterance("t", sid, Utterance("agent", "one more"))


def test_timestamps_never_go_backwards_and_transcript_turns_end_at_the_next(live: LiveService) -> None:
    sid = live.start("t", SessionStart())["session_id"]
    live.add_utterance("t", sid, Utterance("agent", "Hello there, how can I help?", ts=10.0))
    live.add_utterance("t", sid, Utterance("customer", "I want to cancel my plan.", ts=4.0))
    live.add_utterance("t", sid, Utterance("agent", "Sure.", ts=30.0))
    transcript = transcript_of(live.state("t", sid))
    starts = [t.start for t in transcript.turns]
    assert starts == [10.0, 10.0, 30.0]
    assert transcript.turns[1].end <= 30.0 and transcript.duration_s >= 30.0


def test_intent_so_far_weighs_the_opening() -> None:
    state = {
        "intent_votes": {"billing": 3.0, "complaint": 1.0},
        "intent_weight": 4.0,
        "intent_turns": {"billing": [1, 3]},
    }
    result = intent_so_far(state, low=0.55)
    assert (result.label, result.confidence, result.turns, result.low_confidence) == (
        "billing",
        0.75,
        (1, 3),
        False,
    )
    empty = intent_so_far({"intent_votes": {}, "intent_weight": 0.0, "intent_turns": {}}, low=0.55)
    assert empty.label == "" and empty.low_confidence


def test_sentiment_trend_worsens(live: LiveService) -> None:
    sid = live.start("t", SessionStart())["session_id"]
    live.add_utterance("t", sid, Utterance("customer", "Hi, I need help with my account."))
    r = live.add_utterance("t", sid, Utterance("customer", "This is awful and I am furious."))
    assert r["sentiment"]["trend"]["direction"] == "worsening"
    assert r["sentiment"]["utterance"]["label"] == "negative" and r["sentiment"]["recent"] == [0.2, -0.8]


def test_memory_store_lock_times_out() -> None:
    store = MemorySessionStore()
    assert store.create("k", {"a": 1}, ttl_s=60) and not store.create("k", {"a": 2}, ttl_s=60)
    with store.lock("k", timeout_s=0.1), pytest.raises(Conflict), store.lock("k", timeout_s=0.05):
        pass
    store.save("gone", {"a": 1}, ttl_s=-1)
    assert store.load("gone") is None
