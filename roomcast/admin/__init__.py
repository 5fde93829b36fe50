"""The Socket.IO Admin UI for roomcast: ``instrument(io, auth=BasicAuth(user, hash))`` serves
the server side of ``@socket.io/admin-ui`` 0.5, and :func:`serve_ui` its page.

Needs the ``admin`` extra (``bcrypt``).
"""

from .auth import INVALID_CREDENTIALS, BasicAuth
from .instrument import Admin, instrument
from .ui import serve_ui

__all__ = ["INVALID_CREDENTIALS", "Admin", "BasicAuth", "instrument", "serve_ui"]
