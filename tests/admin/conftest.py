"""Fixtures of the Admin UI tests: a password and its bcrypt hash, the Node admin client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from typing import Any

import bcrypt
import pytest

from tests.conftest import NODE_MODULES, ROOT

USERNAME = "admin"
PASSWORD = "s3cret-for-the-ui"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
"""The bcrypt hash of ``PASSWORD`` (4 rounds: the tests log in often)."""


async def admin_client(node: str, url: str, password: str = PASSWORD) -> dict[str, Any]:
    """Run tests/node/admin_client.js against ``url``; its JSON report."""
    process = await asyncio.create_subprocess_exec(
        node, str(ROOT / "tests" / "node" / "admin_client.js"), url, USERNAME, password,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "NODE_MODULES": str(NODE_MODULES)},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    report: dict[str, Any] = json.loads(out)
    return report


@pytest.fixture
def admin_hash() -> str:
    return HASH


from tests.redis.conftest import key, redis_server, servers  # noqa: E402 - the cluster fixtures

__all__ = ["key", "redis_server", "servers"]
