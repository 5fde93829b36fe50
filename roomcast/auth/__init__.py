"""JWT authentication at the Socket.IO handshake."""

from roomcast.auth.errors import REASONS, TokenError
from roomcast.auth.jwt import find_token, jwt_auth
from roomcast.auth.keys import KeySet
from roomcast.auth.verify import verify_token

__all__ = ["REASONS", "KeySet", "TokenError", "find_token", "jwt_auth", "verify_token"]
