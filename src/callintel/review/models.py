"""Retrain the intent / sentiment heads from packaged examples plus reviewer corrections, publish
the result as a new version, and roll back to an earlier one.

The accuracy reported *before* and *after* is measured on one held-out split of the new training
set (variants of one sentence kept on one side): a head trained on the rest without the
corrections, and one with them; the serving head's accuracy on the split is reported too. The
published head is then refit on every example. Versions are rows of
``model_versions``; the active one is also written to ``<heads_dir>/<kind>/ACTIVE`` so that every
process loading heads from that folder (``ml.heads.resolve_head_dir``) picks it up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from callintel.errors import ConfigError, InvalidInput, NotFound
from callintel.ml.heads import EmbeddingHead, normalize_for_grouping, packaged_head_dir, resolve_head_dir
from callintel.ml.protocols import Embedder, FloatArray
from callintel.storage import qa_repo
from callintel.understanding.feedback import (
    CorrectionRecord,
    belongs_to,
    examples_from_corrections,
    packaged_examples,
    training_set,
)
from callintel.understanding.training import Example, publish_head, train_examples, train_sentiment

KINDS = ("intent", "sentiment")
ACTIVE_FILE = "ACTIVE"
PACKAGED = "packaged"


@dataclass(frozen=True)
class RetrainResult:
    """Accuracies on one held-out split of the new training set.

    ``before_accuracy``: a head trained the same way on the split's training part *without* the
    corrections; ``after_accuracy``: with them (so the difference is what the corrections bring).
    ``active_accuracy``: the head serving now, optimistic because it may have trained on the split.
    ``corrections_before`` / ``corrections_after``: the same two heads on the held-out corrections.
    """

    kind: str
    version: str
    path: str
    before_accuracy: float | None
    after_accuracy: float
    active_accuracy: float | None
    corrections_before: float | None
    corrections_after: float | None
    n_examples: int
    n_corrections: int
    n_test: int
    previous_version: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MemoEmbedder:
    """Embeds each distinct text once across the several trainings of one retrain."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._memo: dict[str, FloatArray] = {}

    def embed(self, texts: Sequence[str]) -> FloatArray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            self._memo.update(zip(missing, self.inner.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts]).astype(np.float32)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise NotFound(f"unknown model kind '{kind}'", choices=list(KINDS))


def _heads_dir(heads_dir: Path | None) -> Path:
    if heads_dir is None:
        raise ConfigError("retraining needs a writable heads folder: set CALLINTEL_MODELS__HEADS_DIR")
    return heads_dir


