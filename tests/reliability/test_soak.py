"""A short soak: churn and room traffic on the chat; every due message arrives once, in order."""

from __future__ import annotations

from typing import Any

from roomcast.apps.chat import create_app
from tests.chat.tokens import SECRET

from .conftest import NodeClients, no_leftovers

CLIENTS = 200
SECONDS = 10


async def test_soak_churn_and_traffic(port: int, node: str) -> None:
    io = create_app(jwt_secret=SECRET)
    await io.listen("127.0.0.1", port)
    clients = await NodeClients.start(
        node,
        mode="soak",
        url=f"http://127.0.0.1:{port}",
        clients=CLIENTS,
        seconds=SECONDS,
        secret=SECRET,
        rate=2,
        rooms=CLIENTS // 10,
        life=[1, 4],
    )
    try:
        result: dict[str, Any] = await clients.result(timeout=SECONDS + 30)
    finally:
        await clients.stop()
    print(result)
    assert result["errors"] == [] and result["refused"] == 0
    assert result["connections"] > CLIENTS  # churn: users left and new ones came
    assert result["sent"] > 1000 and result["expected"] > 5000
    assert (result["lost"], result["duplicates"], result["outOfOrder"], result["unexpected"]) == (
        0,
        0,
        0,
        0,
    )
    await no_leftovers(io)
    await io.close()
