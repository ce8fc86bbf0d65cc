"""Search over analysed calls: full-text, semantic (embedded transcript windows), or both.

Calls are indexed when analysed (``index_call``, for the worker) and lazily before a semantic
search (``backfill``), so calls analysed before this existed are found too. Segments are single
turns plus windows of three turns, embedded with the service's sentence embedder; a call's
semantic score is its best segment's cosine similarity to the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from callintel.ml.protocols import Embedder
from callintel.storage import qa_repo, repo
from callintel.storage.qa_repo import NewSegment
from callintel.storage.repo import CallFilters

Mode = Literal["text", "semantic", "hybrid"]
WINDOW = 3
MIN_WORDS = 3
RRF_K = 60


def segments_of(doc: dict[str, Any]) -> list[tuple[int, int, float, str]]:
    """(first turn, last turn, start time, text) windows of one analysis document."""
    turns = [t for t in doc.get("transcript", {}).get("turns", []) if t.get("text", "").strip()]
    out = [(t["index"], t["index"], float(t.get("start", 0.0)), t["text"]) for t in turns
           if len(t["text"].split()) >= MIN_WORDS]
    for i in range(0, max(len(turns) - WINDOW + 1, 0), 2):
        window = turns[i:i + WINDOW]
        text = " ".join(f"{t.get('speaker', 'unknown')}: {t['text']}" for t in window)
        out.append((window[0]["index"], window[-1]["index"], float(window[0].get("start", 0.0)), text))
    return out


def index_document(
    session: Session, *, tenant_id: str, call_id: str, version: int, doc: dict[str, Any], embedder: Embedder
) -> int:
    """Embed and store one call's segments (replacing older ones); returns how many."""
    parts = segments_of(doc)
    vectors = embedder.embed([p[3] for p in parts]) if parts else np.zeros((0, embedder.dim), np.float32)
    segments = [NewSegment(first_turn=a, last_turn=b, start_s=s, text=t,
                           embedding=np.asarray(v, dtype="<f4").tobytes())
                for (a, b, s, t), v in zip(parts, vectors, strict=True)]
    qa_repo.replace_segments(session, tenant_id=tenant_id, call_id=call_id, version=version,
                             embedder=embedder.name, segments=segments)
    return len(segments)


def index_call(session: Session, *, call_id: str, embedder: Embedder) -> int:
    """Index a completed call's latest analysis (workers call this after storing an analysis)."""
    call = repo.get_call_by_id(session, call_id)
    row = repo.latest_analysis(session, call_id)
    if call is None or row is None:
        return 0
    return index_document(session, tenant_id=call.tenant_id, call_id=call_id, version=row.version,
                          doc=row.document, embedder=embedder)


def backfill(session: Session, *, tenant_id: str, embedder: Embedder, limit: int = 200) -> int:
    """Index up to ``limit`` completed calls of a tenant that have no segments yet."""
    missing = qa_repo.calls_missing_segments(session, tenant_id=tenant_id, embedder=embedder.name,
                                             limit=limit)
    for call_id in missing:
        index_call(session, call_id=call_id, embedder=embedder)
    return len(missing)


@dataclass(frozen=True)
class Hit:
    call_id: str
    score: float
    text_rank: float | None = None
    semantic: float | None = None
    snippet: str = ""
    turns: tuple[int, ...] = ()


def semantic_hits(
    session: Session, *, tenant_id: str, q: str, embedder: Embedder, call_ids: Sequence[str] | None,
    limit: int,
) -> list[Hit]:
    segments = qa_repo.load_segments(session, tenant_id=tenant_id, embedder=embedder.name, call_ids=call_ids)
    if not segments:
        return []
    matrix = np.stack([np.frombuffer(s.embedding, dtype="<f4") for s in segments])
    sims = matrix @ embedder.embed([q])[0]
    best: dict[str, tuple[float, int]] = {}
    for i, seg in enumerate(segments):
        if seg.call_id not in best or sims[i] > best[seg.call_id][0]:
            best[seg.call_id] = (float(sims[i]), i)
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:limit]
    return [Hit(call_id=cid, score=round(s, 4), semantic=round(s, 4), snippet=segments[i].text,
                turns=tuple(range(segments[i].first_turn, segments[i].last_turn + 1)))
            for cid, (s, i) in ranked]


def fuse(text: Sequence[tuple[str, float]], semantic: Sequence[Hit], limit: int) -> list[Hit]:
    """Reciprocal-rank fusion of the text and semantic rankings."""
    by_id = {h.call_id: h for h in semantic}
    ranks = {cid: rank for rank, (cid, _) in enumerate(text)}
    text_scores = dict(text)
    scores: dict[str, float] = {}
    for rank, (cid, _) in enumerate(text):
        scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    for rank, hit in enumerate(semantic):
        scores[hit.call_id] = scores.get(hit.call_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    ordered = sorted(scores, key=lambda cid: (-scores[cid], ranks.get(cid, 10**6)))[:limit]
    out = []
    for cid in ordered:
        sem = by_id.get(cid)
        out.append(Hit(call_id=cid, score=round(scores[cid] * RRF_K, 4), text_rank=text_scores.get(cid),
                       semantic=sem.semantic if sem else None, snippet=sem.snippet if sem else "",
                       turns=sem.turns if sem else ()))
    return out


def search_calls(
    session: Session, *, tenant_id: str, q: str, mode: Mode, filters: CallFilters,
    embedder: Embedder | None, limit: int = 20, min_similarity: float = 0.25,
) -> list[Hit]:
    """Calls matching ``q`` within ``filters``, best first."""
    text: list[tuple[str, float]] = []
    if mode in ("text", "hybrid"):
        text = qa_repo.text_search(session, tenant_id=tenant_id, q=q, filters=filters, limit=limit * 3)
    if mode == "text":
        return [Hit(call_id=c, score=round(r, 4), text_rank=r) for c, r in text[:limit]]
    if embedder is None:
        raise RuntimeError("semantic search needs an embedder")
    backfill(session, tenant_id=tenant_id, embedder=embedder)
    scoped = None if filters == CallFilters() else qa_repo.filtered_call_ids(
        session, tenant_id=tenant_id, filters=filters, limit=10_000)
    semantic = [h for h in semantic_hits(session, tenant_id=tenant_id, q=q, embedder=embedder,
                                         call_ids=scoped, limit=limit * 3)
                if (h.semantic or 0.0) >= min_similarity]
    if mode == "semantic":
        return semantic[:limit]
    return fuse(text, semantic, limit)
