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
)
from roomcast.auth.keys import KeySet

__all__ = ["verify_token"]

_CLAIM_REASONS = {"aud": INVALID_AUDIENCE, "iss": INVALID_ISSUER}


def verify_token(
    token: object,
    keys: KeySet,
    algorithms: Collection[str],
    *,
    audience: str | Iterable[str] | None = None,
    issuer: str | Collection[str] | None = None,
    leeway: float | timedelta = 0,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims; raise :class:`TokenError` with the reason otherwise.

    The token's ``alg`` must be one of ``algorithms`` and fit the type of the key it selects (so
    ``none`` and HS/RS confusion are ``invalid algorithm``). The signature is checked before any
    claim: ``exp`` and ``nbf``/``iat`` with ``leeway`` seconds, then ``aud`` (a token with an
    audience is refused when none is expected, as RFC 7519 asks) and ``iss``.
    """
    if token is None or token == "":
        raise TokenError(MISSING_TOKEN)
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenError(JWT_MALFORMED)
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
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                leeway=leeway,
            )
    except jwt.ExpiredSignatureError:
        raise TokenError(JWT_EXPIRED) from None
    except jwt.ImmatureSignatureError:
        raise TokenError(JWT_NOT_ACTIVE) from None
    except jwt.InvalidAudienceError:
        raise TokenError(INVALID_AUDIENCE) from None
    except jwt.InvalidIssuerError:
        raise TokenError(INVALID_ISSUER) from None
    except jwt.MissingRequiredClaimError as error:
        raise TokenError(_CLAIM_REASONS.get(error.claim, JWT_MALFORMED)) from None
    except jwt.InvalidSignatureError:
        raise TokenError(INVALID_SIGNATURE) from None
    except jwt.InvalidAlgorithmError:
        raise TokenError(INVALID_ALGORITHM) from None
    except jwt.InvalidKeyError:
        raise TokenError(INVALID_SIGNATURE) from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise TokenError(JWT_MALFORMED) from None
    return claims
