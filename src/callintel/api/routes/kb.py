"""``/v1/kb``: knowledge-base articles (CRUD, bulk import) and hybrid search.

Reads need an ``agent`` or ``qa`` key; writes need ``admin``. Every write re-chunks and
re-embeds the article and changes the tenant's KB version, so the next search on any replica
or worker sees it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from callintel.api.assist import knowledge_base_of
from callintel.api.deps import AdminPrincipal, Principal, StateDep, require_scope
from callintel.domain import to_jsonable
from callintel.errors import InvalidInput, NotFound, PayloadTooLarge
from callintel.kb.importers import check_unique, parse_bytes, slugify
from callintel.kb.index import Article

router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])
KBReader = Annotated[Principal, Depends(require_scope("agent", "qa"))]
MAX_IMPORT_BYTES = 64 * 1024 * 1024


class ArticleIn(BaseModel):
    """An article as written by an admin."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, min_length=1, max_length=200, description="Defaults to a slug of the title.")
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=200_000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    url: str | None = Field(None, max_length=2000)

    def article(self, article_id: str | None = None) -> Article:
        return Article(
            id=article_id or self.id or slugify(self.title),
            title=self.title.strip(),
            body=self.body,
            tags=tuple(t.strip() for t in self.tags if t.strip()),
            url=self.url,
        )


def article_json(art: Article) -> dict[str, Any]:
    out: dict[str, Any] = to_jsonable(art)
    out["tags"] = list(art.tags)
    out["updated_at"] = art.updated_at.isoformat() if art.updated_at else None
    return out


@router.get("/articles", summary="List articles")
def list_articles(
    principal: KBReader,
    state: StateDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    items, total = knowledge_base_of(state).store.list(principal.tenant_id, offset=offset, limit=limit)
    return {"items": [article_json(a) for a in items], "total": total, "offset": offset, "limit": limit}


@router.get("/articles/{article_id}", summary="Get one article")
def get_article(article_id: str, principal: KBReader, state: StateDep) -> dict[str, Any]:
    art = knowledge_base_of(state).store.get(principal.tenant_id, article_id)
    if art is None:
        raise NotFound("article not found", article_id=article_id)
    return article_json(art)


@router.post("/articles", status_code=201, summary="Create (or replace) an article")
def create_article(body: ArticleIn, principal: AdminPrincipal, state: StateDep) -> dict[str, Any]:
    stored = knowledge_base_of(state).upsert(principal.tenant_id, [body.article()])
    return article_json(stored[0])


@router.put("/articles/{article_id}", summary="Create or replace the article with this id")
def put_article(
    article_id: str, body: ArticleIn, principal: AdminPrincipal, state: StateDep
) -> dict[str, Any]:
    if body.id is not None and body.id != article_id:
        raise InvalidInput("the body's id differs from the path's", article_id=article_id)
    stored = knowledge_base_of(state).upsert(principal.tenant_id, [body.article(article_id)])
    return article_json(stored[0])


@router.delete("/articles/{article_id}", status_code=204, summary="Delete an article")
def delete_article(article_id: str, principal: AdminPrincipal, state: StateDep) -> Response:
    if not knowledge_base_of(state).delete(principal.tenant_id, article_id):
        raise NotFound("article not found", article_id=article_id)
    return Response(status_code=204)


@router.post("/import", summary="Bulk import (JSON, JSONL, CSV, Markdown, or a zip of them)")
async def import_articles(file: UploadFile, principal: AdminPrincipal, state: StateDep) -> dict[str, Any]:
    """Upload one file as multipart field ``file``; all its articles are stored, or none (422
    naming the file and line of the first bad record)."""
    from starlette.concurrency import run_in_threadpool

    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("import file exceeds 64 MiB", limit=MAX_IMPORT_BYTES)
    articles = parse_bytes(file.filename or "upload.json", data)
    if not articles:
        raise InvalidInput("the file holds no articles", file=file.filename)
    check_unique(articles)
    kb = knowledge_base_of(state)
    stored = await run_in_threadpool(kb.upsert, principal.tenant_id, articles)
    return {"imported": len(stored), "ids": [a.id for a in stored]}


@router.get("/search", summary="Hybrid (dense + BM25) search")
def search(
    principal: KBReader,
    state: StateDep,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    k: Annotated[int, Query(ge=1, le=20)] = 3,
    min_score: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
) -> dict[str, Any]:
    """The best articles for a question, each with its best passage and a score in [0, 1]."""
    hits = knowledge_base_of(state).search(principal.tenant_id, q, k, min_score=min_score)
    return {"query": q, "items": [to_jsonable(h) for h in hits]}
