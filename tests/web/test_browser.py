"""The widget in a real browser (Debian's Chromium driven by Playwright): a practitioner opens the
intranet page, accepts the notice, asks, sees the cited answer, uses a suggestion, gives feedback,
deletes the conversation — also with the keyboard only, and at 320 px."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import async_playwright, expect

from bot.runner import build_web_app
from bot.service import Service
from bot.tokens import create_token

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SECRET = b"browser-test-secret"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(settings, tmp_path_factory):
    path = tmp_path_factory.mktemp("browser") / "veiviser.db"
    svc = Service.build(dataclasses.replace(settings, database_url=f"sqlite:///{path}", rate_limit_per_minute=100))
    yield svc
    svc.store.dispose()


@pytest.fixture
async def site(service):
    port = _free_port()
    runner = web.AppRunner(build_web_app(service.settings, service, SECRET), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is required (.ci/run installs it)"
    # Importing sanic (through Rasa) installs uvloop's event-loop policy, which cannot watch child
    # processes for the standard loop the tests run on; Playwright starts its driver as one.
    if type(asyncio.get_event_loop_policy()) is not asyncio.DefaultEventLoopPolicy:
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


async def _open(browser, site, user: str, width: int = 1280, height: int = 900):
    page = await browser.new_page(viewport={"width": width, "height": height})
    await page.goto(f"{site}/?token={create_token(SECRET, user, 3600)}")
    return page


async def _ask(page, text: str) -> None:
    before = await page.locator(".veiviser-msg-bot").count()
    await page.fill("#veiviser-input", text)
    await page.press("#veiviser-input", "Enter")
    await expect(page.locator(".veiviser-msg-bot")).to_have_count(before + 1, timeout=30_000)


async def test_ask_see_cited_answer_suggestion_feedback_delete(browser, site, service):
    page = await _open(browser, site, "pia")
    assert "token=" not in page.url, "the token is removed from the address bar"
    await page.click("#veiviser-launcher")
    await expect(page.locator("#veiviser-input")).to_be_disabled()
    await page.click("#veiviser-accept")
    await _ask(page, "Når går avvergingsplikten foran taushetsplikten?")
    answer = page.locator(".veiviser-msg-bot").last
    await expect(answer).to_contain_text("straffeloven § 196")
    await expect(answer.locator(".veiviser-source")).to_contain_text(
        "Kilde: Veileder for exit-arbeid › Gjennomføring › Informasjonsutveksling")
    assert await answer.locator("a[href^='https://']").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "widget-answered.png"), full_page=True)

    await answer.locator(".veiviser-feedback-up").click()
    await expect(answer).to_contain_text("Takk for tilbakemeldingen!")
    assert service.store.stats()["feedback"] >= 1

    await _ask(page, "tiltak")
    suggestion = page.locator(".veiviser-suggestion").first
    await expect(suggestion).to_be_visible()
    title = await suggestion.inner_text()
    before = await page.locator(".veiviser-msg-bot").count()
    await suggestion.click()
    await expect(page.locator(".veiviser-msg-user").last).to_contain_text(title.strip())
    await expect(page.locator(".veiviser-msg-bot")).to_have_count(before + 1, timeout=30_000)
    await expect(page.locator(".veiviser-msg-bot").last.locator(".veiviser-source")).to_contain_text("Kilde:")

    await page.click("#veiviser-delete")
    await expect(page.locator(".veiviser-msg-user")).to_have_count(0)
    await expect(page.locator("#veiviser-log")).to_contain_text("slettet")
    assert service.store.find_user("web", "pia") is None
    assert await page.evaluate("Object.keys(localStorage).length") == 0


async def test_keyboard_only(browser, site):
    page = await _open(browser, site, "kari")
    await page.focus("body")
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == "veiviser-launcher":
            break
    assert await page.evaluate("document.activeElement.id") == "veiviser-launcher"
    await page.keyboard.press("Enter")
    for _ in range(10):
        if await page.evaluate("document.activeElement.id") == "veiviser-accept":
            break
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    for _ in range(10):
        if await page.evaluate("document.activeElement.id") == "veiviser-input":
            break
        await page.keyboard.press("Tab")
    await page.keyboard.type("har han rett på individuell plan?")
    await page.keyboard.press("Enter")
    await expect(page.locator(".veiviser-msg-bot").last).to_contain_text("Individuell plan", timeout=30_000)
    await page.keyboard.press("Escape")
    assert await page.evaluate("document.activeElement.id") == "veiviser-launcher"
    log = page.locator("#veiviser-log")
    assert await log.get_attribute("role") == "log" and await log.get_attribute("aria-live") == "polite"
    assert await page.locator("label[for='veiviser-input']").count() == 1


async def test_reply_with_html_is_shown_as_text(browser, site):
    page = await _open(browser, site, "lars")
    evil = "<img src=x onerror=\"window.__xss=1\"> Kilde: test"

    async def fake_chat(route):
        await route.fulfill(status=200, content_type="application/json", body=json.dumps({
            "question": "q", "type": "clarify", "text": evil, "citations": [], "suggestions": [], "buttons": [],
            "intent": None, "confidence": None, "message_id": None, "conversation_id": "c"}))

    await page.route("**/api/chat", fake_chat)
    await page.click("#veiviser-launcher")
    await page.click("#veiviser-accept")
    await _ask(page, "<b>hei</b>")
    await expect(page.locator(".veiviser-msg-bot").last).to_contain_text("<img src=x")
    await expect(page.locator(".veiviser-msg-user").last).to_contain_text("<b>hei</b>")
    assert await page.evaluate("window.__xss === undefined")
    assert await page.locator("#veiviser-log img").count() == 0


async def test_server_unreachable_and_rate_limit_messages_keep_the_text(browser, site):
    page = await _open(browser, site, "mona")

    async def limited(route):
        await route.fulfill(status=429, headers={"Retry-After": "42"}, content_type="application/json",
                            body=json.dumps({"error": "For mange forespørsler."}))

    await page.route("**/api/chat", limited)
    await page.click("#veiviser-launcher")
    await page.click("#veiviser-accept")
    await page.fill("#veiviser-input", "hva er exit-arbeid?")
    await page.press("#veiviser-input", "Enter")
    await expect(page.locator(".veiviser-error").last).to_contain_text("42")
    assert await page.input_value("#veiviser-input") == "hva er exit-arbeid?"
    await page.unroute("**/api/chat")
    await page.route("**/api/chat", lambda route: route.abort())
    await page.press("#veiviser-input", "Enter")
    await expect(page.locator(".veiviser-error").last).to_contain_text("Får ikke kontakt")


async def test_personal_data_warning_before_sending(browser, site):
    page = await _open(browser, site, "nils")
    await page.click("#veiviser-launcher")
    await page.click("#veiviser-accept")
    await page.fill("#veiviser-input", "han har fnr 010190 12345")
    await page.press("#veiviser-input", "Enter")
    await expect(page.locator(".veiviser-pii-warning")).to_be_visible()
    assert await page.locator(".veiviser-msg-user").count() == 0


@pytest.mark.parametrize("width, height", [(320, 640), (640, 360)])  # a phone; 1280×720 at 200 % zoom
async def test_usable_on_a_phone_and_at_200_percent_zoom(browser, site, width, height):
    page = await _open(browser, site, f"olga-{width}", width=width, height=height)
    await page.click("#veiviser-launcher")
    await page.click("#veiviser-accept")
    await _ask(page, "hva gjør NAV i exit-arbeid?")
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    for control in ("#veiviser-send", "#veiviser-input"):
        box = await page.locator(control).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height
    await expect(page.locator(".veiviser-msg-bot").last).to_contain_text("Nav")
