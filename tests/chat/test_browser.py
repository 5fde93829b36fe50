"""The chat page in headless Chromium (Debian's, driven by Playwright): two people chat."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from roomcast.apps.chat import create_app
from tests.conftest import ROOT
from tests.proxy import Proxy
from tests.waiting import until

from .tokens import SECRET, user_token

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 5000
RECONNECT_MS = 20000
"""The client retries with a backoff of up to 5 s: a few tries after a restart."""
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


async def test_pages_rejoin_their_room_after_a_server_restart(browser: Browser, port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    io = create_app(jwt_secret=SECRET)
    await io.listen("127.0.0.1", port)
    try:
        errors: list[str] = []
        ann = await open_page(browser, url + "/", errors)
        await connect_and_join(ann, "Ann", user_token("1", "Ann"))
        bob = await open_page(browser, f"{url}/#token={user_token('2', 'Bob')}", errors)
        await connect_and_join(bob, "Bob")

        # The server restarts on the same port; both pages reconnect by themselves.
        await io.close()
        for page, name in ((ann, "Ann"), (bob, "Bob")):
            await expect(page.locator("#status")).not_to_have_text(f"connected as {name}")
        io = create_app(jwt_secret=SECRET)
        await io.listen("127.0.0.1", port)
        for page, name in ((ann, "Ann"), (bob, "Bob")):
            await expect(page.locator("#status")).to_have_text(
                f"connected as {name}", timeout=RECONNECT_MS
            )
        # Each page says it rejoined the room it was in (Bob's join must be done before Ann
        # sends: the two go over different connections).
        for page in (ann, bob):
            await expect(page.locator("#messages li.info", has_text="lobby")).to_have_text(
                ["joined lobby", "rejoined lobby"]
            )

        await ann.fill("#message", "Still there, Bob?")
        await ann.press("#message", "Enter")
        await expect(bob.locator("li.theirs")).to_have_text(["Ann: Still there, Bob?"])
        await expect(ann.locator("li.mine:not(.pending)")).to_have_text(["Ann: Still there, Bob?"])
        await expect(ann.locator("li.error")).to_have_count(0)
        # The restart shows up as failed requests (refused, then 400 for the old session id)
        assert [e for e in errors if "favicon" in e or "404" in e] == []
    finally:
        await io.close()


async def test_a_user_whose_network_drops_sees_what_was_said_meanwhile(
    browser: Browser, port: int
) -> None:
    """Ann's page reaches the server through a network that goes down for 3 s (connections
    reset, new ones refused); Bob talks meanwhile. When it is back, her page shows what he said,
    in order, without a reload or a rejoin."""
    io = create_app(jwt_secret=SECRET)
    await io.listen("127.0.0.1", port)
    proxy = Proxy(port)
    proxy_port = await proxy.start()
    errors: list[str] = []
    try:
        ann = await open_page(browser, f"http://127.0.0.1:{proxy_port}/", errors)
        await connect_and_join(ann, "Ann", user_token("1", "Ann"))
        bob = await open_page(browser, f"http://127.0.0.1:{port}/", errors)
        await connect_and_join(bob, "Bob", user_token("2", "Bob"))
        (ann_sid,) = [s.id for s in io.sockets.sockets.values() if s.data["user"]["id"] == "1"]

        proxy.drop()
        await until(lambda: ann_sid not in io.sockets.sockets)  # the server saw her go
        await expect(ann.locator("#status")).to_have_text(re.compile("^disconnected"))
        for text in ["Are you there?", "Your network seems down."]:
            await bob.fill("#message", text)
            await bob.press("#message", "Enter")
        await expect(bob.locator("li.mine:not(.pending)")).to_have_count(2)
        await asyncio.sleep(3)  # the outage itself (not a wait for anything)
        proxy.heal()

        back = ann.locator("li.info", has_text="reconnected: rooms kept")
        await expect(back).to_have_count(1, timeout=20_000)  # the client's backoff
        await expect(ann.locator("li.theirs")).to_have_text(
            ["Bob: Are you there?", "Bob: Your network seems down."]
        )
        await bob.fill("#message", "Welcome back.")
        await bob.press("#message", "Enter")
        await expect(ann.locator("li.theirs")).to_have_text(
            ["Bob: Are you there?", "Bob: Your network seems down.", "Bob: Welcome back."]
        )
        assert ann_sid in io.sockets.sockets
        # the outage shows up as failed requests only
        assert [e for e in errors if "favicon" in e or "404" in e] == []
    finally:
        await proxy.close()
        await io.close()


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
