"""The Admin UI's login: a user name and a bcrypt hash, and the session ids given out."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import bcrypt

from ..errors import ConnectionRefused

if TYPE_CHECKING:
    from ..socketio.socket import Socket

__all__ = ["INVALID_CREDENTIALS", "BasicAuth", "Sessions", "login_middleware"]

INVALID_CREDENTIALS = "invalid credentials"
"""The ``connect_error`` message of a refused login (the UI shows it)."""

_BCRYPT_HASH = re.compile(r"\$2[abxy]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """The one user allowed into the Admin UI: ``username`` and the bcrypt hash of the password
    (``$2b$10$...``, as ``bcrypt.hashpw`` or the UI's documentation make it).

    Raises ``ValueError`` if ``password_hash`` is not a bcrypt hash."""

    username: str
    password_hash: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _BCRYPT_HASH.fullmatch(self.password_hash):
            raise ValueError("the password hash must be a bcrypt hash ($2b$10$...)")

    def check(self, username: object, password: object) -> bool:
        """Whether ``username`` and ``password`` are this user's (bcrypt: slow on purpose)."""
        if username != self.username or not isinstance(password, str):
            return False
        try:
            return bcrypt.checkpw(password.encode(), self.password_hash.encode())
        except ValueError:  # e.g. a password over bcrypt's 72 bytes
            return False


class Sessions:
    """Session ids given to logged-in UIs, so that a reconnecting UI skips the password (kept
    in memory: a restart or another server of a cluster asks for the password again)."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def new(self) -> str:
        """A fresh session id (16 hex digits, as Node's admin UI server)."""
        session_id = os.urandom(8).hex()
        self._ids.add(session_id)
        return session_id

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._ids


def login_middleware(auth: BasicAuth, sessions: Sessions) -> Callable[[Socket], Awaitable[None]]:
    """The admin namespace's connect middleware: a known ``sessionId`` or the right
    ``username`` and ``password`` in the handshake's ``auth``; else ``invalid credentials``.
    A login by password gets a ``session`` event with a new session id."""

    async def login(socket: Socket) -> None:
        given = socket.handshake.auth
        if given.get("sessionId") in sessions:
            return
        username, password = given.get("username"), given.get("password")
        if await asyncio.to_thread(auth.check, username, password):
            socket.emit("session", sessions.new())
            return
        raise ConnectionRefused(INVALID_CREDENTIALS)

    return login
