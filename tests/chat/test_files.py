"""The page and the official client over real HTTP, and the 404 that explains a missing client."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx

from roomcast.apps.chat import create_app
from roomcast.apps.files import ClientFiles
from roomcast.engine.http import Request
from tests.conftest import NODE_MODULES

from .conftest import ChatClient
from .tokens import SECRET, user_token


def get(path: str, **headers: str) -> Request:
    return Request("GET", path, {}, {k.replace("_", "-"): v for k, v in headers.items()})


def test_missing_client_is_a_404_that_says_how_to_install_it(tmp_path: Path) -> None:
    response = ClientFiles(lambda: [tmp_path / "dist"]).serve("socket.io.js", get("/x"))
    assert response.status == 404
    assert b"npm install socket.io-client" in response.body


def test_client_has_an_etag_and_gzip() -> None:
    files = ClientFiles(lambda: [NODE_MODULES / "socket.io-client" / "dist"])
    expected = (NODE_MODULES / "socket.io-client" / "dist" / "socket.io.js").read_bytes()
    plain = files.serve("socket.io.js", get("/socket.io/socket.io.js"))
    assert (plain.status, plain.body) == (200, expected)
    etag = dict(plain.headers)["ETag"]
    assert files.serve("socket.io.js", get("/", if_none_match=etag)).status == 304
    assert files.serve("socket.io.js", get("/", if_none_match="W/" + etag)).status == 304
    zipped = files.serve("socket.io.js", get("/", accept_encoding="gzip, br"))
    assert dict(zipped.headers)["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == expected


async def test_page_and_client_over_http(chat_url: str) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        for needed in ('id="token"', 'id="room-name"', 'id="messages"', 'id="message"'):
            assert needed in page.text
        for asset in ("/chat.js", "/chat.css"):
            assert (await http.get(asset)).status_code == 200
        script = await http.get("/socket.io/socket.io.js")
        assert script.status_code == 200
        assert script.headers["content-type"] == "application/javascript; charset=utf-8"
        assert (await http.get("/socket.io/socket.io.js.map")).status_code == 200
        assert (await http.get("/nothing-here")).status_code == 404


async def test_another_engine_path_is_used_by_the_page(port: int) -> None:
    io = create_app(jwt_secret=SECRET, path="/rt/")
    await io.listen("127.0.0.1", port)
    client = ChatClient()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            page = (await http.get("/")).text
            assert 'src="/rt/socket.io.js"' in page and 'data-path="/rt/"' in page
            assert (await http.get("/rt/socket.io.js")).status_code == 200
        await client.connect(f"http://127.0.0.1:{port}", user_token(), socketio_path="/rt/")
        assert await client.call("join", "lobby") == {"status": "ok"}
    finally:
        await client.sio.disconnect()
        await io.close()
