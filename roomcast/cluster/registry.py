"""Servers of one cluster finding each other through Redis, and sids naming their owner.

Every server (a host's ``--workers`` share one) picks a random *node id* when it starts and
puts it at the start of every sid it makes, followed by the index of the worker that owns the
session (see :func:`cluster_prefix`). Any server can so tell from a sid alone which node and
worker own it; Redis only maps a node id to the address the node advertises
(``roomcast:node:<id>`` → ``host:port``), a key that the node refreshes while it runs and
deletes when it stops (it expires :data:`TTL` seconds after a crash). A node id is never reused,
so the address found for one never changes and is cached.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import logging
import secrets
import time

from redis import exceptions as redis_errors
from redis.asyncio import Redis

__all__ = [
    "KEY_PREFIX",
    "TTL",
    "Membership",
    "RegistryError",
    "cluster_prefix",
    "new_node_id",
    "owner_of",
]

logger = logging.getLogger("roomcast.cluster")

KEY_PREFIX = "roomcast:node:"
TTL = 10.0
"""Seconds a node's key lives without being refreshed (it is refreshed every third of it)."""
NEGATIVE_CACHE = 1.0
"""Seconds an unknown node id is remembered as unknown (Redis is not asked again before)."""
NODE_ID_LENGTH = 8
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAX_WORKERS = len(_ALPHABET)
_RANDOM_LENGTH = 24  # the engine's random part: 18 bytes in URL-safe base64
_MAX_CACHED = 10_000
_ERRORS = (redis_errors.RedisError, OSError, asyncio.TimeoutError)


class RegistryError(OSError):
    """This server could not register in the cluster registry (Redis) when it started."""


def new_node_id() -> str:
    """A fresh random node id: 8 URL-safe characters (48 bits)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(6)).decode()


def cluster_prefix(node_id: str, worker: int) -> str:
    """What worker ``worker`` of node ``node_id`` puts before its sids' random part."""
    if len(node_id) != NODE_ID_LENGTH or not 0 <= worker < MAX_WORKERS:
        raise ValueError(f"bad node id {node_id!r} or worker index {worker}")
    return node_id + _ALPHABET[worker]


def owner_of(sid: str) -> tuple[str, int] | None:
    """The node id and worker index a cluster sid names, or ``None`` if it is not one."""
    if len(sid) != NODE_ID_LENGTH + 1 + _RANDOM_LENGTH:
        return None
    worker = _ALPHABET.find(sid[NODE_ID_LENGTH])
    if worker < 0:
        return None
    return sid[:NODE_ID_LENGTH], worker


class Membership:
    """This node's entry in the Redis registry, and the addresses of the others.

    :meth:`start` registers ``address`` (``"host:port"``) under ``node_id`` and keeps it fresh;
    :meth:`lookup` answers another node's address (cached); :meth:`close` deregisters.
    """

    def __init__(self, url: str, node_id: str, address: str) -> None:
        self.node_id = node_id
        self.address = address
        self._redis = Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
        self._known: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._unknown: dict[str, float] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.node_id

    async def start(self) -> None:
        """Register (:class:`RegistryError` if Redis cannot be reached), keep the entry fresh."""
        try:
            await self._redis.set(self.key, self.address, px=int(TTL * 1000))
        except _ERRORS as exc:
            raise RegistryError(f"cannot join the cluster: Redis is unreachable: {exc}") from exc
        self._heartbeat = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(TTL / 3)
            try:
                await self._redis.set(self.key, self.address, px=int(TTL * 1000))
                if self._failing:
                    logger.warning("cluster registry reachable again")
                self._failing = False
            except _ERRORS as exc:
                if not self._failing:
                    logger.warning("cannot refresh this node in the cluster registry: %s", exc)
                self._failing = True

    async def lookup(self, node_id: str) -> str | None:
        """The ``host:port`` node ``node_id`` advertises, or ``None`` (unknown, or Redis down)."""
        address = self._known.get(node_id)
        if address is not None:
            return address
        now = time.monotonic()
        if self._unknown.get(node_id, 0.0) > now:
            return None
        try:
            raw = await self._redis.get(KEY_PREFIX + node_id)
        except _ERRORS as exc:
            logger.warning("cannot look up node %s in the cluster registry: %s", node_id, exc)
            raw = None
        if raw is None:
            if len(self._unknown) > _MAX_CACHED:
                self._unknown = {k: t for k, t in self._unknown.items() if t > now}
            self._unknown[node_id] = now + NEGATIVE_CACHE
            return None
        address = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._known[node_id] = address
        if len(self._known) > _MAX_CACHED:
            self._known.popitem(last=False)
        return address

    async def close(self) -> None:
        """Stop refreshing and delete this node's entry (if it is still ours)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        with contextlib.suppress(*_ERRORS):
            if await self._redis.get(self.key) == self.address.encode():
                await self._redis.delete(self.key)
        await self._redis.aclose()
