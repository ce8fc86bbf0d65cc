"""Text classifiers behind the ``Classifier`` protocol.

``EmbeddingHead``: multinomial logistic regression over sentence embeddings, trained with
scikit-learn and stored as plain arrays (``head.npz``) plus ``meta.json`` (no pickle, so a head
folder is safe to load from anywhere). ``HFSequenceClassifier``: any local Hugging Face
sequence-classification model folder, loaded offline with ``transformers``.

Head folders live either in the package (``callintel/resources/heads/<kind>/``) or, after a
retrain, under ``<heads_dir>/<kind>/<version>/``; ``resolve_head_dir`` picks one.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from callintel.errors import InvalidInput, ModelError, ModelNotFound
from callintel.ml.protocols import Classifier, Embedder, FloatArray
from callintel.ml.registry import ModelManager

HEAD_WEIGHTS = "head.npz"
HEAD_META = "meta.json"
FORMAT_VERSION = 1
_FILLERS = re.compile(r"\b(um+|uh+|erm|hmm+|mm+|like|you know|so|okay|ok|yeah|well)\b")


@dataclass(frozen=True)
class LabelMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class TrainReport:
    """What a training run measured on its held-out split."""

    accuracy: float | None
    """Accuracy on the held-out split (None when there was no split: ``holdout`` 0 or too few examples)."""
    per_label: dict[str, LabelMetrics]
    n_train: int
    n_test: int
    seed: int
    labels: tuple[str, ...]
    confusion: list[list[int]] = field(default_factory=list)
    """Rows: true label, columns: predicted label, in ``labels`` order."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HeadMeta:
    """Everything about a head except its weights (``meta.json``)."""

    name: str
    version: str
    labels: tuple[str, ...]
    embedder: str
    dim: int
    trained_at: str
    data_sha256: str
    seed: int
    metrics: dict[str, Any]
    format: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadMeta:
        try:
            return cls(
                name=str(data["name"]),
                version=str(data["version"]),
                labels=tuple(str(x) for x in data["labels"]),
                embedder=str(data["embedder"]),
                dim=int(data["dim"]),
                trained_at=str(data["trained_at"]),
                data_sha256=str(data.get("data_sha256", "")),
                seed=int(data.get("seed", 0)),
                metrics=dict(data.get("metrics", {})),
                format=int(data.get("format", FORMAT_VERSION)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"head meta.json is invalid: {exc}") from exc


def softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


class EmbeddingHead:
    """Logistic regression over an embedder's vectors; implements ``Classifier``."""

    def __init__(self, *, embedder: Embedder, weights: FloatArray, bias: FloatArray, meta: HeadMeta) -> None:
        if weights.shape != (len(meta.labels), meta.dim) or bias.shape != (len(meta.labels),):
            raise ModelError("head weights do not match its labels and dimension")
        if embedder.name != meta.embedder or embedder.dim != meta.dim:
            raise ModelError(
                f"head '{meta.name}' was trained on embedder '{meta.embedder}' ({meta.dim}-d), "
                f"not '{embedder.name}' ({embedder.dim}-d)"
            )
        self.embedder = embedder
        self.meta = meta
        self.name = meta.name
        self.version = meta.version
        self.labels = meta.labels
        self._weights = weights.astype(np.float32)
        self._bias = bias.astype(np.float32)

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        """One row of label probabilities per text (columns in ``labels`` order)."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.predict_proba_vectors(self.embedder.embed(list(texts)))

    def predict_proba_vectors(self, vectors: FloatArray) -> FloatArray:
        return softmax(vectors @ self._weights.T + self._bias)

    def save(self, folder: Path) -> Path:
        """Write ``head.npz`` and ``meta.json`` into ``folder`` (created if needed)."""
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / HEAD_WEIGHTS, weights=self._weights, bias=self._bias)
        text = json.dumps(self.meta.to_dict(), indent=2, sort_keys=True) + "\n"
        (folder / HEAD_META).write_text(text, encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path, *, embedder: Embedder) -> EmbeddingHead:
        """Load a head folder written by ``save`` (no pickle is ever unpickled)."""
        if not (folder / HEAD_WEIGHTS).is_file() or not (folder / HEAD_META).is_file():
            raise ModelNotFound(f"no trained head in {folder}", path=str(folder))
        meta = HeadMeta.from_dict(json.loads((folder / HEAD_META).read_text(encoding="utf-8")))
        with np.load(folder / HEAD_WEIGHTS, allow_pickle=False) as data:
            weights = np.asarray(data["weights"], dtype=np.float32)
            bias = np.asarray(data["bias"], dtype=np.float32)
        return cls(embedder=embedder, weights=weights, bias=bias, meta=meta)


def normalize_for_grouping(text: str) -> str:
    """Collapse a text to a key shared by its filler/case/punctuation variants."""
    lowered = re.sub(r"[^a-z0-9' ]+", " ", text.lower())
    return " ".join(_FILLERS.sub(" ", lowered).split())


def data_digest(texts: Sequence[str], labels: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def new_version(digest: str, *, now: datetime | None = None) -> str:
    """Sortable version: UTC timestamp plus a prefix of the training data hash."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{digest[:8]}"


def _split(
    labels: Sequence[str], groups: Sequence[str], *, seed: int, holdout: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Stratified split that keeps near-duplicate variants of one sentence on the same side."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, round(1.0 / holdout))
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    index = np.arange(len(labels))
    train_idx, test_idx = next(folds.split(index, np.asarray(labels), np.asarray(groups)))
    return train_idx, test_idx


def _fit(
    vectors: FloatArray, labels: Sequence[str], *, classes: tuple[str, ...], c: float, seed: int
) -> tuple[FloatArray, FloatArray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000, random_state=seed, class_weight="balanced")
    y = np.asarray([classes.index(label) for label in labels])
    model.fit(vectors, y)
    if len(classes) == 2:  # sklearn stores one row for binary problems; make it two-way softmax
        half = model.coef_[0] / 2.0
        weights = np.stack([-half, half])
        bias = np.asarray([-model.intercept_[0] / 2.0, model.intercept_[0] / 2.0])
    else:
        weights, bias = model.coef_, model.intercept_
    return np.asarray(weights, dtype=np.float32), np.asarray(bias, dtype=np.float32)


def _report(
    y_true: Sequence[str], y_pred: Sequence[str], *, classes: tuple[str, ...], n_train: int, seed: int
) -> TrainReport:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(classes), zero_division=0)
    per_label = {
        label: LabelMetrics(round(float(p[i]), 4), round(float(r[i]), 4), round(float(f[i]), 4), int(s[i]))
        for i, label in enumerate(classes)
    }
    accuracy = float(np.mean([a == b for a, b in zip(y_true, y_pred, strict=True)]))
    matrix = confusion_matrix(y_true, y_pred, labels=list(classes)).tolist()
    return TrainReport(
        accuracy=round(accuracy, 4),
        per_label=per_label,
        n_train=n_train,
        n_test=len(y_true),
        seed=seed,
        labels=classes,
        confusion=matrix,
    )


def train_head(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    embedder: Embedder,
    seed: int = 0,
    holdout: float = 0.2,
    name: str = "head",
    c: float = 4.0,
    version: str | None = None,
    groups: Sequence[str] | None = None,
) -> tuple[EmbeddingHead, TrainReport]:
    """Train a head; measure it on a held-out split, then refit on all examples.

    The same texts, labels and seed give the same weights. Variants of one sentence that differ
    only in case, punctuation or fillers stay on one side of the split (and so do examples
    sharing a ``groups`` key), so the held-out accuracy is not inflated by near-duplicates.
    """
    if len(texts) != len(labels) or not texts:
        raise InvalidInput("training needs the same, non-zero number of texts and labels")
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise InvalidInput("training needs at least two labels", labels=list(classes))
    vectors = embedder.embed(list(texts))
    keys = list(groups) if groups is not None else [normalize_for_grouping(t) for t in texts]
    if len(keys) != len(texts):
        raise InvalidInput("groups must have one key per text")
    report = _holdout_report(vectors, labels, classes=classes, groups=keys, seed=seed, holdout=holdout, c=c)
    weights, bias = _fit(vectors, labels, classes=classes, c=c, seed=seed)
    digest = data_digest(texts, labels)
    meta = HeadMeta(
        name=name,
        version=version or new_version(digest),
        labels=classes,
        embedder=embedder.name,
        dim=int(vectors.shape[1]),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data_sha256=digest,
        seed=seed,
        metrics=report.to_dict(),
    )
    return EmbeddingHead(embedder=embedder, weights=weights, bias=bias, meta=meta), report


def _holdout_report(
    vectors: FloatArray,
    labels: Sequence[str],
    *,
    classes: tuple[str, ...],
    groups: Sequence[str],
    seed: int,
    holdout: float,
    c: float,
) -> TrainReport:
    counts = [list(labels).count(label) for label in classes]
    n_splits = max(2, round(1.0 / holdout)) if holdout > 0 else 0
    if holdout <= 0 or min(counts) < 2 or len(set(groups)) < 2 * n_splits:
        return TrainReport(None, {}, len(labels), 0, seed, classes)
    train_idx, test_idx = _split(labels, groups, seed=seed, holdout=holdout)
    y = np.asarray(labels)
    weights, bias = _fit(vectors[train_idx], list(y[train_idx]), classes=classes, c=c, seed=seed)
    proba = softmax(vectors[test_idx] @ weights.T + bias)
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    return _report(list(y[test_idx]), predicted, classes=classes, n_train=len(train_idx), seed=seed)


class HFSequenceClassifier:
    """A local Hugging Face sequence-classification model folder; implements ``Classifier``.

    Loaded with ``local_files_only=True``: a folder that is incomplete fails with
    ``ModelNotFound`` instead of reaching for a hub.
    """

    def __init__(self, folder: Path, *, max_length: int = 256, batch_size: int = 32) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not (folder / "config.json").is_file():
            raise ModelNotFound(f"no Hugging Face model (config.json) in {folder}", path=str(folder))
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelNotFound(
                f"cannot load Hugging Face model from {folder}: {exc}", path=str(folder)
            ) from exc
        model.eval()
        self._model = model
        self._torch = torch
        id2label = model.config.id2label or {}
        self.labels = tuple(str(id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels))
        self.name = f"hf:{folder.name}"
        config_bytes = (folder / "config.json").read_bytes()
        self.version = hashlib.sha256(config_bytes).hexdigest()[:12]
        self._max_length = _input_limit(model.config, max_length)
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        rows: list[FloatArray] = []
        with self._lock, self._torch.inference_mode():
            for start in range(0, len(texts), self._batch_size):
                batch = [t if t.strip() else "." for t in texts[start : start + self._batch_size]]
                encoded = self._tokenizer(
                    batch, padding=True, truncation=True, max_length=self._max_length, return_tensors="pt"
                )
                logits = self._model(**encoded).logits.float()
                rows.append(self._torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float32))
        return np.concatenate(rows, axis=0)


