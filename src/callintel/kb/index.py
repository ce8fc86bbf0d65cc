"""Hybrid knowledge-base retrieval: dense cosine (all-MiniLM-L6-v2) + BM25 keywords, fused.

Articles are chunked into passages, embedded once on write and persisted with their vectors
(``KBStore``). Every process keeps an in-memory index per tenant and compares the tenant's
version token (changed in the same transaction as every write) before each search, so an
upsert or delete made by any API replica, worker or CLI is seen by the next search anywhere,
without a restart. A search ranks passages, groups them by article, and returns each article
with its best passage and a score in [0, 1].
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from callintel.domain import KBSuggestion
from callintel.errors import InvalidInput
from callintel.kb.bm25 import BM25Index, tokenize
from callintel.kb.chunking import ChunkOptions, chunk_text
from callintel.ml.protocols import Embedder, FloatArray

Fusion = Literal["blend", "rrf", "dense", "bm25"]


@dataclass(frozen=True, slots=True)
class Article:
    """One knowledge-base article as written by users."""

    id: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    url: str | None = None
    updated_at: datetime | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class StoredChunk:
    article_id: str
    ordinal: int
    text: str
    vector: FloatArray


@dataclass(frozen=True, slots=True)
class TenantSnapshot:
    """Everything the in-memory index of one tenant is built from."""

    version: str | None
    articles: tuple[Article, ...]
    chunks: tuple[StoredChunk, ...]


class KBStore(Protocol):
    """Persistence of articles, passages and vectors; every write changes the tenant's version."""

    def version(self, tenant: str) -> str | None: ...

    def snapshot(self, tenant: str) -> TenantSnapshot: ...

    def write(self, tenant: str, items: Sequence[tuple[Article, Sequence[StoredChunk]]]) -> list[Article]: ...

    def remove(self, tenant: str, article_id: str) -> bool: ...

    def get(self, tenant: str, article_id: str) -> Article | None: ...

    def list(self, tenant: str, *, offset: int = 0, limit: int = 50) -> tuple[list[Article], int]: ...


@dataclass(frozen=True, slots=True)
class SearchOptions:
    fusion: Fusion = "blend"
    dense_weight: float = 0.8
    """Share of the dense cosine in the blended score (the rest is normalised BM25)."""
    rrf_k: int = 60
    """Rank offset of reciprocal rank fusion."""
    chunk: ChunkOptions = field(default_factory=ChunkOptions)


def passage_text(title: str, passage: str) -> str:
    """What is embedded and keyword-indexed for one passage: the title gives it its topic."""
    return f"{title}. {passage}"


class TenantIndex:
    """Immutable in-memory index of one tenant's passages."""

    def __init__(self, snapshot: TenantSnapshot, *, dim: int) -> None:
        self.version = snapshot.version
        self.articles = {a.id: a for a in snapshot.articles}
        chunks = [c for c in snapshot.chunks if c.article_id in self.articles]
        self.chunk_article = [c.article_id for c in chunks]
        self.passages = [c.text for c in chunks]
        article_pos = {aid: i for i, aid in enumerate(dict.fromkeys(self.chunk_article))}
        self.article_of: npt.NDArray[np.int64] = np.array(
            [article_pos[a] for a in self.chunk_article], dtype=np.int64
        )
        self.matrix: FloatArray = (
            np.vstack([c.vector for c in chunks]).astype(np.float32) if chunks
            else np.zeros((0, dim), dtype=np.float32)
        )
        self.bm25 = BM25Index(
            [tokenize(passage_text(self.articles[c.article_id].title, c.text)) for c in chunks]
        )

    def __len__(self) -> int:
        return len(self.passages)

    def chunk_scores(self, query_vec: FloatArray, query: str, options: SearchOptions) -> FloatArray:
        """One fused score per passage."""
        dense: FloatArray = np.clip(self.matrix @ query_vec, 0.0, 1.0).astype(np.float32)
        if options.fusion == "dense":
            return dense
        tokens = tokenize(query)
        keyword = self.bm25.scores(tokens)
        if options.fusion == "bm25":
            return keyword
        if options.fusion == "rrf":
            return _rrf(dense, keyword, k=options.rrf_k)
        best = self.bm25.max_score(tokens)
        keyword_norm = keyword / best if best > 0 else keyword
        w = options.dense_weight
        fused: FloatArray = (w * dense + (1.0 - w) * keyword_norm).astype(np.float32)
        return fused

    def top_articles(self, scores: FloatArray, k: int, *, min_score: float) -> list[KBSuggestion]:
        """Best passage per article, the ``k`` best articles."""
        if not len(scores):
            return []
        wanted = min(len(scores), max(k * 8, 32))
        candidates = np.argpartition(-scores, wanted - 1)[:wanted]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        out: list[KBSuggestion] = []
        seen: set[str] = set()
        for i in order:
            aid = self.chunk_article[int(i)]
            score = float(scores[i])
            if aid in seen or score <= 0.0 or score < min_score:
                continue
            seen.add(aid)
            art = self.articles[aid]
            out.append(KBSuggestion(
                article_id=aid, title=art.title, passage=self.passages[int(i)], score=score, url=art.url
            ))
            if len(out) == k:
                break
        return out


