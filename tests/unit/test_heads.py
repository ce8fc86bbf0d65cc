"""Embedding heads, head folders and versions, with a small deterministic fake embedder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from callintel.errors import InvalidInput, ModelError, ModelNotFound
from callintel.ml.heads import (
    EmbeddingHead,
    head_versions,
    packaged_head_dir,
    resolve_head_dir,
    train_head,
)
from callintel.ml.protocols import Classifier, FloatArray
from callintel.understanding.training import (
    Example,
    load_examples,
    model_card,
    parse_examples,
    publish_head,
    save_head,
    train_intent,
    train_sentiment,
)


class HashEmbedder:
    """Bag of hashed words → 64-d unit vectors: enough signal for a linear head to learn."""

    def __init__(self, name: str = "fake", dim: int = 64) -> None:
        self.name = name
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> FloatArray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.md5(word.encode()).digest()
                out[row, digest[0] % self.dim] += 1.0
            out[row] /= max(float(np.linalg.norm(out[row])), 1e-9)
        return out


WORDS = {
    "billing": ["bill", "charge", "invoice", "payment", "fee", "refund"],
    "tech": ["router", "error", "crash", "wifi", "login", "broken"],
    "other": ["hello", "yes", "okay", "name", "thanks", "bye"],
}


def _data(n_per_label: int = 20) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(7)
    texts, labels = [], []
    for label, words in WORDS.items():
        for _ in range(n_per_label):
            texts.append(" ".join(rng.choice(words, size=4)) + f" {rng.integers(1000)}")
            labels.append(label)
    return texts, labels


def test_training_is_reproducible_and_measured() -> None:
    texts, labels = _data()
    emb = HashEmbedder()
    head_a, report_a = train_head(texts, labels, embedder=emb, seed=3)
    head_b, report_b = train_head(texts, labels, embedder=emb, seed=3)
    probe = ["the invoice fee", "router error again"]
    assert np.array_equal(head_a.predict_proba(probe), head_b.predict_proba(probe))
    assert report_a.accuracy == report_b.accuracy and report_a.accuracy is not None
    assert report_a.accuracy >= 0.9
    assert report_a.n_train + report_a.n_test == len(texts) and report_a.n_test > 0
    assert set(report_a.per_label) == set(WORDS)
    assert head_a.labels == ("billing", "other", "tech")
    assert head_a.meta.data_sha256 == head_b.meta.data_sha256


def test_probabilities_shape_and_order() -> None:
    texts, labels = _data()
    head, _ = train_head(texts, labels, embedder=HashEmbedder(), seed=0)
    proba = head.predict_proba(["charge on my bill", "wifi login crash", "hello yes thanks"])
    assert proba.shape == (3, 3) and proba.dtype == np.float32
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert [head.labels[i] for i in proba.argmax(axis=1)] == ["billing", "tech", "other"]
    assert head.predict_proba([]).shape == (0, 3)
    assert isinstance(head, Classifier)


def test_binary_head_has_two_columns() -> None:
    texts, labels = _data()
    keep = [i for i, label in enumerate(labels) if label != "other"]
    head, _ = train_head([texts[i] for i in keep], [labels[i] for i in keep], embedder=HashEmbedder())
    proba = head.predict_proba(["invoice payment", "router broken"])
    assert proba.shape == (2, 2)
    assert head.labels[int(proba[0].argmax())] == "billing"
    assert head.labels[int(proba[1].argmax())] == "tech"


def test_save_load_round_trip_without_pickle(tmp_path: Path) -> None:
    texts, labels = _data()
    emb = HashEmbedder()
    head, _ = train_head(texts, labels, embedder=emb, seed=1, name="intent")
    head.save(tmp_path / "h")
    with np.load(tmp_path / "h" / "head.npz", allow_pickle=False) as data:
        assert set(data.files) == {"weights", "bias"}
    meta = json.loads((tmp_path / "h" / "meta.json").read_text())
    assert meta["labels"] == list(head.labels) and meta["embedder"] == "fake"
    assert meta["metrics"]["accuracy"] is not None and meta["version"] == head.version
    loaded = EmbeddingHead.load(tmp_path / "h", embedder=emb)
    probe = ["refund the fee", "hello bye"]
    assert np.allclose(loaded.predict_proba(probe), head.predict_proba(probe), atol=1e-6)
    assert loaded.version == head.version and loaded.name == "intent"


def test_load_refuses_other_embedder_and_missing_folder(tmp_path: Path) -> None:
    texts, labels = _data()
    head, _ = train_head(texts, labels, embedder=HashEmbedder())
    head.save(tmp_path / "h")
    with pytest.raises(ModelError):
        EmbeddingHead.load(tmp_path / "h", embedder=HashEmbedder(name="other"))
    with pytest.raises(ModelNotFound):
        EmbeddingHead.load(tmp_path / "missing", embedder=HashEmbedder())


def test_bad_training_input() -> None:
    with pytest.raises(InvalidInput):
        train_head(["a"], ["x"], embedder=HashEmbedder())
    with pytest.raises(InvalidInput):
        train_head(["a", "b"], ["x"], embedder=HashEmbedder())
    with pytest.raises(InvalidInput):
        train_sentiment([Example("great", "happy"), Example("bad", "negative")], embedder=HashEmbedder())


def test_tiny_dataset_trains_without_holdout() -> None:
    head, report = train_intent(
        [Example("bill charge", "billing"), Example("router error", "tech")], embedder=HashEmbedder()
    )
    assert report.accuracy is None and report.n_test == 0
    assert head.labels == ("billing", "tech")


def test_groups_keep_variants_on_one_side() -> None:
    texts, labels = _data()
    groups = [f"g{i // 2}" for i in range(len(texts))]
    _, report = train_head(texts, labels, embedder=HashEmbedder(), groups=groups, seed=0)
    assert report.n_test % 2 == 0
    with pytest.raises(InvalidInput):
        train_head(texts, labels, embedder=HashEmbedder(), groups=groups[:-1])


def test_versions_latest_given_and_packaged_fallback(tmp_path: Path) -> None:
    texts, labels = _data()
    emb = HashEmbedder()
    assert resolve_head_dir("intent", heads_dir=None) == packaged_head_dir("intent")
    assert resolve_head_dir("intent", heads_dir=tmp_path) == packaged_head_dir("intent")
    first, report = train_head(texts, labels, embedder=emb, version="20260101T000000Z-aaaa")
    second, _ = train_head(texts, labels, embedder=emb, version="20260202T000000Z-bbbb")
    publish_head(first, report, heads_dir=tmp_path, kind="intent", data_name="d.jsonl")
    publish_head(second, report, heads_dir=tmp_path, kind="intent", data_name="d.jsonl")
    (tmp_path / "intent" / ".20270101T000000Z-tmp.tmp").mkdir()  # half-written: ignored
    assert head_versions(tmp_path, "intent") == ["20260101T000000Z-aaaa", "20260202T000000Z-bbbb"]
    assert resolve_head_dir("intent", heads_dir=tmp_path).name == "20260202T000000Z-bbbb"
    assert resolve_head_dir("intent", heads_dir=tmp_path, version="20260101T000000Z-aaaa").name.endswith(
        "aaaa"
    )
    with pytest.raises(ModelNotFound):
        resolve_head_dir("intent", heads_dir=tmp_path, version="nope")
    with pytest.raises(InvalidInput):
        publish_head(second, report, heads_dir=tmp_path, kind="intent", data_name="d.jsonl")


def test_packaged_heads_are_complete() -> None:
    for kind in ("intent", "sentiment"):
        folder = packaged_head_dir(kind)
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["embedder"] == "minilm" and meta["dim"] == 384
        assert (folder / "head.npz").is_file() and (folder / "MODEL_CARD.md").is_file()
        assert meta["metrics"]["accuracy"] >= 0.85
    intent = json.loads((packaged_head_dir("intent") / "meta.json").read_text())
    assert "other" in intent["labels"] and len(intent["labels"]) == 8


def test_examples_file_parsing(tmp_path: Path) -> None:
    path = tmp_path / "ex.jsonl"
    path.write_text(
        '{"text": "hi", "label": "other"}\n\n{"text": "bill", "label": "billing", "group": "g"}\n'
    )
    examples = load_examples(path)
    assert examples == [Example("hi", "other"), Example("bill", "billing", "g")]
    path.write_text('{"text": "hi"\n')
    with pytest.raises(InvalidInput):
        load_examples(path)
    with pytest.raises(InvalidInput):
        load_examples(tmp_path / "none.jsonl")
    for bad in (
        [{"text": "", "label": "x"}],
        [{"text": "a"}],
        ["text"],
        [{"text": "a", "label": "x", "group": 3}],
    ):
        with pytest.raises(InvalidInput):
            parse_examples(bad)


def test_save_head_writes_model_card(tmp_path: Path) -> None:
    texts, labels = _data()
    head, report = train_head(texts, labels, embedder=HashEmbedder(), name="intent")
    save_head(head, report, tmp_path, data_name="models/intent/examples.jsonl")
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert head.version in card and "Held-out accuracy" in card and "| billing |" in card
    assert card == model_card(head, report, data_name="models/intent/examples.jsonl")
