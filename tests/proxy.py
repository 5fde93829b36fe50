"""A TCP proxy for tests that need a network that fails: silently, or with resets."""

from __future__ import annotations

import asyncio

__all__ = ["Proxy"]


class Proxy:
    """A TCP proxy in front of the server; :meth:`cut` makes it a black hole, as a dead
    network: nothing goes through its connections, old or new, and neither end sees a close,
    until :meth:`heal` (then new connections go through again)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.dead = False
        self.refusing = False
        self.swallowed = bytearray()
        """What the dead network took in."""
        self.live: list[asyncio.Event] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.closing = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        self.writers.append(writer)
        if self.dead:
            while data := await reader.read(65536):
                self.swallowed += data
            await self.closing.wait()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        cut = asyncio.Event()
        if self.dead:  # cut while this one was connecting upstream
            cut.set()
        self.live.append(cut)
        self.writers.append(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if cut.is_set():
                        self.swallowed += data
                        continue
                    dst.write(data)
            except ConnectionError:
                pass  # reset by drop()
            if not cut.is_set():
                dst.close()
            else:
                await self.closing.wait()  # a dead network: the other end never hears

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.dead = True
        for event in self.live:
            event.set()

    def drop(self) -> None:
        """Break every connection at once (a reset both ways) and refuse new ones until
        :meth:`heal`: a network that is down and says so."""
        self.refusing = True
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def heal(self) -> None:
        self.dead = False
        self.refusing = False

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        self.closing.set()
        for writer in self.writers:
            writer.close()
