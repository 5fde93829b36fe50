"""The clients of the cyclic-garbage tests, in a process of their own.

Run as ``python tests/gc/clients.py``: it reads one JSON command a line on stdin, ``{"kind",
"url", "n", "token"}``, runs ``n`` connection lifecycles of that kind against ``url`` one after
the other, and answers ``ok`` (or ``error: ...``) on stdout. Being in another process, the
clients' own garbage (python-socketio's, websockets' client side) never mixes with the server's.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any
from urllib.parse import urlsplit

import httpx
import socketio
from websockets.asyncio.client import connect

WAIT = 10.0


async def sio_client(url: str, transports: list[str], auth: Any = None) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, transports=transports, auth=auth, wait_timeout=WAIT)
    return client


async def websocket_full(url: str, token: str) -> None:
    """Connect over WebSocket, an event with an ack, join a room, a broadcast to it, leave it,
    disconnect (the client's)."""
    client = await sio_client(url, ["websocket"])
    shouted: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("shout", lambda data: shouted.done() or shouted.set_result(data))
    assert await client.call("echo", {"a": [1, 2]}, timeout=WAIT) == {"a": [1, 2]}
    assert await client.call("join", "room", timeout=WAIT) == "joined"
    await client.emit("shout", ["room", "hello"])
    assert await asyncio.wait_for(shouted, WAIT) == "hello"
    assert await client.call("leave", "room", timeout=WAIT) == "left"
    await client.disconnect()


async def server_disconnect(url: str, token: str) -> None:
    """The server disconnects the socket (``socket.disconnect()``) from an event handler."""
    client = await sio_client(url, ["websocket"])
    gone = asyncio.Event()
    client.on("disconnect", lambda *reason: gone.set())
    await client.emit("kick")
    await asyncio.wait_for(gone.wait(), WAIT)
    await client.disconnect()


async def polling_upgrade(url: str, token: str) -> None:
    """Connect over polling, upgrade to WebSocket, an event with an ack there, disconnect."""
    client = await sio_client(url, ["polling", "websocket"])
    deadline = asyncio.get_running_loop().time() + WAIT
    while await client.call("transport", timeout=WAIT) != "websocket":  # as the server sees it
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("never upgraded")
        await asyncio.sleep(0.005)
    assert await client.call("echo", "x", timeout=WAIT) == "x"
    await client.disconnect()


async def polling_only(url: str, token: str) -> None:
    """Connect over polling alone, an event with an ack, disconnect."""
    client = await sio_client(url, ["polling"])
    assert await client.call("echo", "x", timeout=WAIT) == "x"
    await client.disconnect()


async def ping_timeout(url: str, token: str) -> None:
    """A raw WebSocket that joins ``/`` and never answers a ping: the server times it out."""
    parts = urlsplit(url)
    ws_url = f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket"
    async with connect(ws_url, compression=None) as ws:
        opened = await asyncio.wait_for(ws.recv(), WAIT)
        assert isinstance(opened, str) and opened.startswith("0"), opened
        await ws.send("40")
        joined = await asyncio.wait_for(ws.recv(), WAIT)
        assert isinstance(joined, str) and joined.startswith("40"), joined
        try:
            while True:
                await asyncio.wait_for(ws.recv(), WAIT)  # pings, never answered
        except Exception as exc:
            if "ConnectionClosed" not in type(exc).__name__:
                raise


async def refused(url: str, token: str) -> None:
    """The namespace's middleware refuses the socket (a bad JWT)."""
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(
            url, transports=["websocket"], auth={"token": "not-a-jwt"}, wait_timeout=WAIT
        )
    except socketio.exceptions.ConnectionError:
        pass
    else:
        raise AssertionError("connection accepted")
    await client.disconnect()


async def chat(url: str, token: str) -> None:
    """The chat app with a valid token: welcome, join a room, two messages, leave, disconnect."""
    client = socketio.AsyncClient(reconnection=False)
    welcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("welcome", lambda *data: welcome.done() or welcome.set_result(data))
    await client.connect(url, transports=["websocket"], auth={"token": token}, wait_timeout=WAIT)
    await asyncio.wait_for(welcome, WAIT)
    assert await client.call("join", "lobby", timeout=WAIT) == {"status": "ok"}
    for text in ("hello", "world"):
        message = {"message": text, "roomName": "lobby"}
        assert await client.call("message", message, timeout=WAIT) == {"status": "ok"}
    assert await client.call("leave", "lobby", timeout=WAIT) == {"status": "ok"}
    await client.disconnect()


async def bad_sid(url: str, token: str) -> None:
    """A polling request with an unknown sid: HTTP 400, on a connection of its own."""
    async with httpx.AsyncClient(timeout=WAIT) as http:
        answer = await http.get(f"{url}/socket.io/?EIO=4&transport=polling&sid=nope")
        assert answer.status_code == 400, answer.status_code


async def acks(url: str, token: str) -> None:
    """The server's acks: one answered, two timing out (a socket's, a broadcast's), one pending
    when the client leaves."""
    client = await sio_client(url, ["websocket"])

    async def slow(*args: Any) -> None:
        await asyncio.sleep(5)  # answers long after the server's 50 ms timeout

    held = asyncio.Event()

    async def hold(*args: Any) -> None:
        held.set()
        await asyncio.sleep(5)  # the client disconnects first

    client.on("question", lambda value: value + 1)
    client.on("slow", slow)
    client.on("hold", hold)
    assert await client.call("ask", 1, timeout=WAIT) == [2, 2]  # 2 acks timed out
    await client.emit("wait")
    await asyncio.wait_for(held.wait(), WAIT)
    await client.disconnect()


async def handler_errors(url: str, token: str) -> None:
    """Handlers that raise (a plain one, a coroutine): logged by the server."""
    client = await sio_client(url, ["websocket"])
    await client.emit("boom")
    await client.emit("aboom")
    assert await client.call("echo", "still here", timeout=WAIT) == "still here"
    await client.disconnect()


async def abort(url: str, token: str) -> None:
    """A raw WebSocket that joins ``/`` then drops its TCP connection without closing."""
    parts = urlsplit(url)
    ws = await connect(f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket")
    await asyncio.wait_for(ws.recv(), WAIT)
    await ws.send("40")
    await asyncio.wait_for(ws.recv(), WAIT)
    ws.transport.abort()
    await ws.wait_closed()


async def client_close(url: str, token: str) -> None:
    """A raw WebSocket that joins ``/``, leaves it (``41``) and closes the WebSocket, as Node's
    ``ws`` and the soak's clients do: a closing handshake the client starts."""
    parts = urlsplit(url)
    ws = await connect(f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket")
    await asyncio.wait_for(ws.recv(), WAIT)
    await ws.send("40")
    await asyncio.wait_for(ws.recv(), WAIT)
    await ws.send("41")
    await asyncio.wait_for(ws.close(), WAIT)


async def connect_timeout(url: str, token: str) -> None:
    """An Engine.IO connection that joins no namespace: the server closes it in time."""
    parts = urlsplit(url)
    async with connect(f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket") as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), WAIT)
        except Exception as exc:
            if "ConnectionClosed" not in type(exc).__name__:
                raise


async def poll_dropped(url: str, token: str) -> None:
    """A polling session whose waiting GET's connection closes before the answer."""
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(timeout=WAIT) as http:
        opened = (await http.get(base)).text
        sid = json.loads(opened[1:])["sid"]
        assert (await http.post(f"{base}&sid={sid}", content="40")).text == "ok"
        assert (await http.get(f"{base}&sid={sid}")).text.startswith("40")
    async with httpx.AsyncClient(timeout=0.2) as http:
        try:
            await http.get(f"{base}&sid={sid}")  # waits for the ping: given up, connection closed
        except httpx.TimeoutException:
            pass
        else:
            raise AssertionError("the poll was answered")


async def recovery(url: str, token: str) -> None:
    """The chat's connection state recovery: a raw client whose TCP connection drops after its
    welcome comes back on a new connection with its ``pid`` and offset, is recovered, leaves."""
    parts = urlsplit(url)
    ws_url = f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket"
    ws = await connect(ws_url)
    await asyncio.wait_for(ws.recv(), WAIT)
    await ws.send("40" + json.dumps({"token": token}))
    joined = json.loads(str(await asyncio.wait_for(ws.recv(), WAIT))[2:])
    welcome = json.loads(str(await asyncio.wait_for(ws.recv(), WAIT))[2:])
    assert welcome[0] == "welcome", welcome
    ws.transport.abort()
    await ws.wait_closed()
    async with connect(ws_url) as ws:
        await asyncio.wait_for(ws.recv(), WAIT)
        auth = {"token": token, "pid": joined["pid"], "offset": welcome[-1]}
        await ws.send("40" + json.dumps(auth))
        again = json.loads(str(await asyncio.wait_for(ws.recv(), WAIT))[2:])
        assert again["sid"] == joined["sid"], (again, joined)  # recovered: the same socket id
        await ws.send("41")


async def recovery_expired(url: str, token: str) -> None:
    """The chat's connection state recovery: a raw client drops after its welcome and never
    comes back (the server forgets its session when the recovery window ends)."""
    parts = urlsplit(url)
    ws = await connect(f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket")
    await asyncio.wait_for(ws.recv(), WAIT)
    await ws.send("40" + json.dumps({"token": token}))
    await asyncio.wait_for(ws.recv(), WAIT)
    welcome = json.loads(str(await asyncio.wait_for(ws.recv(), WAIT))[2:])
    assert welcome[0] == "welcome", welcome
    ws.transport.abort()
    await ws.wait_closed()


async def compressed(url: str, token: str) -> None:
    """A raw WebSocket with permessage-deflate: text and binary events with acks, then the
    Socket.IO and Engine.IO close."""
    parts = urlsplit(url)
    async with connect(f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket") as ws:
        assert ws.protocol.extensions, "permessage-deflate not negotiated"
        await asyncio.wait_for(ws.recv(), WAIT)
        await ws.send("40")
        await asyncio.wait_for(ws.recv(), WAIT)
        text = "x" * 5000
        await ws.send("421" + json.dumps(["echo", text]))
        assert await asyncio.wait_for(ws.recv(), WAIT) == "431" + json.dumps([text])
        await ws.send('451-2["echo",{"_placeholder":true,"num":0}]')
        await ws.send(b"\x00\x01" * 3000)
        assert await asyncio.wait_for(ws.recv(), WAIT) == '461-2[{"_placeholder":true,"num":0}]'
        assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x00\x01" * 3000
        await ws.send("41")
        await ws.send("1")


async def protocol_error(url: str, token: str) -> None:
    """A raw WebSocket that joins ``/`` then sends a frame with a reserved opcode: the server
    fails the connection (close code 1002)."""
    parts = urlsplit(url)
    ws = await connect(f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket")
    await asyncio.wait_for(ws.recv(), WAIT)
    await ws.send("40")
    await asyncio.wait_for(ws.recv(), WAIT)
    ws.transport.write(b"\x83\x80" + b"\x00\x00\x00\x00")  # opcode 3: reserved, masked
    await asyncio.wait_for(ws.wait_closed(), WAIT)
    assert ws.close_code == 1002, ws.close_code


KINDS = {
    "websocket": websocket_full,
    "server-disconnect": server_disconnect,
    "polling-upgrade": polling_upgrade,
    "polling": polling_only,
    "ping-timeout": ping_timeout,
    "refused": refused,
    "chat": chat,
    "bad-sid": bad_sid,
    "acks": acks,
    "handler-errors": handler_errors,
    "abort": abort,
    "client-close": client_close,
    "connect-timeout": connect_timeout,
    "poll-dropped": poll_dropped,
    "recovery": recovery,
    "recovery-expired": recovery_expired,
    "compressed": compressed,
    "protocol-error": protocol_error,
}


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        lifecycle = KINDS[command["kind"]]
        try:
            for _ in range(command["n"]):
                await lifecycle(command["url"], command.get("token", ""))
        except Exception as exc:  # reported to the test, which fails with it
            print(f"error: {type(exc).__name__}: {exc}", flush=True)
        else:
            print("ok", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
