"""Check a JWT and return its claims, or say in a few fixed words why not. Pure: no I/O."""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable
from datetime import timedelta
from typing import Any

import jwt

from roomcast.auth.errors import (
    INVALID_ALGORITHM,
    INVALID_AUDIENCE,
    INVALID_ISSUER,
    INVALID_SIGNATURE,
    JWT_EXPIRED,
    JWT_MALFORMED,
    JWT_NOT_ACTIVE,
    MISSING_TOKEN,
    TokenError,
    missing_claim,
)
from roomcast.auth.hmac_fast import verify_hmac
from roomcast.auth.keys import KeySet

__all__ = ["verify_token"]

#: Whether :func:`verify_token` first tries :func:`~roomcast.auth.hmac_fast.verify_hmac` (which
#: only ever accepts). Always on; tests turn it off to compare with the PyJWT-only path.
FAST_HMAC = True

_CLAIM_REASONS = {"aud": INVALID_AUDIENCE, "iss": INVALID_ISSUER}
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, JWT_EXPIRED),
    (jwt.ImmatureSignatureError, JWT_NOT_ACTIVE),
    (jwt.InvalidAudienceError, INVALID_AUDIENCE),
    (jwt.InvalidIssuerError, INVALID_ISSUER),
    (jwt.InvalidSignatureError, INVALID_SIGNATURE),  # a DecodeError: before "malformed"
    (jwt.InvalidAlgorithmError, INVALID_ALGORITHM),
    (jwt.InvalidKeyError, INVALID_SIGNATURE),
)


def _reason(error: Exception, require: Collection[str]) -> str:
    """The refusal reason for what PyJWT raised; anything unexpected is ``jwt malformed``."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        if error.claim in require:
            return missing_claim(error.claim)
        return _CLAIM_REASONS.get(error.claim, JWT_MALFORMED)
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return JWT_MALFORMED


def verify_token(
    token: object,
    keys: KeySet,
    algorithms: Collection[str],
    *,
    audience: str | Iterable[str] | None = None,
    issuer: str | Collection[str] | None = None,
    leeway: float | timedelta = 0,
    require: Collection[str] = (),
) -> dict[str, Any]:
    """Verify ``token`` and return its claims; raise :class:`TokenError` with the reason otherwise.

    The token's ``alg`` must be one of ``algorithms`` and fit the type of the key it selects (so
    ``none`` and HS/RS confusion are ``invalid algorithm``). The signature is checked before any
    claim: ``exp`` and ``nbf``/``iat`` with ``leeway`` seconds, then ``aud`` (a token with an
    audience is refused when none is expected, as RFC 7519 asks) and ``iss``.
    """
    claims: dict[str, Any] | None
    if token is None or token == "":
        raise TokenError(MISSING_TOKEN)
    if not isinstance(token, str) or not token.isascii() or token.count(".") != 2:
        raise TokenError(JWT_MALFORMED)  # a JWS in compact form is base64url and dots only
    if FAST_HMAC:
        claims = verify_hmac(
            token,
            keys,
            algorithms,
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            require=require,
        )
        if claims is not None:
            return claims
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError(JWT_MALFORMED) from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str):
        raise TokenError(JWT_MALFORMED)
    if algorithm not in algorithms:
        raise TokenError(INVALID_ALGORITHM)
    key = keys.select(algorithm, header.get("kid"))
    try:
        with warnings.catch_warnings():
            # A short HMAC secret is reported once by jwt_auth, not on every connection.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                leeway=leeway,
                options={"require": list(require)},
            )
    except (jwt.PyJWTError, ValueError, TypeError) as error:
        raise TokenError(_reason(error, require)) from None
    return claims
