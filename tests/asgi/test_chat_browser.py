"""The chat (JWT, rooms, acks) with FastAPI under uvicorn, in headless Chromium: two people
chat as they do under ``roomcast serve`` (tests/chat/test_browser.py), same page, same steps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.chat.test_browser import browser, connect_and_join, open_page  # noqa: F401
from tests.chat.tokens import user_token

from .conftest import AsgiServer

try:
    from playwright.async_api import Browser, expect
except ImportError:  # pragma: no cover - the test extra installs it
    pytest.fail("playwright is required: pip install -e '.[test]'", pytrace=False)


@pytest.fixture
async def chat_url() -> AsyncIterator[str]:
    server = await asyncio.to_thread(
        AsgiServer, "uvicorn", "wrap", target="tests.asgi.chat_app:app"
    )
    try:
        yield server.url
    finally:
        server.stop()


async def test_two_pages_chat_under_fastapi_and_uvicorn(browser: Browser, chat_url: str) -> None:  # noqa: F811
    async with httpx.AsyncClient(base_url=chat_url) as http:
        assert (await http.get("/api/health")).json() == {"ok": True}
    errors: list[str] = []
    ann = await open_page(browser, chat_url + "/", errors)
    await connect_and_join(ann, "Ann", user_token("1", "Ann"))
    bob = await open_page(browser, f"{chat_url}/#token={user_token('2', 'Bob')}", errors)
    await connect_and_join(bob, "Bob")
    await ann.fill("#message", "Hi Bob, this is roomcast in FastAPI!")
    await ann.press("#message", "Enter")
    await expect(bob.locator("li.theirs")).to_have_text(
        ["Ann: Hi Bob, this is roomcast in FastAPI!"]
    )
    # the ack: Ann's own message leaves its pending state once the server answered it
    await expect(ann.locator("li.mine:not(.pending)")).to_have_text(
        ["Ann: Hi Bob, this is roomcast in FastAPI!"]
    )
    await bob.fill("#message", "Hello Ann!")
    await bob.click("#send-button")
    await expect(ann.locator("li.theirs")).to_have_text(["Bob: Hello Ann!"])
    assert errors == []
