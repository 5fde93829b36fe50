"""``jwt_auth``: a connect middleware that admits only sockets bearing a valid JWT."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping
from datetime import timedelta
from typing import Any, Protocol

from roomcast.auth.errors import JWT_MALFORMED, TokenError
from roomcast.auth.keys import KeySet, key_type_of
from roomcast.auth.verify import verify_token
from roomcast.errors import ConnectionRefused

__all__ = ["find_token", "jwt_auth"]

logger = logging.getLogger("roomcast.auth")

_MIN_SECRET = 32  # bytes: the output size of SHA-256 (RFC 7518, section 3.2)


class Handshake(Protocol):
    """What the middleware reads from a socket's handshake."""

    @property
    def auth(self) -> Any: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    @property
    def address(self) -> Any: ...


class AuthSocket(Protocol):
    """What the middleware needs of a socket: its handshake and its ``data`` dict."""

    @property
    def handshake(self) -> Handshake: ...
    @property
    def data(self) -> MutableMapping[str, Any]: ...


def find_token(handshake: Handshake) -> object:
    """Return the token a client sent, or ``None``.

    Looked up in this order: the handshake ``auth`` payload's ``token`` (``io({auth: {token}})``),
    the ``Authorization: Bearer <token>`` header, then the ``token`` query parameter. The query
    parameter is the weakest place: URLs end up in proxy and server logs, so prefer ``auth``.
    """
    auth = handshake.auth
    if isinstance(auth, Mapping) and auth.get("token") is not None:
        return auth["token"]
    scheme, _, credentials = handshake.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return handshake.query.get("token")


def jwt_auth(
    key: str | bytes | Mapping[str, Any],
    algorithms: str | Iterable[str],
    *,
    audience: str | Iterable[str] | None = None,
    issuer: str | Collection[str] | None = None,
    leeway: float | timedelta = 0,
    claims_key: str = "user",
    require: Iterable[str] = (),
) -> Callable[[AuthSocket], None]:
    """Return a connect middleware that admits sockets bearing a valid JWT.

    Use: ``io.use(jwt_auth(secret, ["HS256"]))``. ``key`` is an HMAC secret, a PEM public key
    (or certificate), or a JWKS dict (the token's ``kid`` picks the key). ``algorithms`` is
    required and never read from the token; ``none`` is refused, and so is an algorithm the key
    cannot serve (HMAC with a public key). ``require`` names claims a token must have, e.g.
    ``["exp"]`` to refuse tokens that never expire. The verified claims go to
    ``socket.data[claims_key]``. A refused socket gets ``connect_error`` with one of ``missing
    token``, ``jwt expired``, ``jwt not active``, ``invalid signature``, ``invalid algorithm``,
    ``invalid audience``, ``invalid issuer``, ``jwt malformed`` or ``jwt has no <claim>`` (a
    required one); it is logged once at info level, without the token.
    """
    allowed = _check_algorithms(algorithms)
    required = _check_require(require)
    keys = KeySet(key)
    needed = {key_type_of(name) for name in allowed}
    if not keys.is_jwks and needed != keys.key_types:
        # e.g. HS256 with a PEM public key: the algorithm confusion the refusals guard against
        raise ValueError(f"a {'/'.join(keys.key_types)} key cannot verify {sorted(allowed)}")
    if not needed & keys.key_types:
        raise ValueError(f"no key of the JWKS can verify {sorted(allowed)}")
    if isinstance(key, str | bytes) and keys.key_types == {"oct"} and len(_raw(key)) < _MIN_SECRET:
        logger.warning("the JWT secret is shorter than %d bytes: use a longer one", _MIN_SECRET)

    def authenticate(socket: AuthSocket) -> None:
        try:
            token = find_token(socket.handshake)
            claims = verify_token(
                token,
                keys,
                allowed,
                audience=audience,
                issuer=issuer,
                leeway=leeway,
                require=required,
            )
        except TokenError as error:
            reason = error.reason
        except Exception:  # a bug met by a hostile token: keep the trace here, not in the client
            peer = _peer(socket.handshake)
            logger.exception("connection refused: %s (unexpected, from %s)", JWT_MALFORMED, peer)
            raise ConnectionRefused(JWT_MALFORMED) from None
        else:
            socket.data[claims_key] = claims
            return
        logger.info("connection refused: %s (from %s)", reason, _peer(socket.handshake))
        raise ConnectionRefused(reason)

    return authenticate


def _check_algorithms(algorithms: str | Iterable[str]) -> frozenset[str]:
    names = frozenset([algorithms] if isinstance(algorithms, str) else algorithms)
    if not names:
        raise ValueError("jwt_auth needs the list of accepted algorithms, e.g. ['HS256']")
    for name in names:
        if name.lower() == "none":
            raise ValueError("the 'none' algorithm is never accepted")
        key_type_of(name)
    return names


def _check_require(require: Iterable[str]) -> tuple[str, ...]:
    if isinstance(require, str):
        raise TypeError(f"require is a list of claim names, e.g. [{require!r}]")
    names = tuple(require)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"require: not a claim name: {name!r}")
    return names


def _raw(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


def _peer(handshake: Handshake) -> str:
    address = handshake.address
    return str(address) if address else "unknown address"
