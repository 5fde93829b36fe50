"""The Redis adapter: one namespace's rooms and broadcasts across many servers.

Wire-compatible with Node's ``@socket.io/redis-adapter`` 8.3 with its default options (channel
names and message encoding in :mod:`roomcast.rooms.redis_messages`), so roomcast and Node
socket.io servers can share one Redis and one application::

    from roomcast import Server
    from roomcast.rooms.redis import redis_adapter

    io = Server(adapter=redis_adapter("redis://localhost:6379/0"))

Each server keeps its own sockets' rooms in memory (:class:`MemoryAdapter`) and publishes what
other servers must do; what it receives it applies to its own sockets, encoding a broadcast
packet once for all of them, as for a local broadcast. ``local`` broadcasts skip Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

from redis.asyncio import Redis

from ..protocol.socketio import Packet
from .adapter import (
    BroadcastOptions,
    NamespaceLike,
    RequestTimeout,
)
from .cluster_adapter import ClusterAdapter
from .memory import MemoryAdapter
from .redis_link import RedisLink
from .redis_messages import (
    Channels,
    RequestType,
    decode,
    decode_broadcast,
    decode_opts,
    decode_packet,
    encode_broadcast,
    encode_json,
    encode_msgpack,
    encode_opts,
    encode_packet,
    new_uid,
    remote_socket,
    strings,
)

__all__ = ["RedisAdapter", "redis_adapter"]

logger = logging.getLogger("roomcast.redis")


def redis_adapter(
    client: Redis | str,
    *,
    key: str = "socket.io",
    requests_timeout: float = 5.0,
    publish_on_specific_response_channel: bool = False,
) -> Callable[[NamespaceLike], RedisAdapter]:
    """The ``adapter=`` of a :class:`~roomcast.socketio.server.Server` sharing rooms over Redis.

    ``client``: a ``redis.asyncio.Redis`` client (``decode_responses`` off) or a URL. ``key``:
    the channel prefix (Node's ``key`` option). ``requests_timeout``: seconds to wait for the
    other servers' answers (``fetch_sockets``, ``server_side_emit_with_ack``). Give each
    Server its own factory: its namespaces share one subscriber connection.
    """
    link: RedisLink | None = None

    def factory(nsp: NamespaceLike) -> RedisAdapter:
        nonlocal link
        if link is None or link.closed:
            link = RedisLink(client)
        return RedisAdapter(
            nsp,
            link,
            key=key,
            requests_timeout=requests_timeout,
            publish_on_specific_response_channel=publish_on_specific_response_channel,
        )

    return factory


class RedisAdapter(ClusterAdapter):
    """A :class:`MemoryAdapter` that also carries every operation to the other servers through
    Redis pub/sub (see the module docstring). Made by :func:`redis_adapter`."""

    def __init__(
        self,
        nsp: NamespaceLike,
        link: RedisLink,
        *,
        key: str = "socket.io",
        requests_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
    ) -> None:
        super().__init__(nsp, requests_timeout=requests_timeout)
        self.link = link
        self.uid = new_uid()
        self.channels = Channels.of(key, nsp.name, self.uid)
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self._started = False
        # how this server's own broadcasts start: msgpack [fixarray(3), fixstr(6) uid, ...]
        self._own_prefix = b"\x93\xa6" + self.uid.encode()
        link.users += 1

    def __repr__(self) -> str:
        return f"<RedisAdapter nsp={self.nsp.name} uid={self.uid}>"

    # life cycle

    async def init(self) -> None:
        """Subscribe to the namespace's channels; wait (a little) for Redis to confirm."""
        if self._started:
            return
        self._started = True
        channels = self.channels
        active = await self.link.subscribe(
            {
                channels.request: self._on_request,
                channels.response: self._on_response,
                channels.specific_response: self._on_response,
            },
            {channels.pattern: self._on_broadcast},
            timeout=self.requests_timeout,
        )
        self._subscribed(active)

    async def close(self) -> None:
        """Unsubscribe; the last adapter of the server closes the Redis connection."""
        await super().close()
        if not self._started:
            return
        self._started = False
        channels = self.channels
        await self.link.unsubscribe(
            [channels.request, channels.response, channels.specific_response],
            [channels.pattern],
        )
        self._cancel_requests()
        self.link.users -= 1
        if self.link.users <= 0:
            await self.link.close()

    async def server_count(self) -> int:
        """``PUBSUB NUMSUB`` of the request channel: the servers of the namespace (1 when Redis
        is unreachable: then only this one is served)."""
        return await self.link.count_servers(self.channels.request)

    # broadcasting

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        packet.nsp = self.nsp.name
        if not opts.flags.local:
            self.link.publish(
                self.channels.for_rooms(opts.rooms), encode_broadcast(self.uid, packet, opts)
            )
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        packet.nsp = self.nsp.name
        if not opts.flags.local:
            request_id = new_uid()
            message = {
                "uid": self.uid,
                "requestId": request_id,
                "type": int(RequestType.BROADCAST),
                "packet": encode_packet(packet),
                "opts": encode_opts(opts),
            }
            self.link.publish(self.channels.request, encode_msgpack(message))
            self._expect_broadcast_answers(request_id, opts, client_count_callback, ack)
        super().broadcast_with_ack(packet, opts, client_count_callback, ack)

    def _on_broadcast(self, channel: str, message: bytes) -> None:
        room = channel[len(self.channels.broadcast) : -1]
        if room and room not in self.registry.rooms and self.nsp.recovery_window is None:
            # none of our sockets is in that room: don't even decode (with recovery on, keep
            # it: a socket of that room that dropped may come back)
            return
        if message.startswith(self._own_prefix):
            return  # our own broadcast, back from Redis
        decoded = decode_broadcast(message)
        if decoded is None:
            logger.debug("ignored a malformed broadcast on %s", channel)
            return
        uid, packet, opts = decoded
        if uid == self.uid or packet.nsp != self.nsp.name:
            return
        MemoryAdapter.broadcast(self, packet, opts)

    # operations on selected sockets

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        local = await super().fetch_sockets(opts)
        if opts.flags.local:
            return local
        message = {
            "type": int(RequestType.REMOTE_FETCH),
            "opts": encode_opts(opts, with_flags=False),
        }
        return await self._ask(message, RequestType.REMOTE_FETCH, local, "fetch_sockets")

    async def all_rooms(self) -> set[str]:
        """The rooms of the namespace on every server."""
        local = list(self.registry.rooms)
        rooms = await self._ask({"type": int(RequestType.ALL_ROOMS)}, RequestType.ALL_ROOMS, local)
        return set(rooms)

    async def _ask(
        self, message: dict[str, Any], kind: RequestType, results: list[Any], what: str = ""
    ) -> list[Any]:
        expected = await self.server_count()
        if expected <= 1:
            return results
        request_id = new_uid()
        request = self._open_request(request_id, kind, expected, results, received=1)
        self.link.publish(
            self.channels.request,
            encode_json({"uid": self.uid, "requestId": request_id, **message}),
        )
        try:
            return await self._answers(request_id, request, self.requests_timeout)
        except TimeoutError:
            raise RequestTimeout(
                f"timeout reached while waiting for {what or kind.name.lower()} response",
                results,
            ) from None

    def add_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        super().add_sockets(opts, rooms)
        if not opts.flags.local:
            self._tell(RequestType.REMOTE_JOIN, opts, rooms=list(rooms))

    def del_sockets(self, opts: BroadcastOptions, rooms: Collection[str]) -> None:
        super().del_sockets(opts, rooms)
        if not opts.flags.local:
            self._tell(RequestType.REMOTE_LEAVE, opts, rooms=list(rooms))

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        super().disconnect_sockets(opts, close)
        if not opts.flags.local:
            self._tell(RequestType.REMOTE_DISCONNECT, opts, close=close)

    def _tell(self, kind: RequestType, opts: BroadcastOptions, **fields: Any) -> None:
        message = {
            "uid": self.uid,
            "type": int(kind),
            "opts": encode_opts(opts, with_flags=False),
            **fields,
        }
        self.link.publish(self.channels.request, encode_json(message))

    # server-side emits

    def server_side_emit(self, args: Sequence[Any]) -> None:
        message = {"uid": self.uid, "type": int(RequestType.SERVER_SIDE_EMIT), "data": list(args)}
        self.link.publish(self.channels.request, encode_json(message))

    async def server_side_emit_with_ack(
        self, args: Sequence[Any], timeout: float | None = None
    ) -> list[Any]:
        expected = await self.server_count() - 1  # not this one
        if expected <= 0:
            return []
        request_id = new_uid()
        request = self._open_request(request_id, RequestType.SERVER_SIDE_EMIT, expected, [])
        message = {
            "uid": self.uid,
            "requestId": request_id,
            "type": int(RequestType.SERVER_SIDE_EMIT),
            "data": list(args),
        }
        self.link.publish(self.channels.request, encode_json(message))
        try:
            return await self._answers(request_id, request, timeout or self.requests_timeout)
        except TimeoutError:
            raise RequestTimeout(
                f"timeout reached: only {len(request.results)} responses received out of "
                f"{expected}",
                list(request.results),
            ) from None

    # requests from other servers

    def _on_request(self, channel: str, message: bytes) -> None:
        request = _decode_dict(channel, message)
        if request is None:
            return
        kind = request.get("type")
        request_id = request.get("requestId")
        mine = request.get("uid") == self.uid
        if kind == RequestType.BROADCAST:
            if request_id not in self._ack_requests:
                self._answer_broadcast(request)
        elif mine:
            return  # joins, leaves, disconnects and emits of this server were done locally
        elif kind == RequestType.REMOTE_FETCH:
            opts = decode_opts(request.get("opts"))
            sockets = self._local_socket_details(opts)
            self._respond(request, encode_json({"requestId": request_id, "sockets": sockets}))
        elif kind == RequestType.SOCKETS:
            opts = BroadcastOptions(decode_opts({"rooms": request.get("rooms")}).rooms)
            sids = [s.id for s in MemoryAdapter._select(self, opts)]
            self._respond(request, encode_json({"requestId": request_id, "sockets": sids}))
        elif kind == RequestType.ALL_ROOMS:
            rooms = list(self.registry.rooms)
            self._respond(request, encode_json({"requestId": request_id, "rooms": rooms}))
        elif kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE):
            self._remote_rooms(request, join=kind == RequestType.REMOTE_JOIN)
        elif kind == RequestType.REMOTE_DISCONNECT:
            self._remote_disconnect(request)
        elif kind == RequestType.SERVER_SIDE_EMIT:
            self._server_side_event(request)

    def _respond(self, request: dict[str, Any], response: bytes) -> None:
        channel = self.channels.response
        uid = request.get("uid")
        if self.publish_on_specific_response_channel and isinstance(uid, str):
            channel = f"{channel}{uid}#"
        self.link.publish(channel, response)

    def _answer_broadcast(self, request: dict[str, Any]) -> None:
        packet = decode_packet(request.get("packet"))
        if packet is None:
            return
        request_id = request.get("requestId")
        opts = decode_opts(request.get("opts"))

        def client_count(count: int) -> None:
            response = {
                "type": int(RequestType.BROADCAST_CLIENT_COUNT),
                "requestId": request_id,
                "clientCount": count,
            }
            self._respond(request, encode_json(response))

        def ack(args: list[Any]) -> None:
            response: dict[str, Any] = {
                "type": int(RequestType.BROADCAST_ACK),
                "requestId": request_id,
            }
            if args:
                response["packet"] = args[0]
            self._respond(request, encode_msgpack(response))

        self._broadcast_for_remote(packet, opts, client_count, ack)

    def _remote_rooms(self, request: dict[str, Any], *, join: bool) -> None:
        if "opts" in request:
            rooms = strings(request.get("rooms"))
            opts = decode_opts(request.get("opts"))
            if join:
                MemoryAdapter.add_sockets(self, opts, rooms)
            else:
                MemoryAdapter.del_sockets(self, opts, rooms)
            return
        socket = self.nsp.sockets.get(str(request.get("sid")))  # the older one-socket form
        room = request.get("room")
        if socket is None or not isinstance(room, str):
            return
        socket.join(room) if join else socket.leave(room)
        self._respond(request, encode_json({"requestId": request.get("requestId")}))

    def _remote_disconnect(self, request: dict[str, Any]) -> None:
        close = bool(request.get("close"))
        if "opts" in request:
            MemoryAdapter.disconnect_sockets(self, decode_opts(request.get("opts")), close)
            return
        socket = self.nsp.sockets.get(str(request.get("sid")))
        if socket is None:
            return
        socket.disconnect(close)
        self._respond(request, encode_json({"requestId": request.get("requestId")}))

    def _server_side_event(self, request: dict[str, Any]) -> None:
        request_id = request.get("requestId")

        def respond(value: Any) -> None:
            response = {
                "type": int(RequestType.SERVER_SIDE_EMIT),
                "requestId": request_id,
                "data": value,
            }
            self.link.publish(self.channels.response, encode_json(response))

        self._receive_server_side_emit(request.get("data"), request_id, respond)

    # responses to this server's requests

    def _on_response(self, channel: str, message: bytes) -> None:
        response = _decode_dict(channel, message)
        if response is None:
            return
        request_id = response.get("requestId")
        if not isinstance(request_id, str):
            return
        kind = response.get("type")
        count, ack = kind == RequestType.BROADCAST_CLIENT_COUNT, kind == RequestType.BROADCAST_ACK
        if self._on_broadcast_answer(request_id, response, count=count, ack=ack):
            return
        request = self._pending(request_id)
        if request is None:
            return
        if request.kind is RequestType.REMOTE_FETCH:
            sockets = response.get("sockets")
            if not isinstance(sockets, list):
                return
            request.results.extend(remote_socket(s) for s in sockets if isinstance(s, dict))
        elif request.kind is RequestType.ALL_ROOMS:
            rooms = response.get("rooms")
            if not isinstance(rooms, list):
                return
            request.results.extend(rooms)
        elif request.kind is RequestType.SERVER_SIDE_EMIT:
            request.results.append(response.get("data"))
        else:
            return
        request.answered()


def _decode_dict(channel: str, message: bytes) -> dict[str, Any] | None:
    """A request or response (a JSON or msgpack map); None, logged, if it is not one."""
    try:
        decoded = decode(message)
    except Exception:
        decoded = None
    if not isinstance(decoded, dict):
        logger.debug("ignored a malformed message on %s", channel)
        return None
    return decoded