def _rrf(dense: FloatArray, keyword: FloatArray, *, k: int) -> FloatArray:
    fused = np.zeros(len(dense), dtype=np.float32)
    for scores in (dense, keyword):
        ranks = np.empty(len(scores), dtype=np.float32)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1, dtype=np.float32)
        fused += np.where(scores > 0, 1.0 / (k + ranks), 0.0).astype(np.float32)
    # Scaled so that first place in both lists is 1.0.
    return (fused * (k + 1) / 2.0).astype(np.float32)


class KnowledgeBase:
    """Per-tenant hybrid search over a ``KBStore``; safe to share between threads."""

    def __init__(self, store: KBStore, embedder: Embedder, *, options: SearchOptions | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.options = options or SearchOptions()
        self._indexes: dict[str, TenantIndex] = {}
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, threading.Lock] = {}

    # --- writes --------------------------------------------------------------------------------
    def prepare(self, articles: Sequence[Article]) -> list[tuple[Article, list[StoredChunk]]]:
        """Chunk and embed articles (one batched embedding call for all passages)."""
        planned: list[tuple[Article, list[str]]] = []
        for art in articles:
            _check_article(art)
            planned.append((art, chunk_text(art.body, options=self.options.chunk) or [art.title]))
        texts = [passage_text(a.title, p) for a, ps in planned for p in ps]
        vectors = self.embedder.embed(texts)
        out: list[tuple[Article, list[StoredChunk]]] = []
        pos = 0
        for art, passages in planned:
            chunks = [
                StoredChunk(article_id=art.id, ordinal=n, text=p, vector=vectors[pos + n])
                for n, p in enumerate(passages)
            ]
            pos += len(passages)
            out.append((art, chunks))
        return out

    def upsert(self, tenant: str, articles: Sequence[Article]) -> list[Article]:
        """Create or replace articles (by id) and their passages; visible to the next search."""
        if not articles:
            return []
        ids = [a.id for a in articles]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InvalidInput(f"article id '{dup}' appears more than once", article_id=dup)
        return self.store.write(tenant, self.prepare(articles))

    def delete(self, tenant: str, article_id: str) -> bool:
        """Delete one article; False when it did not exist."""
        return self.store.remove(tenant, article_id)

    # --- reads ---------------------------------------------------------------------------------
    def index(self, tenant: str) -> TenantIndex:
        """The tenant's current index, rebuilt when another writer changed the version."""
        version = self.store.version(tenant)
        current = self._indexes.get(tenant)
        if current is not None and current.version == version:
            return current
        with self._lock:
            tenant_lock = self._tenant_locks.setdefault(tenant, threading.Lock())
        # While another thread rebuilds a large index, keep answering from the previous one
        # rather than stalling every live session of the tenant.
        if not tenant_lock.acquire(blocking=current is None):
            return current  # type: ignore[return-value]
        try:
            current = self._indexes.get(tenant)
            if current is None or current.version != version:
                # The snapshot reads its version first, so it is never newer than its data.
                current = TenantIndex(self.store.snapshot(tenant), dim=self.embedder.dim)
                self._indexes[tenant] = current
            return current
        finally:
            tenant_lock.release()

    def search(
        self, tenant: str, query: str, k: int = 3, *, min_score: float = 0.0,
        fusion: Fusion | None = None,
    ) -> list[KBSuggestion]:
        """The ``k`` best articles for a free-text query, each with its best passage."""
        if not query.strip() or k <= 0:
            return []
        idx = self.index(tenant)
        if not len(idx):
            return []
        opts = self.options if fusion is None else SearchOptions(
            fusion=fusion, dense_weight=self.options.dense_weight, rrf_k=self.options.rrf_k
        )
        if opts.fusion == "bm25":  # the keyword baseline needs no query vector
            vec = np.zeros(self.embedder.dim, dtype=np.float32)
        else:
            vec = self.embedder.embed([query[:2000]])[0]
        return idx.top_articles(idx.chunk_scores(vec, query, opts), k, min_score=min_score)

    def searcher(self, tenant: str, *, min_score: float = 0.0) -> SearchFn:
        """A ``pipeline.KBSearch`` bound to one tenant (what ``analyze_call(kb=...)`` takes)."""
        return SearchFn(self, tenant, min_score)


@dataclass(frozen=True, slots=True)
class SearchFn:
    kb: KnowledgeBase
    tenant: str
    min_score: float = 0.0

    def __call__(self, query: str, k: int) -> Sequence[KBSuggestion]:
        return self.kb.search(self.tenant, query, k, min_score=self.min_score)


MAX_ID = 200


def _check_article(art: Article) -> None:
    if not art.id or len(art.id) > MAX_ID or any(c in art.id for c in "/\\?#") or art.id != art.id.strip():
        raise InvalidInput(
            f"article id '{art.id}' is invalid: 1-{MAX_ID} characters, no '/', '\\', '?', '#'",
            article_id=art.id,
        )
    if not art.title.strip():
        raise InvalidInput(f"article '{art.id}' has an empty title", article_id=art.id)
    if not art.body.strip():
        raise InvalidInput(f"article '{art.id}' has an empty body", article_id=art.id)
