"""The chat page in headless Chromium (Debian's, driven by Playwright): two people chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from roomcast.apps.chat import create_app
from tests.conftest import ROOT

from .tokens import SECRET, user_token

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 5000
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the test extra installs it
    pytest.fail("playwright is required: pip install -e '.[test]'", pytrace=False)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required: make system-deps", pytrace=False)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 760, "height": 640})
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Nothing the page asks for is missing (a 404 also shows as an error in the console).
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto(url)
    # The page disables Connect and says so when /socket.io/socket.io.js did not load.
    await expect(page.locator("#status")).not_to_have_text("the Socket.IO client did not load")
    return page


async def connect_and_join(page: Page, name: str, token: str | None = None) -> None:
    if token is not None:
        await page.fill("#token", token)
    await page.click("#connect-button")
    await expect(page.locator("#status")).to_have_text(f"connected as {name}")
    await page.click("#join")
    await expect(page.locator("#messages li.info").last).to_have_text("joined lobby")


async def test_two_pages_chat(browser: Browser, chat_url: str) -> None:
    errors: list[str] = []
    ann = await open_page(browser, chat_url + "/", errors)
    await connect_and_join(ann, "Ann", user_token("1", "Ann"))
    # Bob's token comes in the URL fragment, as `roomcast serve` prints it.
    bob = await open_page(browser, f"{chat_url}/#token={user_token('2', 'Bob')}", errors)
    await connect_and_join(bob, "Bob")

    await ann.fill("#message", "Hi Bob, this is roomcast!")
    await ann.press("#message", "Enter")
    await expect(bob.locator("li.theirs")).to_have_text(["Ann: Hi Bob, this is roomcast!"])
    await expect(ann.locator("li.mine:not(.pending)")).to_have_text(
        ["Ann: Hi Bob, this is roomcast!"]
    )
    await bob.fill("#message", "Hello Ann! Same room, no reload.")
    await bob.click("#send-button")
    await expect(ann.locator("li.theirs")).to_have_text(["Bob: Hello Ann! Same room, no reload."])
    await expect(ann.locator("li.mine")).to_have_count(1)  # her own message is not echoed back
    ARTIFACTS.mkdir(exist_ok=True)
    await ann.screenshot(path=ARTIFACTS / "chat.png")

    # Text is shown as text, never as markup.
    await bob.fill("#message", "<b>not bold</b> & <script>alert(1)</script>")
    await bob.press("#message", "Enter")
    last = ann.locator("li.theirs").last
    await expect(last).to_have_text("Bob: <b>not bold</b> & <script>alert(1)</script>")
    assert await last.locator("b, script").count() == 0
    assert errors == []


async def test_refused_token_shows_the_reason(browser: Browser, chat_url: str) -> None:
    errors: list[str] = []
    page = await open_page(browser, chat_url + "/", errors)
    await page.fill("#token", user_token("1", "Eve", secret="not-the-server-secret-" + "q" * 40))
    await page.click("#connect-button")
    await expect(page.locator("#status")).to_have_text("refused: invalid signature")
    await expect(page.locator("#message")).to_be_disabled()
    # The browser logs the refused connection's failed handshake request; nothing else.
    assert [e for e in errors if "favicon" in e or "404" in e] == []


@pytest.fixture
async def msgpack_chat_url(port: int) -> AsyncIterator[str]:
    """The URL of a chat server with the msgpack parser (``roomcast serve --parser msgpack``)."""
    io = create_app(jwt_secret=SECRET, parser="msgpack")
    await io.listen("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await io.close()


async def test_two_pages_chat_with_the_msgpack_parser(
    browser: Browser, msgpack_chat_url: str
) -> None:
    errors: list[str] = []
    # the server takes msgpack clients only: the chat working shows the page loaded that build
    ann = await open_page(browser, msgpack_chat_url + "/?parser=msgpack", errors)
    await connect_and_join(ann, "Ann", user_token("1", "Ann"))
    bob = await open_page(
        browser, f"{msgpack_chat_url}/?parser=msgpack#token={user_token('2', 'Bob')}", errors
    )
    await connect_and_join(bob, "Bob")
    await ann.fill("#message", "Hi Bob, in MessagePack é😀")
    await ann.press("#message", "Enter")
    await expect(bob.locator("li.theirs")).to_have_text(["Ann: Hi Bob, in MessagePack é😀"])
    await expect(ann.locator("li.mine:not(.pending)")).to_have_text(
        ["Ann: Hi Bob, in MessagePack é😀"]
    )
    assert errors == []
