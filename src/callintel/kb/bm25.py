"""A small BM25 (Okapi) keyword index with light stemming and English stop words.

Built for chunk-level keyword scoring next to dense retrieval: the whole index is a few numpy
arrays per term (posting doc ids and precomputed BM25 weights), so scoring a query is a handful
of vector additions and rebuilding after a change costs milliseconds per thousand chunks.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

# English function words plus the fillers of spoken customer requests ("right now", "I mean").
_STOPWORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves im ive id dont cant
    didnt doesnt isnt wasnt wont hi hello hey please thanks thank okay ok yes yeah um uh like
    get got just really also still well oh sure need want know
    right now today thing things something anything nothing even ever every said say says
    told tell going gonna gotta let lets make made way much many lot actually maybe mean
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_TOKEN = re.compile(r"[a-z0-9]+")
# Longest suffix first; each rule keeps a stem of at least three letters.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ational", "ate"), ("ization", "ize"), ("fulness", "ful"), ("iveness", "ive"),
    ("ements", ""), ("ement", ""), ("ments", ""), ("ment", ""), ("ations", ""), ("ation", ""),
    ("ingly", ""), ("edly", ""), ("eries", "er"), ("ery", "er"), ("ings", ""), ("ing", ""),
    ("ied", "y"), ("ies", "y"), ("ed", ""), ("ly", ""), ("es", ""), ("s", ""),
)


def _strip_suffix(word: str) -> str:
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: -len(suffix)] + repl
    return word


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Strip one common English suffix (a light, predictable stemmer; not Porter).

    A trailing ``e`` and a final double consonant are dropped after stripping, so that
    charge/charged/charges and bill/billing/billed meet on one stem.
    """
    if len(word) <= 3 or word.isdigit():
        return word
    base = _strip_suffix(word)
    if base.endswith("e") and len(base) > 3:
        base = base[:-1]
    if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "aeiosu":
        base = base[:-1]
    return base


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens, stop words removed, stemmed."""
    words = _TOKEN.findall(text.lower().replace("'", ""))
    return [stem(w) for w in words if w not in STOPWORDS]


@dataclass(frozen=True, slots=True)
class BM25Params:
    k1: float = 1.2
    b: float = 0.75


class BM25Index:
    """Okapi BM25 over pre-tokenised documents; ``scores`` returns one float per document."""

    def __init__(self, docs: Sequence[Sequence[str]], *, params: BM25Params | None = None) -> None:
        p = params or BM25Params()
        self.size = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        avgdl = float(lengths.mean()) if self.size and lengths.sum() > 0 else 1.0
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for doc_id, doc in enumerate(docs):
            norm = p.k1 * (1.0 - p.b + p.b * float(lengths[doc_id]) / avgdl)
            for term, tf in Counter(doc).items():
                ids, weights = postings.setdefault(term, ([], []))
                ids.append(doc_id)
                weights.append(tf * (p.k1 + 1.0) / (tf + norm))
        self._ceiling = p.k1 + 1.0
        self._idf: dict[str, float] = {}
        self._postings: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = {}
        for term, (ids, weights) in postings.items():
            idf = math.log(1.0 + (self.size - len(ids) + 0.5) / (len(ids) + 0.5))
            self._idf[term] = idf
            self._postings[term] = (
                np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float32) * idf
            )

    def __contains__(self, term: str) -> bool:
        return term in self._postings

    def max_score(self, query: Sequence[str]) -> float:
        """Upper bound of ``scores`` for this query (every known term at saturation).

        Dividing by it gives a keyword score in [0, 1] whose meaning does not depend on the
        query: the share of the query's keyword weight a passage matches.
        """
        return sum(self._idf.get(t, 0.0) for t in dict.fromkeys(query)) * self._ceiling

    def scores(self, query: Sequence[str]) -> npt.NDArray[np.float32]:
        """BM25 score of every document for the query tokens (repeated tokens count once)."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in dict.fromkeys(query):
            hit = self._postings.get(term)
            if hit is not None:
                out[hit[0]] += hit[1]  # ids are unique within one posting list
        return out
