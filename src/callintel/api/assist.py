"""Per-process objects of the knowledge-base and live-assist routes, kept in ``AppState.extras``.

Built lazily on first use (models load once per process) and shared by every request thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from callintel.api.deps import AppState

if TYPE_CHECKING:
    from callintel.kb.index import KnowledgeBase
    from callintel.live import LiveService
    from callintel.ml.registry import ModelManager
    from callintel.pipeline import Analyzers

log = logging.getLogger(__name__)
_LOCK = threading.RLock()
FLOWS_KEY = "flows"


def models_of(state: AppState) -> ModelManager:
    """The process's model manager (shared with the other routers under ``extras['models']``)."""
    from callintel.ml.registry import ModelManager

    with _LOCK:
        models = state.extras.get("models")
        if not isinstance(models, ModelManager):
            models = ModelManager.from_settings(state.settings.models)
            state.extras["models"] = models
        return models


def analyzers_of(state: AppState) -> Analyzers:
    """Intent, sentiment, flags, guardrail policy... loaded once per process."""
    from callintel.pipeline import load_analyzers

    with _LOCK:
        analyzers = state.extras.get("analyzers")
        if analyzers is None:
            analyzers = load_analyzers(state.settings, models_of(state))
            state.extras["analyzers"] = analyzers
        return analyzers


def knowledge_base_of(state: AppState) -> KnowledgeBase:
    """The process's hybrid KB over the shared tables; loads the starter KB on first start."""
    from callintel.kb.index import KnowledgeBase
    from callintel.kb.store import SqlKBStore

    with _LOCK:
        kb = state.extras.get("kb")
        if kb is None:
            embedder = models_of(state).embedder(state.settings.models.embedder)
            kb = KnowledgeBase(SqlKBStore(state.sessions), embedder)
            if state.settings.live.load_starter_kb:
                from callintel.kb.store import load_starter_once
                from callintel.storage.repo import DEFAULT_TENANT

                if load_starter_once(kb, state.sessions, tenant=DEFAULT_TENANT):
                    log.info("loaded the starter knowledge base into tenant %s", DEFAULT_TENANT)
            state.extras["kb"] = kb
        return kb


def tenant_flows(state: AppState, tenant: str) -> Mapping[str, Any] | None:
    """The tenant's own flows (``{flow_id: yaml text}``) from ``tenant_settings``."""
    from callintel.storage import repo

    with state.sessions() as session:
        value = repo.get_tenant_setting(session, tenant_id=tenant, key=FLOWS_KEY)
    return value if isinstance(value, dict) else None


def live_service_of(state: AppState) -> LiveService:
    """The live-assist use case wired to Redis (or process memory without Redis), KB and flows."""
    from callintel.live import (
        LiveService,
        MemorySessionStore,
        RedisSessionStore,
        SessionStore,
        SqlLiveRecorder,
        packaged_flow_runner,
    )

    with _LOCK:
        service = state.extras.get("live")
        if service is None:
            analyzers = analyzers_of(state)
            kb = knowledge_base_of(state)
            store: SessionStore
            if state.redis is not None:
                store = RedisSessionStore(state.redis)
            else:
                log.warning("no Redis configured: live sessions live in this process only")
                store = MemorySessionStore()
            min_score = state.settings.live.kb_min_score
            service = LiveService(
                analyzers=analyzers,
                store=store,
                flows_for=packaged_flow_runner(lambda tenant: tenant_flows(state, tenant)),
                kb_for=lambda tenant: kb.searcher(tenant, min_score=min_score),
                recorder=SqlLiveRecorder(
                    state.sessions,
                    repeat_contact_days=state.settings.guardrail.repeat_contact_days,
                    job_deadline_s=state.settings.worker.job_deadline_s,
                ),
            )
            state.extras["live"] = service
        return service
