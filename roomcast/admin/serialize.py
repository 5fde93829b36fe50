"""How the Admin UI wants a socket, a date and a socket's data written."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

__all__ = ["js_now", "serialize_data", "serialize_socket"]


def js_now() -> str:
    """Now as JavaScript's ``JSON.stringify(new Date())`` writes it (UTC, milliseconds)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def serialize_data(value: Any) -> Any:
    """``value`` as plain JSON values (anything else as its ``str``)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): serialize_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [serialize_data(v) for v in value]
    return str(value)


def serialize_socket(socket: Any, nsp: str) -> dict[str, Any]:
    """A local :class:`~roomcast.socketio.socket.Socket` or a
    :class:`~roomcast.socketio.broadcast.RemoteSocket` as the UI lists it. ``clientId`` and
    ``transport`` are known for local sockets only (as with Node for remote ones)."""
    handshake = socket.handshake
    headers = handshake.headers
    result: dict[str, Any] = {"id": socket.id}
    client = getattr(socket, "client", None)
    if client is not None:
        result["clientId"] = client.session.sid[:12]
        result["transport"] = client.session.transport_name
    address = headers.get("cf-connecting-ip") or headers.get("x-forwarded-for") or handshake.address
    result.update(
        nsp=nsp,
        data=serialize_data(socket.data),
        handshake={
            "address": address,
            "headers": dict(headers),
            "query": dict(handshake.query),
            "issued": handshake.issued,
            "secure": handshake.secure,
            "time": handshake.time,
            "url": handshake.url,
            "xdomain": handshake.xdomain,
        },
        rooms=list(socket.rooms),
    )
    return result
