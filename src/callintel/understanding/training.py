"""Training intent and sentiment heads from labelled examples.

The CLI (``callintel train``) and the QA team's retraining from reviewer corrections both call
``train_intent`` / ``train_sentiment`` with a list of ``Example`` and then ``save_head`` or
``publish_head``. A published head lands in ``<heads_dir>/<kind>/<version>/`` and the loaders
(``ml.heads.resolve_head_dir``) pick the latest version there, or the packaged head.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from callintel.domain import SentimentLabel
from callintel.errors import InvalidInput
from callintel.ml.heads import EmbeddingHead, TrainReport, train_head
from callintel.ml.protocols import Embedder

INTENT_LABELS = (
    "billing",
    "technical_support",
    "order_status",
    "product_inquiry",
    "complaint",
    "cancellation",
    "appointment",
    "other",
)
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
KINDS = ("intent", "sentiment")
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text. ``group`` ties variants of one sentence together for the held-out split."""

    text: str
    label: str
    group: str | None = None


def parse_examples(rows: Iterable[object]) -> list[Example]:
    """Validate ``{"text", "label"[, "group"]}`` mappings into examples."""
    out: list[Example] = []
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise InvalidInput(f"example {n} is not an object")
        text, label, group = row.get("text"), row.get("label"), row.get("group")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise InvalidInput(f"example {n}: 'text' must be a non-empty string up to {MAX_TEXT} characters")
        if not isinstance(label, str) or not label.strip():
            raise InvalidInput(f"example {n}: 'label' must be a non-empty string")
        if group is not None and not isinstance(group, str):
            raise InvalidInput(f"example {n}: 'group' must be a string")
        out.append(Example(text=text.strip(), label=label.strip(), group=group))
    return out


def load_examples(path: Path) -> list[Example]:
    """Read a JSON-lines file of examples (blank lines skipped)."""
    if not path.is_file():
        raise InvalidInput(f"no examples file at {path}", path=str(path))
    rows: list[object] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
    return parse_examples(rows)


def _groups(examples: Sequence[Example]) -> list[str] | None:
    if all(e.group is None for e in examples):
        return None  # the head groups near-duplicates by normalised text itself
    return [e.group or f"_{i}" for i, e in enumerate(examples)]


def train_examples(
    examples: Sequence[Example], *, kind: str, embedder: Embedder, seed: int = 0, holdout: float = 0.2
) -> tuple[EmbeddingHead, TrainReport]:
    """Train a head of ``kind`` on any label set (a tenant taxonomy included)."""
    if not examples:
        raise InvalidInput(f"no {kind} examples to train on")
    return train_head(
        [e.text for e in examples],
        [e.label for e in examples],
        embedder=embedder,
        seed=seed,
        holdout=holdout,
        name=kind,
        groups=_groups(examples),
    )


def train_intent(
    examples: Sequence[Example], *, embedder: Embedder, seed: int = 0, holdout: float = 0.2
) -> tuple[EmbeddingHead, TrainReport]:
    """Train the intent head. Labels are free-form, so corrections may add labels."""
    return train_examples(examples, kind="intent", embedder=embedder, seed=seed, holdout=holdout)


def train_sentiment(
    examples: Sequence[Example], *, embedder: Embedder, seed: int = 0, holdout: float = 0.2
) -> tuple[EmbeddingHead, TrainReport]:
    """Train the sentiment head; labels must be ``negative``, ``neutral``, ``positive``."""
    unknown = sorted({e.label for e in examples} - set(SENTIMENT_LABELS))
    if unknown:
        raise InvalidInput("sentiment labels must be negative, neutral or positive", unknown=unknown)
    return train_examples(examples, kind="sentiment", embedder=embedder, seed=seed, holdout=holdout)


def model_card(head: EmbeddingHead, report: TrainReport, *, data_name: str) -> str:
    """A Markdown model card generated from the head's metadata and its held-out report."""
    meta = head.meta
    acc = "n/a (no held-out split)" if report.accuracy is None else f"{report.accuracy:.3f}"
    lines = [
        f"# {meta.name} head {meta.version}",
        "",
        f"- Labels: {', '.join(meta.labels)}",
        f"- Features: sentence embeddings from `{meta.embedder}` ({meta.dim}-d)"
        " (all-MiniLM-L6-v2, Apache-2.0)",
        "- Model: multinomial logistic regression (scikit-learn, balanced class weights),"
        " stored as `head.npz` (weights, bias) + `meta.json`; no pickle",
        f"- Training data: `{data_name}` (sha256 `{meta.data_sha256[:16]}`), {report.n_train + report.n_test}"
        " examples, our own hand-written data (licence: same as this project)",
        f"- Seed: {meta.seed}; trained at {meta.trained_at}",
        f"- Held-out accuracy: {acc} on {report.n_test} examples (variants of one sentence kept on one side);"
        " the shipped weights are then refit on all examples",
        "",
        "| label | precision | recall | f1 | support |",
        "|---|---|---|---|---|",
    ]
    for label, m in report.per_label.items():
        lines.append(f"| {label} | {m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} | {m.support} |")
    lines += [
        "",
        "Limits: English only; trained on short contact-centre utterances; see models/README.md.",
        "",
    ]
    return "\n".join(lines)


def save_head(head: EmbeddingHead, report: TrainReport, out_dir: Path, *, data_name: str) -> Path:
    """Write the head folder (``head.npz``, ``meta.json``, ``MODEL_CARD.md``) into ``out_dir``."""
    head.save(out_dir)
    (out_dir / "MODEL_CARD.md").write_text(model_card(head, report, data_name=data_name), encoding="utf-8")
    return out_dir


def publish_head(
    head: EmbeddingHead, report: TrainReport, *, heads_dir: Path, kind: str, data_name: str
) -> Path:
    """Save as a new version under ``<heads_dir>/<kind>/<version>/``; loaders then pick it as latest.

    Written to a temporary folder and renamed, so a loader never sees a half-written version.
    """
    final = heads_dir / kind / head.version
    if final.exists():
        raise InvalidInput(f"{kind} head version {head.version} already exists", path=str(final))
    tmp = heads_dir / kind / f".{head.version}.tmp"
    save_head(head, report, tmp, data_name=data_name)
    tmp.rename(final)
    return final
