"""A real local Hugging Face sequence-classification folder, loaded offline through our loader.

The test builds a tiny BERT (random weights) and a WordPiece tokenizer from a word list,
saves both with ``save_pretrained`` and loads them back with ``transformers`` via
``HFSequenceClassifier``; no hub is reachable (socket guard, HF offline variables).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callintel.config import ModelSettings
from callintel.domain import Transcript, Turn
from callintel.errors import ModelNotFound
from callintel.ml.heads import HFSequenceClassifier, cached_hf_classifier
from callintel.ml.protocols import Classifier
from callintel.ml.registry import ModelManager
from callintel.understanding.sentiment import SentimentModel

pytestmark = pytest.mark.slow

WORDS = ["i", "am", "very", "happy", "sad", "angry", "thank", "you", "the", "bill", "is", "wrong", "okay"]
LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def _build_tiny_model(folder: Path) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ly"]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    model = BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-bert-sentiment")
    _build_tiny_model(folder)
    return folder


def test_loader_reads_labels_and_returns_probabilities(tiny_model_dir: Path) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    clf = HFSequenceClassifier(tiny_model_dir)
    assert isinstance(clf, Classifier)
    assert clf.labels == ("negative", "neutral", "positive")
    assert clf.name == f"hf:{tiny_model_dir.name}" and len(clf.version) == 12
    texts = ["I am very happy", "the bill is wrong", "", "okay " * 400]
    proba = clf.predict_proba(texts)
    assert proba.shape == (4, 3) and proba.dtype == np.float32
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(clf.predict_proba(texts[:1]), proba[:1], atol=1e-5)  # padding does not change a row
    assert clf.predict_proba([]).shape == (0, 3)


def test_missing_or_broken_folder_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        HFSequenceClassifier(tmp_path / "nothing")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelNotFound):
        HFSequenceClassifier(tmp_path / "broken")


def test_sentiment_model_uses_configured_folder(
    tiny_model_dir: Path, models: Any, embedder: Any, tmp_path: Path
) -> None:
    manager = ModelManager(cache_dir=tiny_model_dir)
    settings = ModelSettings(sentiment_model_dir=tiny_model_dir)
    model = SentimentModel.load(models=manager, embedder=embedder, settings=settings)
    assert isinstance(model.classifier, HFSequenceClassifier)
    assert model.classifier is cached_hf_classifier(manager, tiny_model_dir)  # loaded once per process
    turns = (
        Turn(0, "agent", 0.0, 2.0, "thank you"),
        Turn(1, "customer", 2.0, 4.0, "i am angry the bill is wrong"),
        Turn(2, "customer", 4.0, 6.0, "okay thank you"),
    )
    result = model.analyze(Transcript(turns=turns, language="en", duration_s=6.0, channels=2))
    assert result.model_version == model.classifier.version
    assert [t.turn for t in result.turns] == [0, 1, 2]
    expected = model.classifier.predict_proba([t.text for t in turns])
    for scored, row in zip(result.turns, expected, strict=True):
        assert scored.label == LABELS[int(row.argmax())]
        assert scored.score == pytest.approx(float(row[2] - row[0]), abs=1e-3)
    assert set(result.by_speaker) == {"agent", "customer"}
    default = SentimentModel.load(
        models=models, embedder=embedder, settings=ModelSettings(heads_dir=tmp_path)
    )
    assert not isinstance(default.classifier, HFSequenceClassifier)
