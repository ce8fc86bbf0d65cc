"""BM25, stemming, chunking, importers, and the in-memory hybrid index with a fake embedder."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callintel.errors import InvalidInput, UnsupportedMediaType
from callintel.kb.bm25 import BM25Index, stem, tokenize
from callintel.kb.chunking import ChunkOptions, chunk_text, sentences
from callintel.kb.importers import (
    check_unique,
    load_path,
    parse_bytes,
    parse_csv,
    parse_jsonl,
    parse_markdown,
    starter_articles,
)
from callintel.kb.index import Article, KnowledgeBase
from callintel.kb.store import MemoryKBStore


# --- stemming and BM25 ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "words",
    [
        ("charge", "charged", "charges", "charging"),
        ("bill", "billing", "billed", "bills"),
        ("deliver", "delivered", "delivery", "deliveries"),
        ("cancel", "cancelled", "canceled", "cancellation"),
        ("ship", "shipping", "shipped"),
        ("payment", "payments", "paying"),
    ],
)
def test_stem_brings_word_forms_together(words: tuple[str, ...]) -> None:
    assert len({stem(w) for w in words}) == 1, {w: stem(w) for w in words}


def test_stem_keeps_distinct_words_apart() -> None:
    assert stem("address") != stem("add")
    assert stem("order") != stem("ord")
    assert stem("status") == "status"


def test_tokenize_drops_stopwords_and_fillers() -> None:
    assert tokenize("Hi, I'd like to know where my REFUNDS are right now!") == ["refund"]


def test_bm25_ranks_the_document_with_rare_terms_first() -> None:
    docs = [
        tokenize(t)
        for t in [
            "refund to the original card in ten days",
            "the card was declined by the bank",
            "track your parcel with the carrier",
        ]
    ]
    index = BM25Index(docs)
    scores = index.scores(tokenize("when will my refund reach the card"))
    assert int(np.argmax(scores)) == 0
    assert scores[2] == 0.0
    assert 0 < scores[0] <= index.max_score(tokenize("refund card"))


def test_bm25_repeated_query_terms_count_once_and_unknown_terms_are_ignored() -> None:
    index = BM25Index([tokenize("password reset link"), tokenize("order tracking")])
    once = index.scores(["password"])
    twice = index.scores(["password", "password"])
    assert np.allclose(once, twice)
    assert np.allclose(index.scores(["zebra"]), 0.0)
    assert index.max_score(["zebra"]) == 0.0


def test_bm25_prefers_shorter_documents_for_the_same_match() -> None:
    index = BM25Index([tokenize("refund " + "filler words here " * 20), tokenize("refund policy")])
    scores = index.scores(["refund"])
    assert scores[1] > scores[0]


def test_bm25_on_empty_corpus() -> None:
    assert BM25Index([]).scores(["refund"]).shape == (0,)


# --- chunking ---------------------------------------------------------------------------------------
def test_short_body_is_one_passage() -> None:
    assert chunk_text("Short body. Two sentences.") == ["Short body. Two sentences."]


def test_long_body_is_split_on_sentences_with_overlap() -> None:
    body = " ".join(f"Sentence {i} has exactly eight words in it." for i in range(40))
    opts = ChunkOptions(target_words=60, max_words=90, overlap_words=16, min_words=20)
    chunks = chunk_text(body, options=opts)
    assert len(chunks) > 3
    for chunk in chunks:
        assert 20 <= len(chunk.split()) <= 90 + 20
        assert chunk.endswith(".")  # never cut inside a sentence
    first_tail = chunks[0].split(". ")[-1]
    assert first_tail.rstrip(".") in chunks[1]  # the last sentence is repeated (overlap)


def test_overlong_sentence_is_cut_to_max_words() -> None:
    chunks = chunk_text("word " * 300, options=ChunkOptions(target_words=90, max_words=100))
    assert all(len(c.split()) <= 125 for c in chunks)
    assert sum(len(c.split()) for c in chunks) >= 300


def test_list_items_become_sentences() -> None:
    assert sentences("Do this:\n\n- restart the router\n- run a speed test") == [
        "Do this:",
        "restart the router.",
        "run a speed test.",
    ]


# --- importers --------------------------------------------------------------------------------------
def test_jsonl_errors_name_the_line() -> None:
    text = '{"title": "A", "body": "b"}\n\n{"title": "B"}\n'
    with pytest.raises(InvalidInput, match=r"kb\.jsonl line 3: missing 'body'"):
        parse_jsonl(text, source="kb.jsonl")
    with pytest.raises(InvalidInput, match=r"kb\.jsonl line 1: invalid JSON"):
        parse_jsonl("{nope", source="kb.jsonl")


def test_json_array_and_object_forms() -> None:
    arts = parse_bytes(
        "a.json",
        json.dumps(
            {
                "articles": [
                    {"title": "Refunds", "content": "Body text", "tags": "billing; refund", "id": "r1"},
                ]
            }
        ).encode(),
    )
    assert arts[0].id == "r1" and arts[0].body == "Body text" and arts[0].tags == ("billing", "refund")
    with pytest.raises(InvalidInput, match=r"a\.json record 2: missing 'title'"):
        parse_bytes("a.json", b'[{"title": "x", "body": "y"}, {"body": "z"}]')


def test_csv_needs_title_and_body_columns_and_names_lines() -> None:
    ok = parse_csv("id,title,body,tags\nx1,Title,Some body,a|b\n", source="kb.csv")
    assert ok[0].id == "x1" and ok[0].tags == ("a", "b")
    with pytest.raises(InvalidInput, match=r"kb\.csv line 1: the header needs"):
        parse_csv("name,text2\na,b\n", source="kb.csv")
    with pytest.raises(InvalidInput, match=r"kb\.csv line 3: missing 'title'"):
        parse_csv("title,body\nA,B\n,C\n", source="kb.csv")


def test_markdown_front_matter_and_heading() -> None:
    front = parse_markdown(
        "---\nid: pw\ntitle: Passwords\ntags: [login]\n---\nReset it **now** [here](x).", source="docs/pw.md"
    )
    assert (front.id, front.title, front.tags, front.body) == (
        "pw",
        "Passwords",
        ("login",),
        "Reset it now here.",
    )
    heading = parse_markdown("# Two-factor setup\n\nScan the QR code.", source="docs/two-factor.md")
    assert (heading.id, heading.title, heading.body) == (
        "two-factor",
        "Two-factor setup",
        "Scan the QR code.",
    )
    with pytest.raises(InvalidInput, match=r"notitle\.md: no title"):
        parse_markdown("just text", source="notitle.md")


def test_folder_and_zip_imports(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Alpha\n\nAlpha body.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Beta\n\nBeta body.")
    (tmp_path / ".hidden.md").write_text("# Hidden\n\nx")
    assert sorted(a.id for a in load_path(tmp_path)) == ["a", "b"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("kb/a.md", "# Alpha\n\nAlpha body.")
        zf.writestr("kb/more.jsonl", '{"title": "Gamma", "body": "g"}\n')
        zf.writestr("__MACOSX/kb/._a.md", "junk")
    assert sorted(a.title for a in parse_bytes("kb.zip", buf.getvalue())) == ["Alpha", "Gamma"]
    with pytest.raises(InvalidInput, match="not a valid zip"):
        parse_bytes("kb.zip", b"nope")
    with pytest.raises(UnsupportedMediaType):
        parse_bytes("kb.pdf", b"%PDF")


def test_duplicate_ids_are_refused() -> None:
    arts = [Article(id="a", title="t", body="b"), Article(id="a", title="u", body="c")]
    with pytest.raises(InvalidInput, match="'a' appears more than once"):
        check_unique(arts)


def test_starter_kb_is_valid_and_covers_the_demo_topics() -> None:
    arts = starter_articles()
    check_unique(arts)
    assert len(arts) >= 40
    ids = {a.id for a in arts}
    for needed in (
        "billing-duplicate-charge",
        "billing-refund-policy",
        "account-password-reset",
        "account-2fa-setup",
        "service-outage-status",
        "orders-tracking",
        "orders-delayed",
        "returns-policy",
        "subscription-cancel",
        "subscription-retention-offers",
        "plan-change",
        "appointments-book",
        "payment-methods",
        "security-card-fraud",
        "account-address-change",
    ):
        assert needed in ids


# --- the index with a deterministic fake embedder -----------------------------------------------------
class BagEmbedder:
    """Hashes stemmed tokens into a normalised bag-of-words vector (no model, deterministic)."""

    name = "bag"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in tokenize(text):
                out[i, sum(map(ord, tok)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


ARTICLES = [
    Article(id="refund", title="Refund policy", body="Refunds go back to the original card within ten days."),
    Article(id="password", title="Password reset", body="Use forgot password on the sign in page."),
    Article(
        id="tracking", title="Order tracking", body="The carrier emails a tracking number when it ships."
    ),
]


def test_search_groups_by_article_and_returns_best_passage() -> None:
    kb = KnowledgeBase(MemoryKBStore(), BagEmbedder())
    kb.upsert("t1", ARTICLES)
    hits = kb.search("t1", "how do I reset my password", 3)
    assert hits[0].article_id == "password"
    assert hits[0].passage.startswith("Use forgot password")
    assert len({h.article_id for h in hits}) == len(hits)
    assert all(0.0 < h.score <= 1.0 for h in hits)


def test_index_follows_upsert_and_delete_and_isolates_tenants() -> None:
    store = MemoryKBStore()
    writer, reader = KnowledgeBase(store, BagEmbedder()), KnowledgeBase(store, BagEmbedder())
    writer.upsert("t1", ARTICLES)
    assert reader.search("t1", "tracking number carrier", 1)[0].article_id == "tracking"
    assert reader.search("t2", "tracking number carrier", 1) == []
    writer.delete("t1", "tracking")
    assert all(h.article_id != "tracking" for h in reader.search("t1", "tracking number carrier", 3))
    writer.upsert(
        "t1", [Article(id="refund", title="Refund policy", body="Parcels are tracked by the carrier.")]
    )
    assert reader.search("t1", "parcels tracked carrier", 1)[0].article_id == "refund"


def test_unchanged_version_does_not_rebuild() -> None:
    store = MemoryKBStore()
    kb = KnowledgeBase(store, BagEmbedder())
    kb.upsert("t1", ARTICLES)
    first = kb.index("t1")
    assert kb.index("t1") is first
    kb.upsert("t1", ARTICLES[:1])
    assert kb.index("t1") is not first


@pytest.mark.parametrize("fusion", ["blend", "rrf", "dense", "bm25"])
def test_every_fusion_finds_an_exact_match(fusion: str) -> None:
    kb = KnowledgeBase(MemoryKBStore(), BagEmbedder())
    kb.upsert("t1", ARTICLES)
    assert kb.search("t1", "refunds original card", 1, fusion=fusion)[0].article_id == "refund"  # type: ignore[arg-type]


def test_min_score_and_empty_queries() -> None:
    kb = KnowledgeBase(MemoryKBStore(), BagEmbedder())
    kb.upsert("t1", ARTICLES)
    assert kb.search("t1", "   ", 3) == []
    assert kb.search("t1", "zebra giraffe", 3, min_score=0.2) == []


@pytest.mark.parametrize(
    "bad",
    [
        Article(id="", title="t", body="b"),
        Article(id="a/b", title="t", body="b"),
        Article(id="x", title=" ", body="b"),
        Article(id="x", title="t", body=""),
    ],
)
def test_invalid_articles_are_refused(bad: Article) -> None:
    with pytest.raises(InvalidInput):
        KnowledgeBase(MemoryKBStore(), BagEmbedder()).upsert("t1", [bad])


def test_searches_use_the_previous_index_while_another_thread_rebuilds() -> None:
    import threading

    class SlowStore(MemoryKBStore):
        def __init__(self) -> None:
            super().__init__()
            self.gate = threading.Event()
            self.slow = False

        def snapshot(self, tenant: str) -> Any:
            if self.slow:
                self.gate.wait(5)
            return super().snapshot(tenant)

    store = SlowStore()
    kb = KnowledgeBase(store, BagEmbedder())
    kb.upsert("t1", ARTICLES)
    old = kb.index("t1")
    kb.upsert("t1", [Article(id="new", title="Brand new", body="A brand new article.")])
    store.slow = True
    rebuilder = threading.Thread(target=kb.index, args=("t1",))
    rebuilder.start()
    time.sleep(0.1)
    assert kb.index("t1") is old  # not blocked behind the rebuild
    store.gate.set()
    rebuilder.join(5)
    assert "new" in kb.index("t1").articles
