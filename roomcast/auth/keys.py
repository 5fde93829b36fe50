"""Verification keys for JWTs: an HMAC secret, a PEM public key, or a JWKS.

A key is bound to a key type (JWK ``kty``): ``oct`` for HMAC secrets, ``RSA``, ``EC`` or ``OKP``
for public keys. An algorithm is only ever checked with a key of its own type, so a token signed
with HS256 using a PEM public key as the HMAC secret can never verify ("algorithm confusion").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK, PyJWTError
from jwt.algorithms import HMACAlgorithm

from roomcast.auth.errors import INVALID_ALGORITHM, INVALID_SIGNATURE, TokenError

__all__ = ["ALGORITHMS", "Key", "KeySet", "key_type_of"]

#: The algorithms a token may be checked with, and the key type each needs. Never ``none``.
ALGORITHMS: Mapping[str, str] = {
    **{name: "oct" for name in ("HS256", "HS384", "HS512")},
    **{name: "RSA" for name in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    **{name: "EC" for name in ("ES256", "ES384", "ES512", "ES256K")},
    "EdDSA": "OKP",
}

_PEM = "-----BEGIN "
_HMAC = HMACAlgorithm(HMACAlgorithm.SHA256)  # prepare_key is the same for every hash


def key_type_of(algorithm: str) -> str:
    """Return the JWK key type an algorithm needs; ``ValueError`` if unknown (``none`` too)."""
    try:
        return ALGORITHMS[algorithm]
    except KeyError:
        raise ValueError(f"unsupported JWT algorithm {algorithm!r}") from None


@dataclass(frozen=True, slots=True)
class Key:
    """One verification key: its JWK key type and what PyJWT verifies with."""

    kty: str
    material: Any  # bytes (HMAC), a cryptography public key, or a JWK dict


class KeySet:
    """The keys a token may be verified with, chosen by the token's ``alg`` and ``kid``.

    ``key`` is an HMAC secret (``str`` or ``bytes``), a PEM public key or X.509 certificate
    (``str`` or ``bytes`` starting with ``-----BEGIN``), a JWKS (``{"keys": [...]}``) or a single
    JWK (``{"kty": ...}``). With a JWKS the token must name its key with ``kid``.
    """

    __slots__ = ("_by_kid", "_prepared", "_secrets", "_single")

    def __init__(self, key: str | bytes | Mapping[str, Any]) -> None:
        self._single: Key | None = None
        self._by_kid: dict[str, Key] = {}
        self._prepared: dict[tuple[str, str], PyJWK] = {}  # (kid, alg) -> key parsed once
        self._secrets: dict[tuple[str | None, str], bytes | None] = {}  # see hmac_secret
        if isinstance(key, Mapping):
            jwks = key.get("keys", [key])
            if not isinstance(jwks, list) or not jwks:
                raise ValueError("a JWKS needs a non-empty list of keys")
            for jwk in jwks:
                if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kty"), str):
                    raise ValueError("every JWK needs a 'kty'")
                if "d" in jwk:
                    raise ValueError("a JWK with private parts ('d'): pass public keys only")
                entry = Key(jwk["kty"], dict(jwk))
                if "keys" not in key and "kid" not in jwk:
                    self._single = entry
                elif not isinstance(jwk.get("kid"), str):
                    raise ValueError("every key of a JWKS needs a 'kid'")
                else:
                    self._by_kid[jwk["kid"]] = entry
        elif isinstance(key, str | bytes):
            raw = key.encode() if isinstance(key, str) else key
            if not raw:
                raise ValueError("the JWT key is empty")
            self._single = (
                _load_pem(raw) if raw.lstrip().startswith(_PEM.encode()) else Key("oct", raw)
            )
        else:
            raise TypeError("a JWT key is a str or bytes secret, a PEM public key, or a JWKS dict")

    @property
    def is_jwks(self) -> bool:
        """Whether keys are chosen by the token's ``kid``."""
        return self._single is None

    @property
    def key_types(self) -> frozenset[str]:
        """The key types present."""
        keys = [*self._by_kid.values(), *([self._single] if self._single else [])]
        return frozenset(key.kty for key in keys)

    def select(self, algorithm: str, kid: object) -> Any:
        """Return the key PyJWT checks a token of this ``alg`` and ``kid`` with (or TokenError)."""
        if self._single is not None:
            key = self._single
        elif isinstance(kid, str) and kid in self._by_kid:
            key = self._by_kid[kid]
        else:
            raise TokenError(INVALID_SIGNATURE)  # no key we trust can check this token
        if ALGORITHMS.get(algorithm) != key.kty:
            raise TokenError(INVALID_ALGORITHM)
        if not isinstance(key.material, dict):
            return key.material
        if key.material.get("alg", algorithm) != algorithm:
            raise TokenError(INVALID_ALGORITHM)
        # a single key is one entry whatever kid the token names: tokens must not grow the cache
        cache_key = ("" if self._single is not None else str(kid), algorithm)
        if cache_key not in self._prepared:
            try:
                self._prepared[cache_key] = PyJWK(key.material, algorithm)
            except PyJWTError:
                raise TokenError(INVALID_SIGNATURE) from None  # a JWK PyJWT cannot use
        return self._prepared[cache_key]

    def hmac_secret(self, algorithm: str, kid: str | None) -> bytes | None:
        """Return the HMAC secret :meth:`select` gives PyJWT for this ``alg`` and ``kid``, as the
        bytes PyJWT's ``HMACAlgorithm.prepare_key`` makes of it, prepared once.

        ``None`` when the token would not get a plain HMAC check (unknown ``kid``, a key of
        another type, a secret PyJWT refuses): the caller leaves such tokens to PyJWT. Only the
        keys we hold are remembered, so hostile ``kid`` values cannot grow the cache.
        """
        cache_key = (None if self._single is not None else kid, algorithm)
        if cache_key in self._secrets:
            return self._secrets[cache_key]
        if ALGORITHMS.get(algorithm) != "oct":
            return None
        try:
            material = self.select(algorithm, kid)
        except TokenError:
            return None
        raw = material.key if isinstance(material, PyJWK) else material
        try:
            secret: bytes | None = _HMAC.prepare_key(raw)
        except (PyJWTError, ValueError, TypeError):
            secret = None
        self._secrets[cache_key] = secret
        return secret


def _load_pem(data: bytes) -> Key:
    if b"PRIVATE KEY" in data:
        raise ValueError("a private key was given; pass the public key (or certificate) only")
    public = (
        x509.load_pem_x509_certificate(data).public_key()
        if b"CERTIFICATE" in data
        else load_pem_public_key(data)
    )
    if isinstance(public, rsa.RSAPublicKey):
        return Key("RSA", public)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return Key("EC", public)
    if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return Key("OKP", public)
    raise ValueError(f"unsupported public key type {type(public).__name__}")
