"""Reviewer corrections → training examples for the intent and sentiment heads.

A correction row stores the text it is about with the corrected label (``{"label", "text"}``), so
examples survive later re-analysis. When a call was corrected more than once, the latest label
wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callintel.errors import InvalidInput
from callintel.understanding.training import Example, load_examples

KIND_FIELDS = {"intent": ("intent",), "sentiment": ("sentiment.turns[",)}


@dataclass(frozen=True, slots=True)
class CorrectionRecord:
    """The parts of a ``corrections`` row that training needs."""

    call_id: str
    field: str
    corrected: Any


def belongs_to(kind: str, field: str) -> bool:
    return any(field == p or (p.endswith("[") and field.startswith(p)) for p in KIND_FIELDS[kind])


def examples_from_corrections(kind: str, records: Iterable[CorrectionRecord]) -> list[Example]:
    """One example per corrected (call, field), the latest correction winning."""
    if kind not in KIND_FIELDS:
        raise InvalidInput(f"unknown model kind '{kind}'", choices=sorted(KIND_FIELDS))
    latest: dict[tuple[str, str], Example] = {}
    for record in records:
        value = record.corrected if isinstance(record.corrected, dict) else {}
        text, label = value.get("text"), value.get("label")
        if not belongs_to(kind, record.field) or not isinstance(text, str) or not isinstance(label, str):
            continue
        if text.strip() and label.strip():
            group = f"correction:{record.call_id}:{record.field}"
            example = Example(text=text.strip()[:2000], label=label, group=group)
            latest[(record.call_id, record.field)] = example
    return list(latest.values())


def packaged_examples(kind: str, *, path: Path | None = None) -> list[Example]:
    """The labelled examples the shipped heads were trained on: ``path``, by default
    ``models/<kind>/examples.jsonl`` of the source tree (``callintel train --data``)."""
    return load_examples(path or Path("models") / kind / "examples.jsonl")


def training_set(base: Sequence[Example], corrections: Sequence[Example]) -> list[Example]:
    """Base examples plus corrections; a corrected text replaces a base example with the same text."""
    corrected = {c.text.lower() for c in corrections}
    return [b for b in base if b.text.lower() not in corrected] + list(corrections)
