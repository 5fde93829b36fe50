"""roomcast: a fast, typed Socket.IO v4 server for Python."""

__version__ = "0.1.0"
