"""Outgoing webhooks signed per the Standard Webhooks spec.

Headers: ``webhook-id`` (stable per event; receivers deduplicate on it), ``webhook-timestamp``
(Unix seconds of this attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``, keyed with the base64-decoded part of the ``whsec_`` secret).
Events: ``call.completed``, ``call.failed``, ``call.escalated``.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from standardwebhooks import Webhook

from callintel.config import WebhookSettings
from callintel.errors import FetchBlocked, FetchError
from callintel.fetch import AddressPolicy, open_stream
from callintel.storage.models import Call
from callintel.storage.repo import AttemptRecord

EVENTS = ("call.completed", "call.failed", "call.escalated")


def delivery_id(job_id: str, event: str) -> str:
    """One id per (job, event): a job re-run after a crash cannot create a second delivery."""
    return "msg_" + hashlib.sha256(f"{job_id}:{event}".encode()).hexdigest()[:32]


def _call_data(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "external_id": call.external_id,
        "status": call.status,
        "agent_id": call.agent_id,
        "customer_id": call.customer_id,
        "queue": call.queue,
    }


def event_payload(event: str, call: Call, extra: dict[str, Any]) -> dict[str, Any]:
    """The JSON body: ``{"type", "timestamp", "data"}`` as the spec recommends."""
    data = {**_call_data(call), **extra}
    return {"type": event, "timestamp": datetime.now(UTC).isoformat(), "data": data}


def completed_events(call: Call, document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``call.completed`` always; ``call.escalated`` too when the guardrail did not say ``none``."""
    escalation = document.get("escalation") or {}
    summary = {
        "intent": call.intent,
        "sentiment": call.sentiment,
        "flags": call.flags,
        "escalation": {"decision": call.escalation_decision, "priority": call.escalation_priority},
        "qa_score": call.qa_score,
        "duration_s": call.duration_s,
    }
    events = [("call.completed", event_payload("call.completed", call, summary))]
    if escalation and escalation.get("decision", "none") != "none":
        events.append(("call.escalated", event_payload("call.escalated", call, {"escalation": escalation})))
    return events


def failed_event(call: Call) -> tuple[str, dict[str, Any]]:
    extra = {"error": {"code": call.error_code, "message": call.error_message}}
    return "call.failed", event_payload("call.failed", call, extra)


def signed_headers(secret: str, *, msg_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    now = now or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        "content-type": "application/json",
        "user-agent": "callintel-webhooks/1",
    }


def send_once(
    *, url: str, msg_id: str, payload: dict[str, Any], settings: WebhookSettings, policy: AddressPolicy
) -> AttemptRecord:
    """One signed POST (no redirects followed). Never raises: the outcome is the record."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signed_headers(settings.secret.get_secret_value(), msg_id=msg_id, body=body)
    started = time.perf_counter()
    try:
        with (
            httpx.Client(timeout=settings.timeout_s, trust_env=False) as client,
            open_stream(
                client, "POST", url, policy=policy, max_redirects=0, content=body, headers=headers
            ) as response,
        ):
            status = response.status_code
        outcome = "success" if 200 <= status < 300 else "http_error"
        error = None if outcome == "success" else f"HTTP {status}"
        return AttemptRecord(status, outcome, error, (time.perf_counter() - started) * 1000)
    except FetchBlocked as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return AttemptRecord(None, "blocked", f"{exc.code}: {exc.message}"[:500], elapsed)
    except (httpx.HTTPError, FetchError) as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return AttemptRecord(None, "network_error", f"{type(exc).__name__}: {exc}"[:500], elapsed)


def next_retry(settings: WebhookSettings, *, attempts: int, outcome: str) -> datetime | None:
    """Exponential backoff (base, 2x base, 4x base...); None after success, for a refused
    (SSRF-blocked) URL, and once ``max_attempts`` are spent."""
    if outcome in ("success", "blocked") or attempts >= settings.max_attempts:
        return None
    return datetime.now(UTC) + timedelta(seconds=settings.backoff_base_s * 2 ** (attempts - 1))
