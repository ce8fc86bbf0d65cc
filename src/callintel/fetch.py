"""Outbound HTTP with SSRF protection: recording downloads and webhook deliveries.

Every hop (the first URL and each redirect) is resolved, every resolved address is checked, and
the connection goes to the checked address (pinned), so a DNS answer cannot change between the
check and the connect. Loopback and private targets are refused unless ``allow_private`` or
``allowed_networks`` admit them; link-local (cloud metadata), multicast, reserved and unspecified
addresses are always refused.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from callintel.errors import (
    AudioEmpty,
    AudioTooLarge,
    FetchBlocked,
    FetchError,
    FetchTransient,
    UnsupportedMediaType,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host!r}", host=host) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses a request may connect to."""

    allow_private: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())

    @classmethod
    def build(cls, *, allow_private: bool, allowed_networks: Sequence[str] = ()) -> AddressPolicy:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        return cls(allow_private=allow_private, allowed_networks=nets)

    def refusal(self, ip: IPAddress) -> str | None:
        """Why ``ip`` is refused, or None when allowed."""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed_networks):
            return None
        if ip in _METADATA or ip.is_link_local:
            return "link-local or metadata address"
        if ip.is_loopback:  # before 'reserved': ::1 is in the reserved ::/8
            return None if self.allow_private else "loopback or private address"
        if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            return "multicast, reserved or unspecified address"
        if ip.is_private or not ip.is_global:
            return None if self.allow_private else "loopback or private address"
        return None


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    ip: str


def check_url(url: str, *, policy: AddressPolicy, resolver: Resolver = system_resolver) -> Target:
    """Resolve ``url``'s host and check every address; the first one is pinned."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchBlocked("only http and https URLs with a host are accepted", url=url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolver(parts.hostname, port)
    if not addresses:
        raise FetchError(f"host {parts.hostname!r} has no address", host=parts.hostname)
    for address in addresses:
        reason = policy.refusal(ipaddress.ip_address(address.split("%")[0]))
        if reason:
            raise FetchBlocked(f"refusing to connect to {parts.hostname}: {reason}", host=parts.hostname)
    return Target(url=url, host=parts.hostname, ip=addresses[0])


def _pinned(target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL with the checked IP as host, plus the Host header and TLS SNI for the real name."""
    parts = urlsplit(target.url)
    ip_host = f"[{target.ip}]" if ":" in target.ip else target.ip
    netloc = ip_host + (f":{parts.port}" if parts.port else "")
    host_header = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else ""
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, {"sni_hostname": target.host}


@contextmanager
def open_stream(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    policy: AddressPolicy,
    max_redirects: int,
    resolver: Resolver = system_resolver,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> Iterator[httpx.Response]:
    """Send a request hop by hop, re-checking each redirect target; yields the final response.

    ``auth`` goes only to the first host, never to a host a redirect points at."""
    first_host = urlsplit(url).hostname
    for _ in range(max_redirects + 1):
        target = check_url(url, policy=policy, resolver=resolver)
        pinned, host, extensions = _pinned(target)
        request = client.build_request(
            method, pinned, headers={**(headers or {}), **host}, extensions=extensions, content=content
        )
        hop_auth = auth if target.host == first_host else None
        response = client.send(request, stream=True, follow_redirects=False, auth=hop_auth)
        if response.is_redirect and "location" in response.headers:
            response.close()
            url = urljoin(url, response.headers["location"])
            method = "GET" if response.status_code in (301, 302, 303) else method
            continue
        try:
            yield response
        finally:
            response.close()
        return
    raise FetchError(f"more than {max_redirects} redirects", url=url)


def _check_response(response: httpx.Response, *, allowed_types: Sequence[str], max_bytes: int) -> None:
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise FetchTransient(f"recording server answered {response.status_code}", status=response.status_code)
    if response.status_code >= 400:
        raise FetchError(f"recording server answered {response.status_code}", status=response.status_code)
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not any(content_type.startswith(prefix) for prefix in allowed_types):
        raise UnsupportedMediaType(
            f"recording has content type {content_type or 'none'!r}",
            content_type=content_type,
            allowed=list(allowed_types),
        )
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise AudioTooLarge(f"recording is {length} bytes, more than {max_bytes}", max_bytes=max_bytes)


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_s: float = 30.0
    max_redirects: int = 3
    allowed_content_types: tuple[str, ...] = ("audio/", "video/", "application/octet-stream")


def fetch_recording(
    url: str,
    *,
    limits: FetchLimits,
    policy: AddressPolicy,
    auth: tuple[str, str] | None = None,
    resolver: Resolver = system_resolver,
) -> bytes:
    """Download a recording within the size and time limits (SSRF-checked at every hop)."""
    deadline = time.monotonic() + limits.timeout_s
    chunks: list[bytes] = []
    size = 0
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(min(limits.timeout_s, 10.0)), trust_env=False) as client,
            open_stream(
                client,
                "GET",
                url,
                policy=policy,
                max_redirects=limits.max_redirects,
                resolver=resolver,
                auth=auth,
            ) as response,
        ):
            _check_response(response, allowed_types=limits.allowed_content_types, max_bytes=limits.max_bytes)
            for chunk in response.iter_bytes(1 << 16):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise AudioTooLarge(
                        f"recording exceeds {limits.max_bytes} bytes", max_bytes=limits.max_bytes
                    )
                if time.monotonic() > deadline:
                    raise FetchTransient(f"download took longer than {limits.timeout_s} s")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FetchTransient(f"download failed: {type(exc).__name__}: {exc}") from exc
    if size == 0:
        raise AudioEmpty("the recording URL returned no bytes")
    return b"".join(chunks)
