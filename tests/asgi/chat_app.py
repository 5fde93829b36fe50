"""The chat (JWT, rooms, acks) with FastAPI under an ASGI server: ``ASGIApp(io,
other_asgi_app=api)``. FastAPI serves a REST route, and hands the chat's page and the client
script to the chat's own routes (``io.listener``, never started: only its routing is used)."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from roomcast.apps.chat import create_app
from roomcast.asgi import ASGIApp
from roomcast.engine.http import make_request
from tests.chat.tokens import SECRET

io = create_app(jwt_secret=SECRET)
api = FastAPI()


@api.get("/api/health")
async def health() -> dict[str, Any]:
    return {"ok": True}


@api.get("/{path:path}")
async def chat_files(request: Request) -> Response:
    url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    answer: Any = io.listener.handle(make_request("GET", url, dict(request.headers)))
    if inspect.isawaitable(answer):
        answer = await answer
    return Response(answer.body, answer.status, headers=dict(answer.headers))


app = ASGIApp(io, other_asgi_app=api)
