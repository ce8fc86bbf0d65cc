"""Knowledge-base benchmark: recall on paraphrased questions, and search latency at scale.

In one process, with the packaged all-MiniLM-L6-v2 embedder:

1. **Recall**: the starter KB (``resources/kb/starter.jsonl``) is indexed once and every labelled
   question in ``bench/data/kb_queries.jsonl`` (customer paraphrases, never article titles; a few
   marked ``keyword`` use a specific term such as "SEPA" or "ARN") is searched with the hybrid
   ranking and with the dense-only and BM25-only baselines. Prints recall@1 and recall@3 of each
   and the hybrid's ratio to each baseline.
2. **Latency**: synthetic articles (sentences of the starter KB recombined around invented product
   names, so keyword statistics stay realistic) are added to reach 1,000 and 10,000 articles; each
   search is timed end to end (version check, query embedding, dense + BM25 scoring, fusion,
   grouping by article), with distinct query strings so the embedder's small cache never answers.
   Prints p50/p95 per size for hybrid, dense-only and BM25-only, and the index build time.

    python bench/kb.py                       # recall + latency at 1,000 and 10,000 articles
    python bench/kb.py --sizes 1000          # smaller
    python bench/kb.py --real-vectors        # embed the synthetic articles too (slow: minutes)

By default the synthetic articles get random unit vectors instead of real embeddings: scoring cost
does not depend on the vector values, and embedding 10,000 articles takes minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from callintel.kb.chunking import chunk_text
from callintel.kb.importers import starter_articles
from callintel.kb.index import Article, Fusion, KnowledgeBase, StoredChunk
from callintel.kb.store import MemoryKBStore
from callintel.ml.registry import ModelManager

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "bench" / "data" / "kb_queries.jsonl"
FUSIONS: tuple[Fusion, ...] = ("blend", "dense", "bm25")
LABEL = {"blend": "hybrid", "dense": "dense-only", "bm25": "BM25-only", "rrf": "hybrid-rrf"}
PREFIXES = ("", "hi, ", "hello, ", "so ", "um, ", "well, ", "yeah, ", "okay so ", "right, ", "oh and ")


def load_queries() -> list[dict[str, Any]]:
    return [json.loads(line) for line in QUERIES.read_text().splitlines() if line.strip()]


def recall(kb: KnowledgeBase, queries: list[dict[str, Any]], fusion: Fusion) -> dict[str, float]:
    """recall@1 and recall@3, overall and per query kind."""
    hits: dict[str, list[tuple[bool, bool]]] = {"all": []}
    for q in queries:
        ids = [h.article_id for h in kb.search("bench", q["query"], 3, fusion=fusion)]
        row = (bool(ids) and ids[0] in q["relevant"], bool(set(ids) & set(q["relevant"])))
        hits["all"].append(row)
        hits.setdefault(q.get("kind", "paraphrase"), []).append(row)
    out: dict[str, float] = {}
    for kind, rows in hits.items():
        out[f"{kind}@1"] = sum(r[0] for r in rows) / len(rows)
        out[f"{kind}@3"] = sum(r[1] for r in rows) / len(rows)
        out[f"{kind}_n"] = len(rows)
    return out


def print_recall(kb: KnowledgeBase, queries: list[dict[str, Any]]) -> None:
    results = {f: recall(kb, queries, f) for f in (*FUSIONS, "rrf")}
    kinds = sorted({q.get("kind", "paraphrase") for q in queries})
    passages = len(kb.index("bench"))
    print(f"\nrecall on {len(queries)} labelled questions ({', '.join(kinds)}), {passages} passages")
    print(f"{'ranking':<12} {'R@1':>6} {'R@3':>6}  " + "  ".join(f"{k + ' R@1/R@3':>22}" for k in kinds))
    for fusion, r in results.items():
        per_kind = "  ".join(f"{r[f'{k}@1']:>10.3f} / {r[f'{k}@3']:<9.3f}" for k in kinds)
        print(f"{LABEL[fusion]:<12} {r['all@1']:>6.3f} {r['all@3']:>6.3f}  {per_kind}")
    hybrid = results["blend"]
    for base in ("dense", "bm25"):
        b = results[base]
        print(
            f"hybrid / {LABEL[base]}: R@1 x{_ratio(hybrid['all@1'], b['all@1'])}, "
            f"R@3 x{_ratio(hybrid['all@3'], b['all@3'])}"
        )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "inf"


# --- synthetic articles ---------------------------------------------------------------------------------
def synthetic_articles(n: int, *, seed: int = 7) -> list[Article]:
    rng = random.Random(seed)
    base = starter_articles()
    sentences = [s for a in base for s in a.body.replace("\n", " ").split(". ") if len(s.split()) > 5]
    syllables = ["zor", "vex", "lum", "tra", "kin", "por", "dal", "mir", "quo", "sen", "fal", "rin"]
    out = []
    for i in range(n):
        product = "".join(rng.choice(syllables) for _ in range(3)).capitalize()
        topic = rng.choice(base)
        body = ". ".join(
            s.replace("the customer", f"the {product} customer")
            for s in rng.sample(sentences, rng.randint(5, 12))
        )
        out.append(Article(id=f"syn-{i}", title=f"{product}: {topic.title}", body=body + "."))
    return out


def add_synthetic(kb: KnowledgeBase, articles: list[Article], *, real_vectors: bool, seed: int = 11) -> None:
    if real_vectors:
        for start in range(0, len(articles), 256):
            kb.upsert("bench", articles[start : start + 256])
        return
    rng = np.random.default_rng(seed)
    items = []
    for art in articles:
        passages = chunk_text(art.body, options=kb.options.chunk)
        vecs = rng.standard_normal((len(passages), kb.embedder.dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        items.append((art, [StoredChunk(art.id, n, p, vecs[n]) for n, p in enumerate(passages)]))
    kb.store.write("bench", items)


def latency(
    kb: KnowledgeBase, queries: list[dict[str, Any]], fusion: Fusion, *, rounds: int, offset: int
) -> list[float]:
    """Milliseconds per search; every query string is new to the embedder's cache."""
    times = []
    texts = [p + q["query"] for p in PREFIXES for q in queries]
    for i in range(rounds):
        text = f"{texts[(offset + i) % len(texts)]} #{offset + i}"
        started = time.perf_counter()
        kb.search("bench", text, 3, fusion=fusion)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_sizes(
    kb: KnowledgeBase, queries: list[dict[str, Any]], sizes: list[int], *, rounds: int, real: bool
) -> None:
    base = len(starter_articles())
    synthetic = synthetic_articles(max(sizes) - base)
    added = 0
    print(f"\nsearch latency (ms, {rounds} searches per ranking, top-3, single thread)")
    print(
        f"{'articles':>9} {'passages':>9} {'build s':>8}  "
        + "  ".join(f"{LABEL[f] + ' p50/p95':>22}" for f in FUSIONS)
    )
    offset = 0
    for size in sizes:
        add_synthetic(kb, synthetic[added : size - base], real_vectors=real)
        added = size - base
        started = time.perf_counter()
        idx = kb.index("bench")  # rebuilt once after the writes (what a replica does on a change)
        build = time.perf_counter() - started
        cells = []
        for fusion in FUSIONS:
            times = latency(kb, queries, fusion, rounds=rounds, offset=offset)
            offset += rounds
            cells.append(f"{statistics.median(times):>10.1f} / {pct(times, 95):<9.1f}")
        print(f"{size:>9} {len(idx):>9} {build:>8.2f}  " + "  ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000", help="article counts for the latency runs")
    parser.add_argument("--rounds", type=int, default=200, help="searches per ranking and size")
    parser.add_argument("--real-vectors", action="store_true", help="embed the synthetic articles too")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "models")
    args = parser.parse_args(argv)
    models = ModelManager(cache_dir=args.cache_dir)
    embedder = models.embedder("minilm")
    embedder.embed(["warm up"])
    kb = KnowledgeBase(MemoryKBStore(), embedder)
    started = time.perf_counter()
    kb.upsert("bench", starter_articles())
    print(f"starter KB: {len(starter_articles())} articles indexed in {time.perf_counter() - started:.1f} s")
    queries = load_queries()
    print_recall(kb, queries)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    bench_sizes(kb, queries, sizes, rounds=args.rounds, real=args.real_vectors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
