"""Pure logic of the service: SSRF address policy, Twilio and Standard Webhooks signatures,
webhook backoff, cursors, JSON log lines."""

from __future__ import annotations

import ipaddress
import json
import logging
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from callintel.api.call_ops import decode_cursor, encode_cursor
from callintel.api.twilio import signature_valid, twilio_signature
from callintel.config import WebhookSettings
from callintel.errors import FetchBlocked, InvalidInput
from callintel.fetch import AddressPolicy, check_url
from callintel.logs import JsonFormatter, log_context
from callintel.worker import webhooks


@pytest.mark.parametrize(
    ("address", "strict", "permissive"),
    [
        ("93.184.216.34", None, None),
        ("127.0.0.1", "loopback or private address", None),
        ("::1", "loopback or private address", None),
        ("::ffff:127.0.0.1", "loopback or private address", None),
        ("10.1.2.3", "loopback or private address", None),
        ("192.168.0.10", "loopback or private address", None),
        ("100.64.0.1", "loopback or private address", None),
        ("169.254.169.254", "link-local or metadata address", "link-local or metadata address"),
        ("fe80::1", "link-local or metadata address", "link-local or metadata address"),
        (
            "224.0.0.1",
            "multicast, reserved or unspecified address",
            "multicast, reserved or unspecified address",
        ),
        (
            "0.0.0.0",
            "multicast, reserved or unspecified address",
            "multicast, reserved or unspecified address",
        ),
    ],
)
def test_address_policy(address: str, strict: str | None, permissive: str | None) -> None:
    ip = ipaddress.ip_address(address)
    assert AddressPolicy().refusal(ip) == strict
    assert AddressPolicy(allow_private=True).refusal(ip) == permissive


def test_allowed_networks_admit_one_private_host_only() -> None:
    policy = AddressPolicy.build(allow_private=False, allowed_networks=["127.0.0.2/32"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is not None


def test_check_url_refuses_when_any_resolved_address_is_private() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return {"ok.test": ["93.184.216.34"], "mixed.test": ["93.184.216.34", "10.0.0.1"]}[host]

    assert check_url("https://ok.test/a.wav", policy=AddressPolicy(), resolver=resolver).ip == "93.184.216.34"
    with pytest.raises(FetchBlocked):
        check_url("https://mixed.test/a.wav", policy=AddressPolicy(), resolver=resolver)
    with pytest.raises(FetchBlocked):
        check_url("file:///etc/passwd", policy=AddressPolicy(), resolver=resolver)


def test_twilio_signature_matches_twilios_documented_example() -> None:
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert signature_valid("12345", url=url, params=params, signature="0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert signature_valid("12345", url=with_port, params=params, signature="0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not signature_valid("12345", url=url, params=params[:-1], signature="0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_webhook_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret = WebhookSettings().secret.get_secret_value()
    body = json.dumps({"type": "call.completed", "data": {"call_id": "c1"}}).encode()
    headers = webhooks.signed_headers(secret, msg_id="msg_1", body=body)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers)["data"]["call_id"] == "c1"
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body + b" ", headers)


def test_delivery_id_is_stable_per_job_and_event() -> None:
    assert webhooks.delivery_id("job_1", "call.completed") == webhooks.delivery_id("job_1", "call.completed")
    assert webhooks.delivery_id("job_1", "call.completed") != webhooks.delivery_id("job_1", "call.escalated")
    assert webhooks.delivery_id("job_1", "call.completed") != webhooks.delivery_id("job_2", "call.completed")


def test_webhook_backoff_doubles_and_stops() -> None:
    settings = WebhookSettings(max_attempts=4, backoff_base_s=10)
    delays = []
    for attempt in (1, 2, 3):
        at = webhooks.next_retry(settings, attempts=attempt, outcome="http_error")
        assert at is not None
        delays.append(round((at - datetime.now(UTC)).total_seconds()))
    assert delays == [10, 20, 40]
    assert webhooks.next_retry(settings, attempts=4, outcome="http_error") is None
    assert webhooks.next_retry(settings, attempts=1, outcome="blocked") is None
    assert webhooks.next_retry(settings, attempts=1, outcome="success") is None


def test_cursor_roundtrip_and_garbage() -> None:
    position = (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "call_x")
    assert decode_cursor(encode_cursor(position)) == position
    assert decode_cursor(None) is None
    with pytest.raises(InvalidInput):
        decode_cursor("not-a-cursor")


def test_json_log_lines_carry_call_and_task_ids() -> None:
    record = logging.LogRecord("callintel.x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    with log_context(call_id="call_1", task_id="task_1"):
        line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["call_id"], line["task_id"], line["level"]) == (
        "hello world",
        "call_1",
        "task_1",
        "info",
    )
    assert "call_id" not in json.loads(JsonFormatter().format(record))
