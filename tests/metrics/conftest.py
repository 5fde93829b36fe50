"""The chat tests' client fixture, shared."""

from tests.chat.conftest import clients

__all__ = ["clients"]
