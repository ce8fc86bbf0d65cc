"""The web UI: static files from ``callintel/web`` served at ``/ui/`` (no build step, no CDN).

The pages call the JSON API with the API key the user enters once (kept in ``localStorage``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui")
def ui() -> RedirectResponse:
    return RedirectResponse("/ui/")


def setup(app: FastAPI) -> None:
    """Mount the static UI (``index.html`` is served for ``/ui/``)."""
    app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")
