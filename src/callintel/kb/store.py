"""``KBStore`` implementations: SQL (``kb_articles`` + ``kb_chunks``) and in-memory.

The SQL store keeps a per-tenant version token in ``tenant_settings`` (key ``kb_version``),
replaced in the same transaction as every write. Readers compare it before each search (one
primary-key lookup) and rebuild their in-memory index only when it changed.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from callintel.kb.index import Article, KnowledgeBase, StoredChunk, TenantSnapshot
from callintel.ml.protocols import FloatArray
from callintel.storage.db import transaction
from callintel.storage.models import KBArticle, KBChunk, Tenant, TenantSetting

VERSION_KEY = "kb_version"
STARTER_MARKER = "kb_starter_loaded"


def vector_bytes(vec: FloatArray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def _article(row: KBArticle) -> Article:
    return Article(
        id=row.id,
        title=row.title,
        body=row.body,
        tags=tuple(str(t) for t in row.tags or ()),
        url=row.url,
        updated_at=row.updated_at,
        version=row.version,
    )


class SqlKBStore:
    """Articles and passage vectors in the service database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def version(self, tenant: str) -> str | None:
        with self.sessions() as s:
            value = s.scalar(
                select(TenantSetting.value).where(
                    TenantSetting.tenant_id == tenant, TenantSetting.key == VERSION_KEY
                )
            )
        return None if value is None else str(value)

    def snapshot(self, tenant: str) -> TenantSnapshot:
        with self.sessions() as s:
            value = s.scalar(
                select(TenantSetting.value).where(
                    TenantSetting.tenant_id == tenant, TenantSetting.key == VERSION_KEY
                )
            )
            articles = tuple(
                _article(r) for r in s.scalars(select(KBArticle).where(KBArticle.tenant_id == tenant))
            )
            rows = s.execute(
                select(KBChunk.article_id, KBChunk.ordinal, KBChunk.text, KBChunk.embedding)
                .where(KBChunk.tenant_id == tenant)
                .order_by(KBChunk.article_id, KBChunk.ordinal)
            ).all()
        chunks = tuple(
            StoredChunk(article_id=r[0], ordinal=r[1], text=r[2], vector=np.frombuffer(r[3], dtype="<f4"))
            for r in rows
            if r[3] is not None
        )
        return TenantSnapshot(version=None if value is None else str(value), articles=articles, chunks=chunks)

    def write(self, tenant: str, items: Sequence[tuple[Article, Sequence[StoredChunk]]]) -> list[Article]:
        self._ensure_tenant(tenant)
        now = datetime.now(UTC)
        out: list[Article] = []
        with transaction(self.sessions) as s:
            for art, chunks in items:
                row = s.get(KBArticle, (tenant, art.id))
                if row is None:
                    row = KBArticle(tenant_id=tenant, id=art.id, version=1)
                    s.add(row)
                else:
                    row.version += 1
                row.title, row.body, row.tags, row.url = art.title, art.body, list(art.tags), art.url
                row.updated_at = now
                s.execute(delete(KBChunk).where(KBChunk.tenant_id == tenant, KBChunk.article_id == art.id))
                s.flush()
                s.add_all(
                    KBChunk(
                        tenant_id=tenant,
                        article_id=art.id,
                        ordinal=c.ordinal,
                        text=c.text,
                        embedding=vector_bytes(c.vector),
                    )
                    for c in chunks
                )
                out.append(_article(row))
            _bump(s, tenant)
        return out

    def remove(self, tenant: str, article_id: str) -> bool:
        with transaction(self.sessions) as s:
            s.execute(delete(KBChunk).where(KBChunk.tenant_id == tenant, KBChunk.article_id == article_id))
            result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                delete(KBArticle).where(KBArticle.tenant_id == tenant, KBArticle.id == article_id)
            )
            gone = result.rowcount
            if gone:
                _bump(s, tenant)
        return bool(gone)

    def get(self, tenant: str, article_id: str) -> Article | None:
        with self.sessions() as s:
            row = s.get(KBArticle, (tenant, article_id))
            return None if row is None else _article(row)

    def list(self, tenant: str, *, offset: int = 0, limit: int = 50) -> tuple[list[Article], int]:
        with self.sessions() as s:
            total = s.scalar(select(func.count()).select_from(KBArticle).where(KBArticle.tenant_id == tenant))
            rows = s.scalars(
                select(KBArticle)
                .where(KBArticle.tenant_id == tenant)
                .order_by(KBArticle.id)
                .offset(offset)
                .limit(limit)
            )
            return [_article(r) for r in rows], int(total or 0)

    def _ensure_tenant(self, tenant: str) -> None:
        with self.sessions() as s:
            if s.get(Tenant, tenant) is not None:
                return
        try:
            with transaction(self.sessions) as s:
                s.add(Tenant(id=tenant, name=tenant))
        except IntegrityError:
            pass  # created concurrently by another writer


