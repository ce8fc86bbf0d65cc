"""Twilio request validation (``X-Twilio-Signature``) and the recording status callback form.

Twilio signs: the full URL it requested (with query string), then for form POSTs every parameter
sorted by name with its name and value appended, HMAC-SHA1 keyed with the account's auth token,
base64-encoded. Behind a proxy the URL is rebuilt from ``security.public_base_url``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    payload = url + "".join(f"{k}{v}" for k, v in sorted(params, key=lambda kv: kv[0]))
    digest = hmac.new(auth_token.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """Twilio may or may not include the default port; accept either form."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}"))
    without = urlunsplit(parts._replace(netloc=host)) if parts.port in (None, default) else url
    return list(dict.fromkeys([url, with_port, without]))


def signature_valid(auth_token: str, *, url: str, params: list[tuple[str, str]], signature: str) -> bool:
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, params), signature)
        for candidate in _port_variants(url)
    )


def public_url(request_url: str, *, base: str | None) -> str:
    """The URL Twilio called: the request's path and query on ``base`` when configured."""
    if not base:
        return request_url
    parts, base_parts = urlsplit(request_url), urlsplit(base.rstrip("/"))
    return urlunsplit((base_parts.scheme, base_parts.netloc, base_parts.path + parts.path, parts.query, ""))
