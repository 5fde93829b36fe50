"""Running user code: background tasks, handler calls and their ack answers.

Kept apart from the namespace and socket modules, which both use it, so that neither has to import
the other to call a handler.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from ..protocol.errors import ProtocolError

__all__ = ["NAMESPACE_EVENTS", "call_handler", "spawn", "takes_ack"]

logger = logging.getLogger("roomcast")

NAMESPACE_EVENTS = frozenset({"connect", "connection", "disconnecting", "disconnect"})
"""Events handled on the namespace itself, not sent by clients."""

_tasks: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``coro`` in the background, keeping a reference until it is done."""
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def takes_ack(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` declares a keyword-only ``ack`` parameter (it answers acks itself)."""
    try:
        param = inspect.signature(fn).parameters.get("ack")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind is inspect.Parameter.KEYWORD_ONLY


def call_handler(
    fn: Callable[..., Any],
    args: Sequence[Any],
    *,
    what: str,
    socket_id: str,
    ack: Callable[..., None] | None = None,
    pass_ack: bool = False,
) -> None:
    """Call a user handler, sync or async, never letting its exception escape.

    With ``ack``: if ``pass_ack`` the handler gets ``ack=`` to answer itself, otherwise its
    return value (awaited if need be) answers the ack.
    """
    try:
        result = fn(*args, ack=ack) if pass_ack and ack is not None else fn(*args)
    except Exception:
        logger.exception("%s handler failed (socket %s)", what, socket_id)
        return
    if result is not None and type(result) not in _PLAIN and inspect.isawaitable(result):
        spawn(_finish(result, what, socket_id, None if pass_ack else ack))
    elif ack is not None and not pass_ack:
        _answer(ack, result, what, socket_id)


_PLAIN = frozenset({str, int, float, bool, bytes, list, dict, tuple})
"""Types of handler results that are never awaitable (skips ``isawaitable``'s ABC check)."""


async def _finish(
    result: Awaitable[Any], what: str, socket_id: str, ack: Callable[..., None] | None
) -> None:
    try:
        value = await result
    except Exception:
        logger.exception("%s handler failed (socket %s)", what, socket_id)
        return
    if ack is not None:
        _answer(ack, value, what, socket_id)


def _answer(ack: Callable[..., None], value: Any, what: str, socket_id: str) -> None:
    """Answer the client's ack with a handler's return value; a value that cannot be sent (a
    :class:`~roomcast.protocol.errors.ProtocolError`, e.g. nested too deeply to encode) is logged
    in one line and the ack goes unanswered, as a handler's exception would leave it."""
    try:
        if value is None:  # the ack's arguments: none, a tuple's items, or the value alone
            ack()
        elif isinstance(value, tuple):
            ack(*value)
        else:
            ack(value)
    except ProtocolError as exc:
        logger.warning("%s handler's answer cannot be sent (socket %s): %s", what, socket_id, exc)
