"""Split an article into overlapping passages of roughly 60-120 words on sentence boundaries.

Each passage is indexed together with the article title (the title carries most of the topic
words), but the passage alone is what an agent sees as the "best passage".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


@dataclass(frozen=True, slots=True)
class ChunkOptions:
    target_words: int = 90
    """A passage is closed once it reaches this many words."""
    max_words: int = 120
    """A single sentence longer than this is cut into pieces of this size."""
    overlap_words: int = 20
    """Trailing sentences (up to this many words) repeated at the start of the next passage."""
    min_words: int = 25
    """A last passage shorter than this is merged into the previous one."""


def sentences(text: str) -> list[str]:
    """Sentences and list items of a body, whitespace-normalised, empty ones dropped."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", text):
        bullets = bool(_BULLET.match(block))
        for raw in block.split("\n") if bullets else [block]:
            line = " ".join(_BULLET.sub("", raw).split())
            if bullets and line and line[-1] not in ".!?:;":
                line += "."  # list items become sentences so passages read naturally
            out.extend(s for s in _SENTENCE.split(line) if s.strip())
    return out


def _pieces(sentence: str, max_words: int) -> list[list[str]]:
    words = sentence.split()
    return [words[i : i + max_words] for i in range(0, len(words), max_words)]


def chunk_text(body: str, *, options: ChunkOptions | None = None) -> list[str]:
    """Passages of ``body``; a body shorter than ``target_words`` is one passage."""
    opt = options or ChunkOptions()
    units = [piece for s in sentences(body) for piece in _pieces(s, opt.max_words)]
    chunks: list[list[list[str]]] = []
    current: list[list[str]] = []
    fresh = 0  # words in `current` that are not overlap from the previous passage
    for unit in units:
        if fresh and sum(map(len, current)) + len(unit) > opt.max_words:
            chunks.append(current)
            current, fresh = _overlap(current, opt.overlap_words), 0
        current.append(unit)
        fresh += len(unit)
        if sum(map(len, current)) >= opt.target_words:
            chunks.append(current)
            current, fresh = _overlap(current, opt.overlap_words), 0
    if fresh:
        if chunks and fresh < opt.min_words:
            chunks[-1] = chunks[-1] + current[len(current) - _count_fresh(current, fresh):]
        else:
            chunks.append(current)
    return [" ".join(" ".join(u) for u in c) for c in chunks] or ([body.strip()] if body.strip() else [])


def _overlap(units: list[list[str]], budget: int) -> list[list[str]]:
    kept: list[list[str]] = []
    total = 0
    for unit in reversed(units[1:]):  # never carry the whole passage over
        if total + len(unit) > budget:
            break
        kept.insert(0, unit)
        total += len(unit)
    return kept


def _count_fresh(units: list[list[str]], fresh_words: int) -> int:
    count, total = 0, 0
    for unit in reversed(units):
        if total >= fresh_words:
            break
        count += 1
        total += len(unit)
    return count
