"""verify_token and jwt_auth's set-up checks on crafted tokens: every refusal reason."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from roomcast.auth import KeySet, TokenError, find_token, jwt_auth, verify_token

from .conftest import RsaPair
from .tokens import SECRET, b64url, craft, craft_raw, user_token

HS = KeySet(SECRET)


def now() -> int:
    return int(time.time())


def refusal(
    token: object, keys: KeySet = HS, algorithms: tuple[str, ...] = ("HS256",), **kw: Any
) -> str:
    with pytest.raises(TokenError) as caught:
        verify_token(token, keys, algorithms, **kw)
    assert str(caught.value) == caught.value.reason  # the message is the reason and nothing more
    return caught.value.reason


def test_valid_hs256_token_gives_its_claims() -> None:
    claims = verify_token(user_token("7", "Ann"), HS, ["HS256"])
    assert (claims["id"], claims["name"]) == ("7", "Ann")


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_missing(token: object) -> None:
    assert refusal(token) == "missing token"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "a.b",
        12345,
        {"token": "x"},
        craft_raw(b"[1]", b"{}", SECRET.encode()),
        craft_raw(b"{not json", b"{}", SECRET.encode()),
        craft_raw(b'{"alg":"HS256"}', b"not json", SECRET.encode()),
        craft_raw(b'{"alg":"HS256"}', b"[1, 2]", SECRET.encode()),
        craft_raw(b'{"alg":"HS256"}', b'"a string"', SECRET.encode()),
        craft_raw(b'{"alg":"HS256"}', b"\xff\xfe", SECRET.encode()),
        craft({"alg": "HS256"}, {"exp": "tomorrow"}, SECRET.encode()),
        craft({"typ": "JWT"}, {"id": "1"}, SECRET.encode()),
    ],
)
def test_garbage_is_malformed(token: object) -> None:
    assert refusal(token) == "jwt malformed"


@pytest.mark.parametrize("bad", ["\udc80", "é", "\x00"])
def test_a_token_with_characters_outside_ascii_is_malformed(bad: str) -> None:
    header, payload, signature = user_token().split(".")
    assert refusal(f"{header}.{payload}{bad}.{signature}") == "jwt malformed"


def test_expired_token() -> None:
    token = user_token(exp=now() - 60)
    assert refusal(token) == "jwt expired"
    assert verify_token(token, HS, ["HS256"], leeway=120)["id"] == "123"


def test_token_not_yet_valid() -> None:
    assert refusal(user_token(nbf=now() + 600)) == "jwt not active"
    assert refusal(user_token(iat=now() + 600)) == "jwt not active"


def test_wrong_secret_and_tampered_payload_are_invalid_signatures() -> None:
    assert (
        refusal(user_token(secret="another-secret-that-is-also-long-enough!"))
        == "invalid signature"
    )
    header, _, signature = user_token().split(".")
    forged = b64url(json.dumps({"id": "1", "name": "admin"}).encode())
    assert refusal(f"{header}.{forged}.{signature}") == "invalid signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(alg: str) -> None:
    token = craft({"alg": alg, "typ": "JWT"}, {"id": "1", "name": "Eve"})
    assert refusal(token) == "invalid algorithm"


def test_algorithm_outside_the_list_is_refused() -> None:
    token = jwt.encode({"id": "1"}, SECRET, algorithm="HS512")
    assert refusal(token) == "invalid algorithm"
    assert verify_token(token, HS, ["HS256", "HS512"])["id"] == "1"


def test_hs256_signed_with_the_rsa_public_key_is_refused(rsa_pair: RsaPair) -> None:
    keys = KeySet(rsa_pair.public_pem)
    forged = craft({"alg": "HS256", "typ": "JWT"}, {"id": "1", "name": "Eve"}, rsa_pair.public_pem)
    assert refusal(forged, keys, ("RS256",)) == "invalid algorithm"
    # even a server that (wrongly) lists HS256 too never checks an HMAC with a public key
    assert refusal(forged, keys, ("RS256", "HS256")) == "invalid algorithm"


def test_rs256_with_pem_public_key(rsa_pair: RsaPair, other_rsa_pair: RsaPair) -> None:
    keys = KeySet(rsa_pair.public_pem)
    good = jwt.encode({"id": "9", "name": "Rui"}, rsa_pair.private_pem, algorithm="RS256")
    assert verify_token(good, keys, ["RS256"])["name"] == "Rui"
    bad = jwt.encode({"id": "9"}, other_rsa_pair.private_pem, algorithm="RS256")
    assert refusal(bad, keys, ("RS256",)) == "invalid signature"


def test_audience() -> None:
    assert verify_token(user_token(aud="chat"), HS, ["HS256"], audience="chat")["aud"] == "chat"
    assert refusal(user_token(aud="billing"), audience="chat") == "invalid audience"
    assert refusal(user_token(), audience="chat") == "invalid audience"
    assert refusal(user_token(aud="chat")) == "invalid audience"  # RFC 7519: unexpected audience


def test_issuer() -> None:
    assert verify_token(user_token(iss="me"), HS, ["HS256"], issuer="me")["iss"] == "me"
    assert refusal(user_token(iss="someone"), issuer="me") == "invalid issuer"
    assert refusal(user_token(), issuer="me") == "invalid issuer"


def jwk_of(pair: RsaPair, kid: str) -> dict[str, Any]:
    public = jwt.algorithms.RSAAlgorithm.from_jwk(
        RSAAlgorithm.to_jwk(RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(pair.public_pem))
    )
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public))
    jwk["kid"] = kid
    return jwk


def test_jwks_picks_the_key_by_kid(rsa_pair: RsaPair, other_rsa_pair: RsaPair) -> None:
    keys = KeySet({"keys": [jwk_of(rsa_pair, "a"), jwk_of(other_rsa_pair, "b")]})
    for kid, pair in (("a", rsa_pair), ("b", other_rsa_pair)):
        token = jwt.encode({"id": kid}, pair.private_pem, algorithm="RS256", headers={"kid": kid})
        assert verify_token(token, keys, ["RS256"])["id"] == kid
    swapped = jwt.encode({"id": "x"}, rsa_pair.private_pem, algorithm="RS256", headers={"kid": "b"})
    assert refusal(swapped, keys, ("RS256",)) == "invalid signature"
    unknown = jwt.encode({"id": "x"}, rsa_pair.private_pem, algorithm="RS256", headers={"kid": "z"})
    assert refusal(unknown, keys, ("RS256",)) == "invalid signature"
    no_kid = jwt.encode({"id": "x"}, rsa_pair.private_pem, algorithm="RS256")
    assert refusal(no_kid, keys, ("RS256",)) == "invalid signature"


def test_jwks_refuses_hmac_with_an_rsa_jwk(rsa_pair: RsaPair) -> None:
    jwk = jwk_of(rsa_pair, "a")
    keys = KeySet({"keys": [jwk, {"kty": "oct", "kid": "s", "k": b64url(SECRET.encode())}]})
    forged = craft({"alg": "HS256", "kid": "a"}, {"id": "1"}, rsa_pair.public_pem)
    assert refusal(forged, keys, ("RS256", "HS256")) == "invalid algorithm"
    hs = craft({"alg": "HS256", "kid": "s"}, {"id": "1"}, SECRET.encode())
    assert verify_token(hs, keys, ("RS256", "HS256"))["id"] == "1"


@pytest.mark.parametrize(
    ("key", "algorithms"),
    [
        (SECRET, []),
        (SECRET, ["none"]),
        (SECRET, ["HS256", "none"]),
        (SECRET, ["RS256"]),
        (SECRET, ["XY999"]),
        ("", ["HS256"]),
    ],
)
def test_jwt_auth_refuses_unsafe_setups(key: str, algorithms: list[str]) -> None:
    with pytest.raises(ValueError):
        jwt_auth(key, algorithms)


def test_jwt_auth_refuses_hmac_with_a_public_key(rsa_pair: RsaPair) -> None:
    with pytest.raises(ValueError):
        jwt_auth(rsa_pair.public_pem, ["RS256", "HS256"])
    with pytest.raises(ValueError):
        jwt_auth(rsa_pair.private_pem, ["RS256"])  # the server needs the public key only
    jwt_auth(rsa_pair.public_pem, ["RS256"])


@dataclass
class Handshake:
    auth: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    address: Any = None


def test_token_lookup_order() -> None:
    everywhere = Handshake(
        {"token": "from-auth"}, {"authorization": "Bearer from-header"}, {"token": "from-query"}
    )
    assert find_token(everywhere) == "from-auth"
    assert find_token(Handshake(None, everywhere.headers, everywhere.query)) == "from-header"
    assert find_token(Handshake({}, {"authorization": "bearer  t "}, {})) == "t"
    assert (
        find_token(Handshake({}, {"authorization": "Basic abc"}, everywhere.query)) == "from-query"
    )
    assert find_token(Handshake("not a dict", {}, {})) is None


def test_required_claims() -> None:
    forever = craft({"alg": "HS256"}, {"id": "1"}, SECRET.encode())
    assert verify_token(forever, HS, ["HS256"])["id"] == "1"  # nothing required by default
    assert refusal(forever, require=["exp"]) == "jwt has no exp"
    assert refusal(forever, require=["exp", "iat"]) in {"jwt has no exp", "jwt has no iat"}
    assert verify_token(user_token(), HS, ["HS256"], require=["exp", "iat"])["id"] == "123"
    with_null = craft({"alg": "HS256"}, {"id": "1", "exp": None}, SECRET.encode())
    assert refusal(with_null, require=["exp"]) == "jwt has no exp"
    as_text = craft({"alg": "HS256"}, {"id": "1", "exp": "tomorrow"}, SECRET.encode())
    assert refusal(as_text, require=["exp"]) == "jwt malformed"


@pytest.mark.parametrize("require", [[""], [3], "exp"])
def test_jwt_auth_refuses_a_bad_require_list(require: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        jwt_auth(SECRET, ["HS256"], require=require)


def test_a_single_jwk_is_prepared_once_whatever_kid_tokens_name() -> None:
    keys = KeySet({"kty": "oct", "k": b64url(SECRET.encode())})  # one JWK: the kid is not read
    for i in range(50):
        token = craft({"alg": "HS256", "kid": f"kid-{i}"}, {"id": str(i)}, SECRET.encode())
        assert verify_token(token, keys, ["HS256"])["id"] == str(i)
        wrong = craft({"alg": "HS256", "kid": f"other-{i}"}, {"id": str(i)}, b"not the secret")
        assert refusal(wrong, keys) == "invalid signature"
    assert len(keys._prepared) == 1  # hostile kids do not grow the server's memory
