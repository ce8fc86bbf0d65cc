"""Health, readiness and Prometheus metrics. No authentication; no call ids in any label."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from callintel.api.deps import StateDep
from callintel.api.ops_checks import readiness
from callintel.api.ops_metrics import render_metrics

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database, broker, blob store and models",
    responses={
        503: {
            "description": "A dependency is not ready",
            "content": {
                "application/json": {
                    "example": {"code": "not_ready", "message": "broker: connection refused", "details": {}}
                }
            },
        }
    },
)
def readyz(state: StateDep) -> Any:
    checks = readiness(state)
    failed = {name: msg for name, msg in checks.items() if msg != "ok"}
    if failed:
        message = "; ".join(f"{k}: {v}" for k, v in failed.items())
        return JSONResponse({"code": "not_ready", "message": message, "details": checks}, status_code=503)
    return {"status": "ready", "checks": checks}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    body, content_type = render_metrics(state)
    return Response(body, media_type=content_type)
