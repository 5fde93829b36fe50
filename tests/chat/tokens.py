"""Hand-made tokens for the refusal tests, including ones PyJWT refuses to make."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt

SECRET = "a-test-secret-long-enough-for-every-hmac-algorithm-" + "x" * 16


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """Assemble a JWT by hand, signed with HMAC-SHA256 by ``hmac_key``, else unsigned."""
    return craft_raw(json.dumps(header).encode(), json.dumps(payload).encode(), hmac_key)


def craft_raw(header: bytes, payload: bytes, hmac_key: bytes | None = None) -> str:
    """Like :func:`craft`, with the header and payload bytes as given (they need not be JSON)."""
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    if hmac_key is None:
        return signing_input + "."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def user_token(
    user_id: str = "123", name: str = "John Doe", secret: str = SECRET, **claims: Any
) -> str:
    """A valid HS256 chat token, valid for an hour unless ``claims`` say otherwise."""
    payload = {"id": user_id, "name": name, "iat": int(time.time()), "exp": int(time.time()) + 3600}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")
