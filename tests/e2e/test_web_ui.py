"""The web UI end to end: the real app served by uvicorn on 127.0.0.1 with real analysed calls,
driven by Playwright in Debian's headless Chromium (never a downloaded browser).

Covers: the dashboard renders metrics, charts and the call list; search; the call page shows the
transcript (coloured by sentiment), the scorecard, evidence highlighting and the audio player; one
correction round trip (change the intent in the UI → the API shows the corrected value); the review
queue; live assist showing suggestions as a conversation proceeds. Screenshots are kept under
``test-artifacts/``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callintel.config import ModelSettings, Settings
from callintel.storage import repo
from callintel.storage.db import transaction

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, base: str, key: str, ids: dict[str, str]) -> None:
        self.base, self.key, self.ids = base, key, ids

    def get(self, path: str) -> Any:
        response = httpx.get(self.base + path, headers={"Authorization": f"Bearer {self.key}"}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, analyzers: Any, models: Any, fixtures_dir: Path
) -> Iterator[Server]:
    import uvicorn

    import qa_seed
    from callintel.api.app import create_app

    data = tmp_path_factory.mktemp("qa-ui")
    settings = Settings(data_dir=data, models=ModelSettings(cache_dir=ROOT / ".cache" / "models"))
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    state = app.state.callintel
    state.extras["models"] = models
    state.extras["analyzers"] = analyzers  # live assist reuses the loaded analyzers
    seeded = qa_seed.seed(state.sessions, qa_seed.analyse_all(analyzers))
    with transaction(state.sessions) as session:
        key = repo.create_api_key(session, tenant_id="default", scopes=["qa", "agent"],
                                  name="ui-reviewer").key
        call = repo.get_call_by_id(session, seeded.ids["double-charge-good"])
        assert call is not None
        call.redacted_audio_key = "default/ui/redacted.wav"
    state.blobs.put(
        "default/ui/redacted.wav",
        (fixtures_dir / "audio" / "mono_16k.wav").read_bytes(),
        content_type="audio/wav",
    )
    yield Server(f"http://127.0.0.1:{port}", key, seeded.ids)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.base + "/ui/")
        page.fill("#api-key", server.key)
        page.click("#key-form button")
        yield page
        assert errors == [], errors
        browser.close()


def test_dashboard_renders_metrics_charts_and_calls(page: Any, server: Server) -> None:
    page.goto(server.base + "/ui/#/dashboard")
    page.wait_for_selector("#kpis")
    assert page.locator("#kpis .kpi").count() == 7
    assert page.locator("#kpis .kpi").first.locator(".value").inner_text() == str(len(server.ids))
    assert page.locator("#charts svg rect").count() > 5
    page.wait_for_selector("#call-list tbody tr")
    assert page.locator("#call-list tbody tr").count() == len(server.ids)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.fill("#search-q", "customers angry about double charges")
    page.select_option("#filters [name=mode]", "semantic")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#call-list h2:has-text('Search results')")
    first = page.locator("#call-list tbody tr").first.get_attribute("data-call-id")
    assert first in {
        server.ids["double-charge-angry"],
        server.ids["double-charge-good"],
        server.ids["rude-agent"],
    }
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)


def test_call_page_and_correction_round_trip(page: Any, server: Server) -> None:
    call_id = server.ids["double-charge-good"]
    page.goto(f"{server.base}/ui/#/call/{call_id}")
    page.wait_for_selector("#transcript .turn")
    doc = server.get(f"/v1/calls/{call_id}")["analysis"]
    assert page.locator("#transcript .turn").count() == len(doc["transcript"]["turns"])
    first_turn = page.locator("#turn-0")
    assert "Northwind" in first_turn.inner_text()
    labels = {t["turn"]: t["label"] for t in doc["sentiment"]["turns"]}
    assert labels[0] in (first_turn.get_attribute("class") or "")
    assert page.locator("#scorecard .qa-item").count() == len(doc["qa"]["items"])
    assert page.locator("#qa-score").inner_text() == f"{doc['qa']['score']:.0f}"
    page.wait_for_selector("#player audio")
    # Clicking a scorecard item highlights its evidence turns.
    greeting = next(i for i in doc["qa"]["items"] if i["id"] == "greeting")
    page.click("#scorecard [data-item=greeting] .label")
    highlighted = page.locator("#transcript .turn.hl")
    assert highlighted.count() == len(greeting["turns"])
    assert highlighted.first.get_attribute("id") == f"turn-{greeting['turns'][0]}"
    page.screenshot(path=str(ARTIFACTS / "call-page.png"), full_page=True)
    # One correction round trip: change the intent in the UI.
    new_intent = "complaint" if doc["intent"]["label"] != "complaint" else "billing"
    page.select_option("#intent-select", new_intent)
    page.click("#save-corrections")
    page.wait_for_selector("#flash")
    assert page.locator("#intent-label").inner_text() == new_intent
    assert page.locator("#history tr").count() >= 2
    after = server.get(f"/v1/calls/{call_id}")
    assert after["analysis"]["intent"]["label"] == new_intent
    assert after["analysis"]["intent"]["corrected"] is True
    assert after["intent"] == new_intent
    rows = server.get(f"/v1/calls/{call_id}/corrections")["corrections"]
    assert [r["field"] for r in rows] == ["intent"] and "ui-reviewer" in rows[0]["reviewer"]
    page.screenshot(path=str(ARTIFACTS / "call-corrected.png"), full_page=True)


def test_review_queue(page: Any, server: Server) -> None:
    page.goto(server.base + "/ui/#/queue")
    page.wait_for_selector("#queue")
    expected = [i["id"] for i in server.get("/v1/review-queue")["items"]]
    assert expected, "the seeded calls include escalations"
    shown = [r.get_attribute("data-call-id") for r in page.locator("#queue tbody tr").all()]
    assert shown == expected
    page.screenshot(path=str(ARTIFACTS / "review-queue.png"), full_page=True)
    page.locator("#queue tbody tr").first.click()
    page.wait_for_selector("#transcript .turn")
    assert page.url.endswith(f"#/call/{expected[0]}")


def test_live_assist_shows_suggestions_as_the_call_proceeds(page: Any, server: Server) -> None:
    page.goto(server.base + "/ui/#/live")
    page.wait_for_selector("#live-form")

    def say(speaker: str, text: str) -> None:
        page.select_option("#live-speaker", speaker)
        page.fill("#live-text", text)
        before = page.locator("#live-suggestions pre.raw").all_text_contents()
        page.click("#live-form button[type=submit]")
        page.wait_for_function(
            "prev => { const el = document.querySelector('#live-suggestions pre.raw');"
            " return el && el.textContent !== prev; }", arg=before[0] if before else "")

    say("agent", "Thank you for calling Northwind, this is Ana. How can I help?")
    say("customer", "I was charged twice for my subscription this month and I want a refund.")
    assert page.locator("#live-intent").inner_text() == "billing"
    assert "refund" in page.locator("#live-suggestions").inner_text()
    assert page.locator("#live-kb li").count() >= 1
    say("agent", "I'm sorry about that, let me check your account.")
    say("customer", "This is ridiculous, I want to speak to a supervisor right now.")
    page.wait_for_selector("#live-warning")
    assert "supervisor" in page.locator("#live-warning").inner_text().lower()
    assert "[object" not in page.locator("#live-suggestions").inner_text()
    assert page.locator("#live-flow").count() == 1
    page.screenshot(path=str(ARTIFACTS / "live-assist.png"), full_page=True)
    page.click("#live-end")
    page.wait_for_selector("#live-call-link")
    page.click("#live-call-link")
    page.wait_for_selector("#transcript .turn")
    assert page.locator("#transcript .turn").count() == 4