def _bump(s: Session, tenant: str) -> None:
    """Replace the tenant's version token (a fresh random token, so concurrent writers never collide)."""
    token = uuid.uuid4().hex
    row = s.get(TenantSetting, (tenant, VERSION_KEY))
    if row is None:
        s.add(TenantSetting(tenant_id=tenant, key=VERSION_KEY, value=token))
    else:
        row.value = token


class MemoryKBStore:
    """A process-local store (tests, benchmarks, the CLI without a database)."""

    def __init__(self) -> None:
        self._articles: dict[str, dict[str, Article]] = {}
        self._chunks: dict[str, dict[str, tuple[StoredChunk, ...]]] = {}
        self._versions: dict[str, str] = {}
        self._lock = threading.Lock()

    def version(self, tenant: str) -> str | None:
        return self._versions.get(tenant)

    def snapshot(self, tenant: str) -> TenantSnapshot:
        with self._lock:
            chunks = tuple(c for cs in self._chunks.get(tenant, {}).values() for c in cs)
            return TenantSnapshot(
                version=self._versions.get(tenant),
                articles=tuple(self._articles.get(tenant, {}).values()),
                chunks=chunks,
            )

    def write(self, tenant: str, items: Sequence[tuple[Article, Sequence[StoredChunk]]]) -> list[Article]:
        now = datetime.now(UTC)
        out: list[Article] = []
        with self._lock:
            arts = self._articles.setdefault(tenant, {})
            for art, chunks in items:
                old = arts.get(art.id)
                stored = Article(
                    id=art.id,
                    title=art.title,
                    body=art.body,
                    tags=art.tags,
                    url=art.url,
                    updated_at=now,
                    version=old.version + 1 if old else 1,
                )
                arts[art.id] = stored
                self._chunks.setdefault(tenant, {})[art.id] = tuple(chunks)
                out.append(stored)
            self._versions[tenant] = uuid.uuid4().hex
        return out

    def remove(self, tenant: str, article_id: str) -> bool:
        with self._lock:
            gone = self._articles.get(tenant, {}).pop(article_id, None)
            self._chunks.get(tenant, {}).pop(article_id, None)
            if gone is not None:
                self._versions[tenant] = uuid.uuid4().hex
        return gone is not None

    def get(self, tenant: str, article_id: str) -> Article | None:
        return self._articles.get(tenant, {}).get(article_id)

    def list(self, tenant: str, *, offset: int = 0, limit: int = 50) -> tuple[list[Article], int]:
        arts = sorted(self._articles.get(tenant, {}).values(), key=lambda a: a.id)
        return arts[offset : offset + limit], len(arts)


def load_starter_once(kb: KnowledgeBase, sessions: sessionmaker[Session], *, tenant: str = "default") -> bool:
    """Load the packaged starter articles into ``tenant`` the first time a database is used.

    A marker in ``tenant_settings`` records it, so articles an admin later deletes stay deleted;
    a tenant that already has articles is left alone. Safe to call from every process at start
    (a concurrent double load writes the same articles twice). Returns True when it loaded.
    """
    from callintel.kb.importers import starter_articles

    with sessions() as s:
        if s.get(TenantSetting, (tenant, STARTER_MARKER)) is not None:
            return False
    _, total = kb.store.list(tenant, limit=1)
    if total == 0:
        kb.upsert(tenant, starter_articles())
    try:
        with transaction(sessions) as s:
            if s.get(TenantSetting, (tenant, STARTER_MARKER)) is None:
                s.add(TenantSetting(tenant_id=tenant, key=STARTER_MARKER, value=True))
    except IntegrityError:
        pass  # another process set the marker first
    return total == 0
