"""roomcast as an ASGI 3 application: mount a :class:`~roomcast.Server` in FastAPI,
Starlette, Litestar or Django, under uvicorn, hypercorn or granian.

The Engine.IO rules are the engine's (``roomcast.engine``); this package only drives them over
ASGI's ``receive``/``send``: :mod:`.http` (polling), :mod:`.websocket`, :mod:`.lifespan`, and
:mod:`.app` (routing). It imports no ASGI server or framework.
"""

from .app import ASGIApp

__all__ = ["ASGIApp"]
