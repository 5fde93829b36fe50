"""A fast path that accepts plain HMAC-signed JWTs without going through PyJWT.

Why: in the chat handshake benchmark a quarter of the server's CPU went to checking the JWT, most
of it in PyJWT's ``decode``: the header is base64-decoded and parsed twice (once to pick the key,
once to verify), and ``HMACAlgorithm.prepare_key`` re-examines the secret on every call (PEM, SSH,
DER and JWK look-alike checks, a ``json.loads`` of the secret). Checking a chat token through
``jwt_auth`` makes 656 Python and C function calls with PyJWT, 73 here; ``timeit`` (noisy) gave
about 68 µs against 12-18 µs per handshake.

The rule this module lives by: it may only ACCEPT. :func:`verify_hmac` returns the claims of a
token that PyJWT would accept with the same arguments, or ``None`` whenever anything is unusual or
wrong (a header member other than ``alg``/``typ``/``kid``, base64 that is not canonical unpadded
base64url, a claim of a type or value it does not handle, a bad signature, an expired token...).
``None`` sends the token down the PyJWT path, which accepts it or gives the refusal reason exactly
as before. So this path can be stricter than PyJWT, never laxer: the refusal reasons all come from
PyJWT, and ``tests/chat/test_hmac_fast.py`` compares both paths on a large corpus of tokens.
"""

from __future__ import annotations

import binascii
import hmac
import json
import math
import time
from collections.abc import Collection, Iterable
from datetime import timedelta
from typing import Any

from roomcast.auth.keys import KeySet

__all__ = ["DIGESTS", "verify_hmac"]

#: The hash each HMAC algorithm uses, by the name ``hmac.digest`` takes.
DIGESTS = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}

_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})
_TO_BASE64 = bytes.maketrans(b"-_", b"+/")
_TO_BASE64URL = bytes.maketrans(b"+/", b"-_")


def verify_hmac(
    token: str,
    keys: KeySet,
    algorithms: Collection[str],
    *,
    audience: str | Iterable[str] | None = None,
    issuer: str | Collection[str] | None = None,
    leeway: float | timedelta = 0,
    require: Collection[str] = (),
) -> dict[str, Any] | None:
    """Return the claims of a valid HMAC-signed ``token``, or ``None`` to let PyJWT decide.

    The arguments are :func:`~roomcast.auth.verify.verify_token`'s. ``None`` never means the
    token is bad, only that this path does not vouch for it.
    """
    if not token.isascii():
        return None
    raw = token.encode("ascii")
    segments = raw.split(b".")
    if len(segments) != 3:
        return None
    header = _json_object(segments[0])
    if header is None or not header.keys() <= _HEADER_MEMBERS:
        return None
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str) or algorithm not in DIGESTS or algorithm not in algorithms:
        return None
    if "kid" in header and not isinstance(kid, str):
        return None
    secret = keys.hmac_secret(algorithm, kid)
    if secret is None:
        return None
    signing_input = raw.rpartition(b".")[0]
    mac = hmac.digest(secret, signing_input, DIGESTS[algorithm])
    expected = binascii.b2a_base64(mac, newline=False).translate(_TO_BASE64URL).rstrip(b"=")
    if not hmac.compare_digest(expected, segments[2]):
        return None
    claims = _json_object(segments[1])
    if claims is None or not _claims_ok(claims, audience, issuer, leeway, require, time.time()):
        return None
    return claims


def _json_object(segment: bytes) -> dict[str, Any] | None:
    """The JSON object a canonical, unpadded base64url segment holds, else ``None``."""
    try:
        data = binascii.a2b_base64(segment.translate(_TO_BASE64) + b"=" * (-len(segment) % 4))
    except binascii.Error:
        return None
    # The canonical encoding of what was decoded must be the segment itself: this refuses
    # padding, characters outside the base64url alphabet and non-zero trailing bits, which
    # the lenient decoder above lets through.
    if binascii.b2a_base64(data, newline=False).translate(_TO_BASE64URL).rstrip(b"=") != segment:
        return None
    try:
        # UTF-8 only: PyJWT also reads UTF-16/32 JSON, which this path leaves to it
        value = json.loads(data.decode())
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _claims_ok(
    claims: dict[str, Any],
    audience: object,
    issuer: object,
    leeway: float | timedelta,
    require: Collection[str],
    now: float,
) -> bool:
    """Whether PyJWT's claim checks pass for ``claims`` at ``now``; ``False`` when unsure."""
    if isinstance(leeway, timedelta):
        leeway = leeway.total_seconds()
    if type(leeway) not in (int, float):
        return False
    for claim in require:
        if claims.get(claim) is None:
            return False
    for claim in ("iat", "nbf"):
        if claim in claims:
            moment = _whole_seconds(claims[claim])
            if moment is None or moment > now + leeway:
                return False
    if "exp" in claims:
        expiry = _whole_seconds(claims["exp"])
        if expiry is None or expiry <= now - leeway:
            return False
    for claim in ("sub", "jti"):
        if claim in claims and not isinstance(claims[claim], str):
            return False
    if issuer is not None and not (isinstance(issuer, str) and claims.get("iss") == issuer):
        return False
    if audience is None:
        return "aud" not in claims
    if not isinstance(audience, str):
        return False
    granted = claims.get("aud")
    if not granted:
        return False
    if isinstance(granted, list) and all(isinstance(name, str) for name in granted):
        return audience in granted
    return isinstance(granted, str) and granted == audience


def _whole_seconds(value: object) -> int | None:
    """A NumericDate as PyJWT reads it (``int(value)``), for numbers only; else ``None``."""
    if type(value) is int:
        return value
    if type(value) is float and math.isfinite(value):
        return int(value)
    return None