def _input_limit(config: Any, wanted: int) -> int:
    """Tokens per text the model accepts: its position table caps it (RoBERTa-style models
    reserve two positions for the padding offset)."""
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions <= 0:
        return wanted
    if (
        "roberta" in str(getattr(config, "model_type", ""))
        or getattr(config, "model_type", "") == "camembert"
    ):
        positions -= 2
    return max(8, min(wanted, positions))


def packaged_head_dir(kind: str) -> Path:
    """The head shipped inside the package for ``kind`` (``intent``, ``sentiment``)."""
    root = resources.files("callintel") / "resources" / "heads" / kind
    return Path(str(root))


def head_versions(heads_dir: Path, kind: str) -> list[str]:
    """Versions under ``<heads_dir>/<kind>/``, oldest first (names sort by time)."""
    root = heads_dir / kind
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if not p.name.startswith(".") and (p / HEAD_META).is_file() and (p / HEAD_WEIGHTS).is_file()
    )


def resolve_head_dir(kind: str, *, heads_dir: Path | None, version: str | None = None) -> Path:
    """The folder to load: ``version`` (or the latest) under ``heads_dir``, else the packaged head.

    Asking for a version that does not exist is an error, never a silent fallback.
    """
    if version is not None:
        if heads_dir is None or version not in head_versions(heads_dir, kind):
            raise ModelNotFound(f"no {kind} head version '{version}'", kind=kind, version=version)
        return heads_dir / kind / version
    if heads_dir is not None:
        versions = head_versions(heads_dir, kind)
        active = _active_pointer(heads_dir, kind)
        if active == "packaged":
            return packaged_head_dir(kind)
        if active in versions:  # set by QA retrain/rollback; wins over "latest"
            return heads_dir / kind / active
        if versions:
            return heads_dir / kind / versions[-1]
    return packaged_head_dir(kind)


def _active_pointer(heads_dir: Path, kind: str) -> str | None:
    """The version named in ``<heads_dir>/<kind>/ACTIVE`` (written by a retrain or rollback)."""
    pointer = heads_dir / kind / "ACTIVE"
    return pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None


def cached_head(models: ModelManager, folder: Path, *, embedder: Embedder) -> EmbeddingHead:
    """Load a head folder once per process (keyed by folder and embedder)."""
    key = (str(folder.resolve()), embedder.name)
    return models.cached("head", key, lambda: EmbeddingHead.load(folder, embedder=embedder))


def cached_hf_classifier(models: ModelManager, folder: Path) -> Classifier:
    """Load a Hugging Face classifier folder once per process."""
    return models.cached("hf-classifier", str(folder.resolve()), lambda: HFSequenceClassifier(folder))
