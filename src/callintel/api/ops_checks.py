"""Readiness checks, each answering ``"ok"`` or a short reason."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from callintel.api.deps import AppState


def _database(state: AppState) -> None:
    with state.sessions() as session:
        session.execute(text("SELECT 1"))


def _broker(state: AppState) -> None:
    with state.celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)


def _blobs(state: AppState) -> None:
    state.blobs.check()


def _models(state: AppState) -> None:
    """Loadable: the packaged model folders are installed (loading happens in workers)."""
    from callintel.ml.registry import minilm_dir, tiny_en_dir

    for folder in (tiny_en_dir(), minilm_dir()):
        if not folder.is_dir():
            raise FileNotFoundError(f"model folder missing: {folder}")


CHECKS: dict[str, Callable[[AppState], None]] = {
    "database": _database,
    "broker": _broker,
    "blobs": _blobs,
    "models": _models,
}


def readiness(state: AppState) -> dict[str, str]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check(state)
            results[name] = "ok"
        except Exception as exc:  # a readiness probe reports, it never raises
            results[name] = f"{type(exc).__name__}: {exc}"[:300]
    return results
