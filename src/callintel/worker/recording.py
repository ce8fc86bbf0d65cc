"""Downloading a call's recording URL (SSRF-checked, size and time limited)."""

from __future__ import annotations

import re

from callintel.fetch import FetchLimits, fetch_recording
from callintel.storage.models import Call
from callintel.worker.context import WorkerContext

_TWILIO_ACCOUNT = re.compile(r"/Accounts/(AC[0-9a-fA-F]{32})/")


def twilio_auth(ctx: WorkerContext, call: Call) -> tuple[str, str] | None:
    """Basic auth for Twilio media (account SID from the URL, the configured auth token)."""
    token = ctx.settings.security.twilio_auth_token
    match = _TWILIO_ACCOUNT.search(call.recording_url or "")
    if call.source != "twilio" or token is None or match is None:
        return None
    return match.group(1), token.get_secret_value()


def download(ctx: WorkerContext, call: Call) -> bytes:
    fetch = ctx.settings.fetch
    limits = FetchLimits(
        max_bytes=ctx.settings.audio.max_bytes,
        timeout_s=fetch.timeout_s,
        max_redirects=fetch.max_redirects,
        allowed_content_types=tuple(fetch.allowed_content_types),
    )
    return fetch_recording(
        str(call.recording_url), limits=limits, policy=ctx.policy, auth=twilio_auth(ctx, call)
    )