def split(examples: Sequence[Example], *, seed: int, holdout: float = 0.2) -> tuple[list[int], list[int]]:
    """Train / held-out indices; near-duplicate variants stay together."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = [e.group or normalize_for_grouping(e.text) for e in examples]
    splitter = GroupShuffleSplit(n_splits=1, test_size=holdout, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(examples)), groups=groups))
    return [int(i) for i in train], [int(i) for i in test]


def accuracy(head: EmbeddingHead, examples: Sequence[Example]) -> float:
    proba = head.predict_proba([e.text for e in examples])
    predicted = [head.labels[i] for i in proba.argmax(axis=1)]
    return round(float(np.mean([p == e.label for p, e in zip(predicted, examples, strict=True)])), 4)


def active_version(heads_dir: Path | None, kind: str) -> str:
    """The version loaders use now: the ACTIVE pointer, else the latest folder, else ``packaged``."""
    folder = resolve_head_dir(kind, heads_dir=heads_dir)
    return PACKAGED if folder == packaged_head_dir(kind) else folder.name


def _train(kind: str, examples: Sequence[Example], *, embedder: Embedder, seed: int, holdout: float) -> Any:
    if kind == "sentiment":
        return train_sentiment(examples, embedder=embedder, seed=seed, holdout=holdout)
    return train_examples(examples, kind=kind, embedder=embedder, seed=seed, holdout=holdout)


def gather_examples(session: Session, *, kind: str, examples: Path | None) -> tuple[list[Example], int]:
    base = packaged_examples(kind, path=examples)
    rows = qa_repo.corrections_for_training(session)
    records = [CorrectionRecord(r.call_id, r.field, r.corrected) for r in rows if belongs_to(kind, r.field)]
    corrections = examples_from_corrections(kind, records)
    return training_set(base, corrections), len(corrections)


def is_correction(example: Example) -> bool:
    return (example.group or "").startswith("correction:")


def _accuracy_or_none(head: EmbeddingHead, examples: Sequence[Example]) -> float | None:
    return accuracy(head, examples) if examples else None


def measure(
    kind: str, examples: Sequence[Example], *, embedder: Embedder, seed: int, active: EmbeddingHead
) -> dict[str, float | None]:
    """Before / after / active accuracies on one held-out split (see ``RetrainResult``)."""
    train_idx, test_idx = split(examples, seed=seed)
    train = [examples[i] for i in train_idx]
    test = [examples[i] for i in test_idx]
    without = [e for e in train if not is_correction(e)]
    before_head, _ = _train(kind, without, embedder=embedder, seed=seed, holdout=0.0)
    after_head, _ = _train(kind, train, embedder=embedder, seed=seed, holdout=0.0)
    corrected = [e for e in test if is_correction(e)]
    return {
        "before_accuracy": _accuracy_or_none(before_head, test), "after_accuracy": accuracy(after_head, test),
        "active_accuracy": _accuracy_or_none(active, test), "n_test": float(len(test)),
        "corrections_before": _accuracy_or_none(before_head, corrected),
        "corrections_after": _accuracy_or_none(after_head, corrected),
    }


def retrain(
    session: Session, *, kind: str, embedder: Embedder, heads_dir: Path | None,
    examples_path: Path | None = None, seed: int = 0,
) -> RetrainResult:
    """Train a new version of ``kind`` on packaged examples + corrections and make it active."""
    _check_kind(kind)
    root = _heads_dir(heads_dir)
    memo = MemoEmbedder(embedder)
    examples, n_corr = gather_examples(session, kind=kind, examples=examples_path)
    previous = active_version(root, kind)
    active = EmbeddingHead.load(resolve_head_dir(kind, heads_dir=root), embedder=memo)
    scores = measure(kind, examples, embedder=memo, seed=seed, active=active)
    head, report = _train(kind, examples, embedder=memo, seed=seed, holdout=0.2)
    head.embedder = embedder  # the published head must not keep the training memo alive
    path = publish_head(head, report, heads_dir=root, kind=kind, data_name=f"packaged + {n_corr} corrections")
    _register_baseline(session, kind=kind, version=previous, root=root)
    result = RetrainResult(
        kind=kind, version=head.version, path=str(path), before_accuracy=scores["before_accuracy"],
        after_accuracy=float(scores["after_accuracy"] or 0.0), active_accuracy=scores["active_accuracy"],
        corrections_before=scores["corrections_before"], corrections_after=scores["corrections_after"],
        n_examples=len(examples), n_corrections=n_corr, n_test=int(scores["n_test"] or 0),
        previous_version=previous,
    )
    qa_repo.add_model_version(session, kind=kind, version=head.version, path=str(path),
                              metrics=result.to_dict(), active=True)
    write_active(root, kind, head.version)
    return result


def _register_baseline(session: Session, *, kind: str, version: str, root: Path) -> None:
    """Make the version that was serving before the first retrain a rollback target too."""
    if any(r.version == version for r in qa_repo.model_versions(session, kind=kind)):
        return
    path = packaged_head_dir(kind) if version == PACKAGED else root / kind / version
    qa_repo.add_model_version(session, kind=kind, version=version, path=str(path),
                              metrics={"baseline": True}, active=False)


def write_active(root: Path, kind: str, version: str) -> None:
    """Point loaders at ``version`` (atomic rename, so a reader never sees half a name)."""
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{ACTIVE_FILE}.tmp"
    tmp.write_text(version + "\n", encoding="utf-8")
    tmp.replace(folder / ACTIVE_FILE)


def rollback(
    session: Session, *, kind: str, heads_dir: Path | None, version: str | None = None
) -> dict[str, Any]:
    """Activate ``version``, or the version registered before the active one."""
    _check_kind(kind)
    root = _heads_dir(heads_dir)
    rows = qa_repo.model_versions(session, kind=kind)
    if version is None:
        active = next((i for i, r in enumerate(rows) if r.active), None)
        if active is None or active == 0:
            raise InvalidInput(f"no earlier {kind} version to roll back to")
        version = rows[active - 1].version
    target = qa_repo.activate_model_version(session, kind=kind, version=version)
    if target is None:
        raise NotFound(f"no {kind} version '{version}'", versions=[r.version for r in rows])
    write_active(root, kind, version)
    return {"kind": kind, "active": version, "versions": list_versions(session, kind=kind)}


def list_versions(session: Session, *, kind: str) -> list[dict[str, Any]]:
    _check_kind(kind)
    return [{"version": r.version, "active": r.active, "created_at": r.created_at.isoformat(),
             "metrics": r.metrics} for r in qa_repo.model_versions(session, kind=kind)]
