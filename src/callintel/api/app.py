"""``create_app(settings)``: the FastAPI application, its lifespan and its one error mapping.

Routers are listed in ``ROUTERS``. Each module there exposes ``router: APIRouter`` (its paths
start with ``/v1/...`` itself) and may define ``setup(app: FastAPI) -> None`` for static mounts.
A listed module that does not exist yet is skipped, so teams add a router by creating the module.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from callintel.api.deps import AppState
from callintel.config import Settings, get_settings
from callintel.errors import CallintelError

log = logging.getLogger(__name__)

#: Router modules, in include order. Add yours here (one line); see README "Adding a router".
ROUTERS: tuple[str, ...] = (
    "callintel.api.routes.ops",
    "callintel.api.routes.calls",
    "callintel.api.routes.integrations",
    "callintel.api.routes.kb",
    "callintel.api.routes.live",
    "callintel.api.routes.qa",
    "callintel.api.routes.web",
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def build_state(settings: Settings, *, migrate: bool = True) -> AppState:
    """Open the database (migrating it first), the blob store, the Celery client and Redis."""
    from callintel.storage.blobs import make_blob_store
    from callintel.storage.db import make_engine, make_session_factory
    from callintel.storage.migrations import run_migrations
    from callintel.worker.app import create_celery

    url = settings.resolved_database_url()
    if migrate:
        run_migrations(url)
    state = AppState(
        settings=settings,
        sessions=make_session_factory(make_engine(url)),
        blobs=make_blob_store(settings),
        celery=create_celery(settings, register_tasks=False),
    )
    redis_url = settings.resolved_redis_url()
    if redis_url:
        import redis

        state.redis = redis.Redis.from_url(redis_url)
    ensure_bootstrap_key(state)
    return state


def ensure_bootstrap_key(state: AppState) -> None:
    """Create ``security.bootstrap_admin_key`` for the default tenant if it is not there yet."""
    from callintel.storage import repo
    from callintel.storage.db import transaction

    secret = state.settings.security.bootstrap_admin_key
    if secret is None:
        return
    with transaction(state.sessions) as session:
        if not repo.key_exists(session, secret.get_secret_value()):
            repo.create_api_key(
                session,
                tenant_id=repo.DEFAULT_TENANT,
                scopes=repo.SCOPES,
                name="bootstrap",
                key=secret.get_secret_value(),
            )


def close_state(state: AppState) -> None:
    bind = state.sessions.kw.get("bind")
    if bind is not None:
        bind.dispose()
    if state.redis is not None:
        state.redis.close()


def install_error_handlers(app: FastAPI) -> None:
    """Every error answer is ``{"code", "message", "details"?}`` with a meaningful status."""

    @app.exception_handler(CallintelError)
    async def domain_error(_: Request, exc: CallintelError) -> JSONResponse:
        if exc.status >= 500:
            log.error("request failed: %s", exc.code, extra={"code": exc.code})
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}".lstrip(": ")
        body = {"code": "invalid_input", "message": message, "details": {"errors": errors}}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        body = {"code": code, "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"code": "internal_error", "message": "internal error"}, status_code=500)


def include_routers(app: FastAPI, modules: tuple[str, ...] = ROUTERS) -> list[str]:
    """Include each listed router module that exists; returns the ones included."""
    included = []
    for name in modules:
        try:
            module: Any = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        app.include_router(module.router)
        if hasattr(module, "setup"):
            module.setup(app)
        included.append(name)
    return included


def create_app(settings: Settings | None = None, *, state: AppState | None = None) -> FastAPI:
    """The application. ``state`` may be prebuilt (tests); otherwise the lifespan builds it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = state is None
        app.state.callintel = state or build_state(settings)
        try:
            yield
        finally:
            if own:
                close_state(app.state.callintel)

    app = FastAPI(
        title="callintel",
        version="0.1.0",
        lifespan=lifespan,
        description="Self-hosted call intelligence: upload calls, get transcripts, intent, sentiment, "
        "flags, summaries, escalation decisions and QA scores; live agent assist.",
    )
    install_error_handlers(app)
    from callintel.api.middleware import BodyLimitMiddleware, RequestContextMiddleware

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.audio.max_bytes + 1024 * 1024)
    app.add_middleware(RequestContextMiddleware)
    include_routers(app)
    return app
