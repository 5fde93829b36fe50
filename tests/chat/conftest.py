"""Fixtures of the chat tests: RSA keys for the JWT tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class RsaPair:
    private_pem: bytes
    public_pem: bytes


def _pair() -> RsaPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return RsaPair(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


@pytest.fixture(scope="session")
def rsa_pair() -> RsaPair:
    """The server's RSA key pair."""
    return _pair()


@pytest.fixture(scope="session")
def other_rsa_pair() -> RsaPair:
    """An RSA key pair the server does not trust."""
    return _pair()
