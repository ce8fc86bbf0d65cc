"""Aggregation logic of IntentModel and SentimentModel over a scripted classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from callintel.domain import Speaker, Transcript, Turn
from callintel.errors import ConfigError
from callintel.ml.protocols import FloatArray
from callintel.understanding.intent import IntentModel
from callintel.understanding.sentiment import SentimentModel, canonical_label


class KeywordClassifier:
    """Returns a fixed distribution for the first keyword found in a text; else ``default``."""

    name = "keywords"
    version = "test-1"

    def __init__(
        self, labels: Sequence[str], rules: Mapping[str, Sequence[float]], default: Sequence[float]
    ) -> None:
        self.labels = tuple(labels)
        self.rules = {k: np.asarray(v, dtype=np.float32) for k, v in rules.items()}
        self.default = np.asarray(default, dtype=np.float32)
        self.seen: list[str] = []

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        self.seen.extend(texts)
        rows = []
        for text in texts:
            row = next((v for k, v in self.rules.items() if k in text), self.default)
            rows.append(row / row.sum())
        return np.asarray(rows, dtype=np.float32)


INTENT_LABELS = ("billing", "cancellation", "other")
INTENT = {
    "charged": [0.9, 0.05, 0.05],
    "cancel": [0.05, 0.9, 0.05],
    "bill visit": [0.45, 0.45, 0.1],
}
CHATTER = [0.05, 0.05, 0.9]


def _call(lines: list[tuple[Speaker, str]]) -> Transcript:
    turns = tuple(Turn(i, s, i * 5.0, i * 5.0 + 4.0, t) for i, (s, t) in enumerate(lines))
    return Transcript(turns=turns, language="en", duration_s=len(lines) * 5.0, channels=2)


def _intent() -> tuple[IntentModel, KeywordClassifier]:
    clf = KeywordClassifier(INTENT_LABELS, INTENT, CHATTER)
    return IntentModel(clf, low_confidence=0.55), clf


def test_customer_turns_only_and_chatter_ignored() -> None:
    model, clf = _intent()
    call = _call(
        [
            ("agent", "you want to cancel the account? we charged you"),
            ("customer", "hi there how are you"),
            ("customer", "you charged me twice this month"),
            ("customer", "okay thanks bye then"),
        ]
    )
    result = model.classify(call)
    assert result.label == "billing" and not result.low_confidence
    assert result.confidence > 0.8
    assert result.turns == (2,)
    assert not any("we charged you" in text for text in clf.seen)  # the agent's words are not scored
    assert result.model_version == "test-1"


def test_short_turns_skipped_and_pairs_scored() -> None:
    model, clf = _intent()
    call = _call(
        [
            ("customer", "yes"),
            ("customer", "I was charged for nothing"),
            ("customer", "ok"),
            ("customer", "and then another thing"),
        ]
    )
    model.classify(call)
    assert "yes" not in clf.seen and "ok" not in clf.seen
    assert "I was charged for nothing and then another thing" in clf.seen


def test_split_evidence_is_low_confidence_other() -> None:
    model, _ = _intent()
    result = model.classify_text("about the bill visit")
    assert result.label == "other" and result.low_confidence
    assert result.confidence < 0.55
    assert {s.label for s in result.secondary} == {"billing", "cancellation"}


def test_only_chatter_is_confident_other() -> None:
    model, _ = _intent()
    result = model.classify(_call([("customer", "sorry wrong number mate"), ("customer", "bye now then")]))
    assert result.label == "other" and not result.low_confidence
    assert result.secondary == ()


def test_opening_outweighs_a_long_tail() -> None:
    model, _ = _intent()
    lines: list[tuple[Speaker, str]] = [("customer", "you charged me twice on the card")]
    lines += [("customer", f"okay step {i} done now") for i in range(43)]
    lines += [("customer", f"I will cancel everything {i} today") for i in range(8)]
    result = model.classify(_call(lines))
    assert result.label == "billing"
    assert "cancellation" in {s.label for s in result.secondary}
    assert 0 in result.turns


def test_mono_and_empty_calls() -> None:
    model, _ = _intent()
    result = model.classify(
        _call([("unknown", "thanks for calling today"), ("unknown", "please cancel my plan")])
    )
    assert result.label == "cancellation" and result.turns == (1,)
    empty = model.classify(_call([]))
    assert empty.label == "other" and empty.low_confidence and empty.confidence == 0.0
    assert model.classify_text("   ").low_confidence


def test_taxonomy_without_other_still_answers_other_when_unsure() -> None:
    clf = KeywordClassifier(("claim", "quote"), {"claim": [0.9, 0.1]}, [0.5, 0.5])
    model = IntentModel(clf)
    assert model.classify_text("new claim please").label == "claim"
    unsure = model.classify_text("something")
    assert unsure.label == "other" and unsure.low_confidence


SENT = {
    "angry": [0.9, 0.08, 0.02],
    "thanks": [0.02, 0.08, 0.9],
    "sorry": [0.3, 0.65, 0.05],
}
NEUTRAL = [0.1, 0.8, 0.1]


def _sentiment(labels: Sequence[str] = ("negative", "neutral", "positive")) -> SentimentModel:
    return SentimentModel(KeywordClassifier(labels, SENT, NEUTRAL))


def test_turn_scores_speakers_and_improving_trend() -> None:
    model = _sentiment()
    call = _call(
        [
            ("agent", "hello how can I help"),
            ("customer", "I am angry about this"),
            ("agent", "I'm sorry to hear that"),
            ("agent", "I'm so sorry again"),
            ("customer", "hmm okay"),
            ("customer", "right so"),
            ("agent", "it's fixed now"),
            ("customer", "thanks a lot"),
        ]
    )
    result = model.analyze(call)
    assert [t.label for t in result.turns] == [
        "neutral",
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "neutral",
        "neutral",
        "positive",
    ]
    assert result.turns[1].score == pytest.approx(-0.88, abs=1e-3)
    assert result.turns[1].confidence == pytest.approx(0.9, abs=1e-3)
    # apologies lean negative in score but the agent stays neutral overall
    assert result.by_speaker["agent"].label == "neutral" and result.by_speaker["agent"].score < 0
    assert result.by_speaker["customer"].turns == 4
    assert result.trend is not None
    assert result.trend.direction == "improving"
    assert result.trend.start == pytest.approx(-0.88, abs=1e-3) and result.trend.end == pytest.approx(
        0.88, abs=1e-3
    )


def test_worsening_stable_and_no_trend() -> None:
    model = _sentiment()
    worse = model.analyze(
        _call([("customer", "thanks"), ("customer", "x"), ("customer", "y"), ("customer", "angry")])
    )
    assert worse.trend is not None and worse.trend.direction == "worsening"
    stable = model.analyze(
        _call([("customer", "a"), ("customer", "b"), ("customer", "c"), ("customer", "d")])
    )
    assert stable.trend is not None and stable.trend.direction == "stable"
    single = model.analyze(_call([("agent", "hello"), ("customer", "angry")]))
    assert single.trend is None
    empty = model.analyze(_call([]))
    assert empty.turns == () and empty.trend is None and empty.low_confidence


def test_two_label_model_derives_neutral_from_score() -> None:
    clf = KeywordClassifier(("NEGATIVE", "POSITIVE"), {"angry": [0.9, 0.1], "thanks": [0.1, 0.9]}, [0.5, 0.5])
    model = SentimentModel(clf)
    assert model.score_text("angry").label == "negative"
    assert model.score_text("meh").label == "neutral"
    assert model.score_text("thanks", turn=3, speaker="customer").turn == 3


@pytest.mark.parametrize(
    ("name", "index", "count", "expected"),
    [
        ("NEGATIVE", 0, 2, "negative"),
        ("Neutral", 1, 3, "neutral"),
        ("pos", 2, 3, "positive"),
        ("LABEL_0", 0, 3, "negative"),
        ("LABEL_1", 1, 3, "neutral"),
        ("LABEL_1", 1, 2, "positive"),
        ("1 star", 0, 5, "negative"),
        ("3 stars", 2, 5, "neutral"),
        ("5 stars", 4, 5, "positive"),
    ],
)
def test_canonical_label(name: str, index: int, count: int, expected: str) -> None:
    assert canonical_label(name, index=index, count=count) == expected


def test_unknown_labels_are_a_config_error() -> None:
    with pytest.raises(ConfigError):
        canonical_label("joy", index=0, count=6)
    with pytest.raises(ConfigError):
        SentimentModel(KeywordClassifier(("joy", "anger"), {}, [0.5, 0.5]))


def test_call_and_utterance_thresholds_differ() -> None:
    clf = KeywordClassifier(INTENT_LABELS, {"halfway": [0.5, 0.45, 0.05]}, CHATTER)
    model = IntentModel(clf, low_confidence=0.55, call_low_confidence=0.45)
    text = model.classify_text("halfway there now")
    assert text.label == "other" and text.low_confidence and text.confidence == pytest.approx(0.5, abs=1e-3)
    call = model.classify(_call([("customer", "halfway there now")]))
    assert call.label == "billing" and not call.low_confidence


def test_speaker_bands_differ_by_role() -> None:
    clf = KeywordClassifier(("negative", "neutral", "positive"), {"meh": [0.32, 0.58, 0.1]}, NEUTRAL)
    result = SentimentModel(clf).analyze(_call([("agent", "meh sorry"), ("customer", "meh okay")]))
    assert result.by_speaker["agent"].score == pytest.approx(-0.22, abs=1e-3)
    assert result.by_speaker["agent"].label == "neutral"
    assert result.by_speaker["customer"].label == "negative"


def test_customer_clearly_upset_in_a_quarter_of_turns_is_negative() -> None:
    clf = KeywordClassifier(
        ("negative", "neutral", "positive"), {"awful": [0.9, 0.1, 0.0], "lovely": [0.0, 0.1, 0.9]}, NEUTRAL
    )
    model = SentimentModel(clf)
    calm = [("customer", "fine")] * 5
    upset: list[tuple[Speaker, str]] = [("customer", "awful")]
    two_upset = model.analyze(_call([*upset, *calm, *upset, ("customer", "lovely")]))
    assert two_upset.by_speaker["customer"].score > -0.2  # the mean alone would say neutral
    assert two_upset.by_speaker["customer"].label == "negative"
    one_upset = model.analyze(_call([("customer", "awful"), *calm]))
    assert one_upset.by_speaker["customer"].label == "neutral"
    diluted = model.analyze(_call([("customer", "awful"), *calm, *calm, ("customer", "awful")]))
    assert diluted.by_speaker["customer"].label == "neutral"  # 2 of 12 turns: under a quarter
    agent = model.analyze(_call([("agent", "awful"), *[("agent", "fine")] * 6, ("agent", "awful")]))
    assert agent.by_speaker["agent"].label == "neutral"
