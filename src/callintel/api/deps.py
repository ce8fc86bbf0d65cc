"""FastAPI dependencies: settings, database session, blob store, and scoped API-key auth.

Use the ``Annotated`` aliases in route signatures::

    @router.get("/things/{id}")
    def get_thing(id: str, principal: QAPrincipal, session: SessionDep) -> Thing: ...

A principal only ever sees rows of ``principal.tenant_id``; another tenant's row is a 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from callintel.config import Settings
from callintel.errors import Forbidden, Unauthorized
from callintel.storage import repo
from callintel.storage.blobs import BlobStore

if TYPE_CHECKING:
    from celery import Celery

Scope = Literal["ingest", "agent", "qa", "admin"]


@dataclass
class AppState:
    """Everything the lifespan builds once per process; routes reach it through the deps below."""

    settings: Settings
    sessions: sessionmaker[Session]
    blobs: BlobStore
    celery: Celery
    redis: Any = None
    """A ``redis.Redis`` client when Redis is configured, else None."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Per-process objects other routers cache here (e.g. a loaded KB index), keyed by name."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as proven by its API key."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.callintel
    return state


def get_settings_dep(request: Request) -> Settings:
    return get_state(request).settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    session = get_state(request).sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_blobs(request: Request) -> BlobStore:
    return get_state(request).blobs


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]


def _presented_key(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    key = request.headers.get("x-api-key", "").strip()
    if key:
        return key
    raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")


def authenticate(request: Request) -> Principal:
    """The principal of the presented key (401 when missing or unknown)."""
    key = _presented_key(request)
    with get_state(request).sessions() as session:
        row = repo.find_api_key(session, key)
        if row is None:
            raise Unauthorized("invalid or revoked API key")
        return Principal(tenant_id=row.tenant_id, key_id=row.id, scopes=frozenset(row.scopes))


def require_scope(*scopes: Scope) -> Callable[..., Principal]:
    """A dependency admitting keys holding any of ``scopes`` (``admin`` admits everything)."""

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if "admin" not in principal.scopes and not principal.scopes & set(scopes):
            raise Forbidden(f"this API key lacks the '{' or '.join(scopes)}' scope", required=list(scopes))
        return principal

    dependency.__name__ = "require_" + "_or_".join(scopes)
    return dependency


IngestPrincipal = Annotated[Principal, Depends(require_scope("ingest"))]
AgentPrincipal = Annotated[Principal, Depends(require_scope("agent"))]
QAPrincipal = Annotated[Principal, Depends(require_scope("qa"))]
AdminPrincipal = Annotated[Principal, Depends(require_scope("admin"))]
ReaderPrincipal = Annotated[Principal, Depends(require_scope("ingest", "qa"))]
"""Reads of calls and analyses: ingest or qa keys."""
AnyPrincipal = Annotated[Principal, Depends(authenticate)]


def call_filters(
    status: Literal["queued", "processing", "completed", "failed"] | None = None,
    intent: str | None = None,
    flag: str | None = None,
    sentiment: str | None = None,
    agent_id: str | None = None,
    customer_id: str | None = None,
    queue: str | None = None,
    escalation: str | None = None,
    created_from: Annotated[datetime | None, Query(alias="from")] = None,
    created_to: Annotated[datetime | None, Query(alias="to")] = None,
) -> repo.CallFilters:
    """The call filters shared by the call list, the review list, metrics and search."""
    return repo.CallFilters(
        status=status, intent=intent, flag=flag, sentiment=sentiment, agent_id=agent_id,
        customer_id=customer_id, queue=queue, escalation=escalation,
        created_from=created_from, created_to=created_to,
    )


CallFiltersDep = Annotated[repo.CallFilters, Depends(call_filters)]
