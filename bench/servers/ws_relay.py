"""Baseline: a bare `websockets` relay speaking just enough Engine.IO/Socket.IO for the bench app.

It is the ceiling of this stack: one asyncio task per connection (websockets' own server), no
Socket.IO layer at all, and `websockets.broadcast` writing one message to every room member.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

room: set[ServerConnection] = set()
OPEN = "0" + json.dumps(
    {"sid": "", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1000000}
)


async def handler(ws: ServerConnection) -> None:
    await ws.send(OPEN)
    try:
        async for message in ws:
            if not isinstance(message, str):
                continue
            if message == "40":
                await ws.send('40{"sid":"' + secrets.token_urlsafe(15) + '"}')
            elif message.startswith("42"):
                body = message[2:]
                i = 0
                while body[i].isdigit():
                    i += 1
                ack_id, args = body[:i], json.loads(body[i:])
                if args[0] == "fanout":
                    broadcast(room, '42["msg",' + json.dumps(args[1], separators=(",", ":")) + "]")
                elif args[0] == "join":
                    room.add(ws)
                    await ws.send("43" + ack_id + "[]")
                elif args[0] == "echo":
                    await ws.send("43" + ack_id + json.dumps(args[1:], separators=(",", ":")))
    except ConnectionClosed:
        pass
    finally:
        room.discard(ws)


async def main(port: int) -> None:
    async with serve(
        handler, "127.0.0.1", port, ping_interval=None, compression=None, max_queue=None
    ):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
