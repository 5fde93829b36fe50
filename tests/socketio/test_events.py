"""Events and acks both ways, binary anywhere, ack timeouts, broadcast acks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roomcast.errors import AckTimeoutError
from roomcast.socketio.server import Server
from roomcast.socketio.socket import Socket

from .conftest import WAIT, ClientFactory, SioClient, url_of

NESTED = {
    "name": "file",
    "parts": [b"\x00\x01\x02", {"deep": [b"\xff" * 300, "text", 3.5]}],
    "none": None,
    "flag": True,
}


async def connected(
    io: Server, clients: ClientFactory, nsp: str = "/", **auth: Any
) -> tuple[SioClient, Socket]:
    """A connected client and its server-side socket."""
    seen: asyncio.Future[Socket] = asyncio.get_running_loop().create_future()

    def on_connection(socket: Socket) -> None:
        if not seen.done():
            seen.set_result(socket)

    io.of(nsp).on("connection", on_connection)
    client = clients()
    await client.connect(url_of(io), nsp, auth or None)
    socket = await asyncio.wait_for(seen, WAIT)
    io.of(nsp).off("connection", on_connection)
    return client, socket


async def test_client_to_server_event_and_ack(io: Server, clients: ClientFactory) -> None:
    got: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @io.on("note")
    def note(socket: Socket, *args: Any) -> None:
        got.put_nowait(args)

    @io.on("add")
    async def add(socket: Socket, a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    @io.on("pair")
    def pair(socket: Socket) -> tuple[str, int]:
        return ("two", 2)

    client, _ = await connected(io, clients)
    await client.emit("note", "hello", 1, [True, None])
    assert await asyncio.wait_for(got.get(), WAIT) == ("hello", 1, [True, None])
    assert await client.call("add", 2, 3) == [5]
    assert await client.call("pair") == ["two", 2]


async def test_handler_answers_later_with_ack(io: Server, clients: ClientFactory) -> None:
    @io.on("later")
    def on_later(socket: Socket, value: int, *, ack: Any) -> None:
        asyncio.get_running_loop().call_soon(ack, value * 10, "done")

    client, _ = await connected(io, clients)
    assert await client.call("later", 4) == [40, "done"]


async def test_server_to_client_event_and_ack(io: Server, clients: ClientFactory) -> None:
    client, socket = await connected(io, clients)
    socket.emit("hello", "world", {"n": 1})
    assert await client.next_event("hello") == ["world", {"n": 1}]
    await client.reply("question", "answer", 42)
    assert await socket.emit_with_ack("question", 1, timeout=WAIT) == ("answer", 42)
    await client.reply("one", "only")
    assert await socket.timeout(WAIT).emit_with_ack("one") == "only"


async def test_binary_both_ways(io: Server, clients: ClientFactory) -> None:
    got: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @io.on("upload")
    def upload(socket: Socket, *args: Any) -> Any:
        got.put_nowait(args)
        return {"echo": args[0], "extra": b"\x10\x20"}

    client, socket = await connected(io, clients)
    answer = await client.call("upload", NESTED, b"top")
    assert await asyncio.wait_for(got.get(), WAIT) == (NESTED, b"top")
    assert answer == [{"echo": NESTED, "extra": b"\x10\x20"}]
    socket.emit("download", [NESTED, b"\x00"])
    assert await client.next_event("download") == [[NESTED, b"\x00"]]
    await client.reply("give", {"bytes": b"\x01\x02\x03"}, b"\x04")
    assert await socket.emit_with_ack("give", timeout=WAIT) == ({"bytes": b"\x01\x02\x03"}, b"\x04")


async def test_emit_with_ack_timeout(io: Server, clients: ClientFactory) -> None:
    client, socket = await connected(io, clients)
    await client.hold("slow")
    with pytest.raises(AckTimeoutError) as timed_out:
        await socket.emit_with_ack("slow", timeout=0.2)
    assert timed_out.value.responses is None
    await client.reply("fast", "yes")
    assert await socket.emit_with_ack("fast", timeout=WAIT) == "yes"


async def test_client_ack_timeout(io: Server, clients: ClientFactory) -> None:
    never = asyncio.Event()

    @io.on("stall")
    async def stall(socket: Socket) -> None:
        await never.wait()

    client, _ = await connected(io, clients)
    with pytest.raises(TimeoutError):
        await client.call("stall", timeout=0.2)
    never.set()


async def test_socket_level_handlers_and_on_any(io: Server, clients: ClientFactory) -> None:
    client, socket = await connected(io, clients)
    seen: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    socket.on_any(lambda event, *args: seen.put_nowait(("any", event, *args)))
    socket.on("ping!", lambda *args: ["pong", *args])
    outgoing: list[tuple[Any, ...]] = []
    socket.on_any_outgoing(lambda event, *args: outgoing.append((event, *args)))
    assert await client.call("ping!", 1) == [["pong", 1]]
    assert await asyncio.wait_for(seen.get(), WAIT) == ("any", "ping!", 1)
    socket.emit("out", 7)
    assert await client.next_event("out") == [7]
    io.emit("all", 8)
    assert await client.next_event("all") == [8]
    assert outgoing == [("out", 7), ("all", 8)]


async def test_packet_middleware_can_refuse(io: Server, clients: ClientFactory) -> None:
    client, socket = await connected(io, clients)
    errors: asyncio.Queue[BaseException] = asyncio.Queue()
    handled: list[Any] = []

    async def guard(packet: list[Any]) -> None:
        if packet[0] == "forbidden":
            raise PermissionError("forbidden event")

    socket.use(guard)
    socket.on("error", errors.put_nowait)
    socket.on("forbidden", handled.append)
    socket.on("fine", lambda x: x)
    await client.emit("forbidden", 1)
    assert str(await asyncio.wait_for(errors.get(), WAIT)) == "forbidden event"
    assert await client.call("fine", 2) == [2]
    assert handled == []


async def test_handler_exceptions_are_logged_not_fatal(
    io: Server, clients: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    @io.on("boom")
    async def boom(socket: Socket) -> None:
        raise RuntimeError("kaput")

    @io.on("sync_boom")
    def sync_boom(socket: Socket) -> None:
        raise ValueError("kaput too")

    io.on("echo", lambda socket, *args: args)
    client, socket = await connected(io, clients)
    await client.emit("boom")
    await client.emit("sync_boom")
    assert await client.call("echo", 5) == [5]
    assert socket.connected
    messages = [r.getMessage() for r in caplog.records]
    assert any("'boom'" in m and socket.id in m for m in messages)
    assert any("'sync_boom'" in m and socket.id in m for m in messages)


async def test_broadcast_emit_with_ack_gathers_every_answer(
    io: Server, clients: ClientFactory
) -> None:
    pairs = [await connected(io, clients) for _ in range(20)]
    for index, (client, _) in enumerate(pairs):
        await client.reply("vote", index)
    answers = await io.timeout(WAIT).emit_with_ack("vote", "please")
    assert sorted(answers) == list(range(20))
    for client, _ in pairs:
        assert await client.next_event("vote") == ["please"]
    # a room, the sender excluded
    for _, socket in pairs[:5]:
        socket.join("five")
    sender = pairs[0][1]
    answers = await sender.to("five").timeout(WAIT).emit_with_ack("vote", "again")
    assert sorted(answers) == [1, 2, 3, 4]


async def test_broadcast_emit_with_ack_timeout_carries_the_answers(
    io: Server, clients: ClientFactory
) -> None:
    pairs = [await connected(io, clients) for _ in range(4)]
    for index, (client, _) in enumerate(pairs):
        if index < 3:
            await client.reply("vote", index)
        else:
            await client.hold("vote")
    with pytest.raises(AckTimeoutError) as timed_out:
        await io.timeout(0.3).emit_with_ack("vote")
    assert sorted(timed_out.value.responses) == [0, 1, 2]
    assert all(not s._acks for _, s in pairs)
    assert await io.to("nobody").timeout(WAIT).emit_with_ack("vote") == []


async def test_broadcast_emit_with_ack_without_timeout_counts_a_leaver_as_answered(
    io: Server, clients: ClientFactory
) -> None:
    """No timeout and a recipient that disconnects before answering: the call returns, with
    ``None`` for the one that left, instead of waiting forever."""
    pairs = [await connected(io, clients) for _ in range(3)]
    await pairs[0][0].reply("vote", "yes")
    await pairs[1][0].reply("vote", "no")
    leaver = pairs[2][0]
    await leaver.hold("vote")
    call = asyncio.ensure_future(io.emit_with_ack("vote"))
    assert await leaver.next_event("vote") == []
    assert not call.done()
    await leaver.disconnect()
    answers = await asyncio.wait_for(call, WAIT)
    assert sorted(answers, key=str) == [None, "no", "yes"]
