"""Per-process worker state: database, blobs, settings, and the analyzers built lazily once."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from callintel.config import Settings
from callintel.fetch import AddressPolicy
from callintel.storage.blobs import BlobStore, make_blob_store
from callintel.storage.db import make_engine, make_session_factory

if TYPE_CHECKING:
    from celery import Celery

    from callintel.kb.index import KnowledgeBase
    from callintel.pipeline import Analyzers


@dataclass
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    blobs: BlobStore
    celery: Celery
    _analyzers: Analyzers | None = None
    _kb: KnowledgeBase | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def policy(self) -> AddressPolicy:
        fetch = self.settings.fetch
        return AddressPolicy.build(allow_private=fetch.allow_private, allowed_networks=fetch.allowed_networks)

    def analyzers(self) -> Analyzers:
        """Models, heads and policies, loaded on the first job of this process and then reused."""
        with self._lock:
            if self._analyzers is None:
                from callintel.pipeline import load_analyzers

                self._analyzers = load_analyzers(self.settings)
            return self._analyzers

    def knowledge_base(self) -> KnowledgeBase:
        """Per-tenant hybrid KB search over the shared tables (reloaded when a tenant's KB changes)."""
        analyzers = self.analyzers()
        with self._lock:
            if self._kb is None:
                from callintel.kb.index import KnowledgeBase
                from callintel.kb.store import SqlKBStore

                embedder = analyzers.models.embedder(self.settings.models.embedder)
                kb = KnowledgeBase(SqlKBStore(self.sessions), embedder)
                if self.settings.live.load_starter_kb:
                    # A worker may analyse calls before any API process touched the KB.
                    from callintel.kb.store import load_starter_once
                    from callintel.storage.repo import DEFAULT_TENANT

                    load_starter_once(kb, self.sessions, tenant=DEFAULT_TENANT)
                self._kb = kb
            return self._kb


_CONTEXTS: dict[int, WorkerContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def context_for(app: Any) -> WorkerContext:
    """The context of this Celery app in this process (built on first use, after fork)."""
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(id(app))
        if ctx is None:
            settings: Settings = app.callintel_settings
            ctx = WorkerContext(
                settings=settings,
                sessions=make_session_factory(make_engine(settings.resolved_database_url())),
                blobs=make_blob_store(settings),
                celery=app,
            )
            _CONTEXTS[id(app)] = ctx
        return ctx


def reset_contexts() -> None:
    """Forget contexts (a forked child must not reuse its parent's database connections)."""
    with _CONTEXTS_LOCK:
        for ctx in _CONTEXTS.values():
            engine = ctx.sessions.kw.get("bind")
            if engine is not None:
                engine.dispose(close=False)  # leave the parent's connections alone
        _CONTEXTS.clear()
