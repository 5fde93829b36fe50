"""The real Admin UI (@socket.io/admin-ui's built page, served by `roomcast serve --admin` at
/admin/) in headless Chromium, logged in against a running chat with several clients."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import socketio
from playwright.async_api import Browser, Page, expect

from tests.chat.test_browser import ARTIFACTS, browser
from tests.chat.tokens import SECRET, user_token
from tests.conftest import ROOT

from .conftest import HASH, PASSWORD, USERNAME

__all__ = ["browser"]

WAIT_MS = 10_000
START = 20.0
Serve = Callable[..., Awaitable[str]]
ROOMS = {"Ann": ["lobby"], "Bob": ["lobby", "kitchen"], "Cat": ["kitchen"]}


@pytest.fixture
async def serve(port: int) -> AsyncIterator[Serve]:
    """Start `python -m roomcast serve` (the chat) with ``--admin`` and ``args``; its URL."""
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "roomcast", "serve", "--port", str(port),
            "--jwt-secret", SECRET, "--admin", f"{USERNAME}:{HASH}", *args,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k != "ROOMCAST_JWT_SECRET"},
        )  # fmt: skip
        started.append(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START)
        assert line.startswith(b"roomcast listening on"), line
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        await process.wait()


@pytest.fixture
async def chatters() -> AsyncIterator[Callable[[str], Awaitable[dict[str, socketio.AsyncClient]]]]:
    made: list[socketio.AsyncClient] = []

    async def connect(url: str) -> dict[str, socketio.AsyncClient]:
        clients = {}
        for number, (name, rooms) in enumerate(ROOMS.items(), 1):
            client = socketio.AsyncClient(reconnection=False)
            made.append(client)
            await client.connect(url, auth={"token": user_token(str(number), name)})
            for room in rooms:
                assert await client.call("join", room, timeout=10) == {"status": "ok"}
            clients[name] = client
        return clients

    yield connect
    for client in made:
        if client.connected:
            await client.disconnect()


async def log_in(browser: Browser, url: str, password: str = PASSWORD) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)  # a loaded machine: the UI may take its time
    page = await context.new_page()
    await page.goto(url + "/admin/")
    # the page proposes the server it came from
    await expect(page.get_by_label("Server URL")).to_have_value(url)
    await page.get_by_label("Username").fill(USERNAME)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Connect").click()
    return page


async def menu(page: Page, item: str) -> None:
    await page.get_by_role("navigation").get_by_role("link", name=item).click()


async def test_ui_lists_sockets_and_rooms_and_disconnects_a_socket(
    browser: Browser,
    serve: Serve,
    chatters: Callable[[str], Awaitable[dict[str, socketio.AsyncClient]]],
) -> None:
    url = await serve()
    clients = await chatters(url)
    page = await log_in(browser, url)
    await expect(page.get_by_text("connected", exact=True).filter(visible=True)).to_be_visible()
    namespaces = page.locator(".v-card", has_text="Namespaces")
    await expect(namespaces.locator("tr", has_text="/admin")).to_contain_text("1")
    await expect(namespaces.locator("tbody tr").first).to_contain_text("3")
    await expect(page.get_by_label("Password")).to_be_hidden()

    await menu(page, "Rooms")
    for room, members in (("lobby", "2"), ("kitchen", "2")):
        await expect(page.locator("tr", has_text=room)).to_contain_text(members)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "admin-rooms.png", animations="disabled")

    await menu(page, "Sockets")
    ids = {name: client.get_sid("/") for name, client in clients.items()}
    for sid in ids.values():
        assert sid is not None
        await expect(page.locator("tr", has_text=sid)).to_be_visible()
    # the README's picture, docs/admin.png, is a copy of this one (CSS transitions finished)
    clip = {"x": 0, "y": 0, "width": 1280, "height": 500}
    await page.screenshot(path=ARTIFACTS / "admin.png", animations="disabled", clip=clip)

    ann = clients["Ann"]
    gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    ann.on("disconnect", lambda *reason: gone.done() or gone.set_result(str(reason[:1])))
    await page.locator("tr", has_text=str(ids["Ann"])).get_by_role("button").click()
    assert "server disconnect" in await asyncio.wait_for(gone, 10)
    # the click also opens the socket's page (the row's own click, as with Node's server)
    await expect(
        page.get_by_text("disconnected", exact=True).filter(visible=True)
    ).not_to_have_count(0)
    await menu(page, "Sockets")
    await expect(page.locator("tr", has_text=str(ids["Ann"]))).to_have_count(0)
    await expect(page.locator("tr", has_text=str(ids["Bob"]))).to_be_visible()
    assert clients["Bob"].connected and clients["Cat"].connected


async def test_read_only_ui_offers_no_disconnect(
    browser: Browser,
    serve: Serve,
    chatters: Callable[[str], Awaitable[dict[str, socketio.AsyncClient]]],
) -> None:
    url = await serve("--admin-read-only")
    clients = await chatters(url)
    page = await log_in(browser, url)
    await expect(page.get_by_text("connected", exact=True).filter(visible=True)).to_be_visible()
    await menu(page, "Sockets")
    row = page.locator("tr", has_text=str(clients["Ann"].get_sid("/")))
    await expect(row).to_be_visible()
    await expect(row.get_by_role("button")).to_have_count(0)


async def test_wrong_password_is_refused(browser: Browser, serve: Serve) -> None:
    url = await serve()
    page = await log_in(browser, url, password="not-the-password")
    await expect(page.get_by_text("Invalid credentials")).to_be_visible()
    await expect(page.get_by_text("disconnected", exact=True).filter(visible=True)).to_be_visible()
