"""Why a token was refused: one short, fixed reason, safe to send to the client."""

from __future__ import annotations

__all__ = [
    "INVALID_ALGORITHM",
    "INVALID_AUDIENCE",
    "INVALID_ISSUER",
    "INVALID_SIGNATURE",
    "JWT_EXPIRED",
    "JWT_MALFORMED",
    "JWT_NOT_ACTIVE",
    "MISSING_TOKEN",
    "REASONS",
    "TokenError",
    "missing_claim",
]

MISSING_TOKEN = "missing token"
JWT_EXPIRED = "jwt expired"
JWT_NOT_ACTIVE = "jwt not active"
INVALID_SIGNATURE = "invalid signature"
INVALID_ALGORITHM = "invalid algorithm"
INVALID_AUDIENCE = "invalid audience"
INVALID_ISSUER = "invalid issuer"
JWT_MALFORMED = "jwt malformed"


def missing_claim(claim: str) -> str:
    """The reason for a token without ``claim``, one that ``jwt_auth(require=...)`` asks for."""
    return f"jwt has no {claim}"


#: Every fixed reason a token can be refused for (plus :func:`missing_claim`'s, when claims are
#: required).
REASONS = frozenset(
    {
        MISSING_TOKEN,
        JWT_EXPIRED,
        JWT_NOT_ACTIVE,
        INVALID_SIGNATURE,
        INVALID_ALGORITHM,
        INVALID_AUDIENCE,
        INVALID_ISSUER,
        JWT_MALFORMED,
    }
)


class TokenError(Exception):
    """A token was refused; ``reason``, one of :data:`REASONS`, says nothing of the token or key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
