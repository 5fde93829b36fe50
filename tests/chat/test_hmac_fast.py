"""The HMAC fast path of verify_token gives exactly the PyJWT-only path's outcome, and is taken.

Every comparison runs ``verify_token`` twice on the same token, with the fast path on and off
(``roomcast.auth.verify.FAST_HMAC``), and wants the same claims or the same refusal reason. Times
in the tokens are whole seconds away from the boundaries, or exactly on a boundary that cannot
move while the test runs (``exp == now`` stays expired), so both calls see the same verdict; the
exact ``<``/``<=`` semantics at a fixed ``now`` are compared separately with PyJWT's own
validators.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.api_jws import PyJWS

import roomcast.auth.verify as verify_module
from roomcast.auth import KeySet, TokenError, jwt_auth, verify_token
from roomcast.auth.hmac_fast import _claims_ok, _json_object, verify_hmac

from .tokens import SECRET, b64url, craft, craft_raw, user_token

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
OTHER = "another-secret-long-enough-for-hmac-" + "y" * 32
HS = KeySet(SECRET)
JWKS = KeySet(
    {
        "keys": [
            {"kty": "oct", "kid": "a", "k": b64url(SECRET.encode())},
            {"kty": "oct", "kid": "b", "k": b64url(OTHER.encode()), "alg": "HS512"},
        ]
    }
)
LOOKALIKE = '{"kty": "oct", "k": "' + "z" * 40 + '"}'  # PyJWT refuses it as an HMAC secret
JWK_LOOKALIKE = KeySet(LOOKALIKE)
ALL_HS = ("HS256", "HS384", "HS512")


def outcome(token: object, fast: bool, keys: KeySet = HS, **kw: Any) -> tuple[str, str]:
    """``("ok", claims as JSON)`` or ``("refused", reason)`` for one path."""
    kw.setdefault("algorithms", ("HS256",))
    verify_module.FAST_HMAC = fast
    try:
        claims = verify_token(token, keys, kw.pop("algorithms"), **kw)
    except TokenError as error:
        return ("refused", error.reason)
    finally:
        verify_module.FAST_HMAC = True
    return ("ok", json.dumps(claims, sort_keys=True))


def same(token: object, keys: KeySet = HS, **kw: Any) -> tuple[str, str]:
    """Assert both paths agree on ``token``; return the outcome."""
    fast = outcome(token, True, keys, **dict(kw))
    assert fast == outcome(token, False, keys, **dict(kw)), token
    return fast


def now() -> int:
    return int(time.time())


def hs(payload: dict[str, Any], header: dict[str, Any] | None = None, key: str = SECRET) -> str:
    """A token signed by PyJWT, ``alg`` from ``header`` (HS256 by default)."""
    header = {"alg": "HS256", **(header or {})}
    return jwt.encode(payload, key, algorithm=header["alg"], headers=header)


def resign(header: bytes, payload: bytes, key: str = SECRET) -> str:
    return craft_raw(header, payload, key.encode())


def signed(h: str, p: str) -> str:
    """A token of these exact header and payload segments, with a valid HS256 signature."""
    return resign_as(h, p, "HS256", SECRET)


def resign_as(h: str, p: str, alg: str, key: str) -> str:
    digest = hmac.digest(key.encode(), f"{h}.{p}".encode(), getattr(hashlib, "sha" + alg[2:]))
    return f"{h}.{p}.{b64url(digest)}"


def segments(token: str) -> list[str]:
    return token.split(".")


def edited(token: str, index: int, text: str) -> str:
    parts = segments(token)
    parts[index] = text
    return ".".join(parts)


def hand_written() -> Iterator[tuple[str, object, dict[str, Any]]]:
    """(name, token, verify_token keyword arguments)."""
    t = now()
    good = user_token()
    h, p, s = segments(good)
    yield "valid", good, {}
    yield "valid-require", good, {"require": ["exp", "iat", "id"]}
    yield "valid-hs384-allowed", hs({"id": "1"}, {"alg": "HS384"}), {"algorithms": ALL_HS}
    yield "valid-hs512-allowed", hs({"id": "1"}, {"alg": "HS512"}), {"algorithms": ALL_HS}
    yield "hs384-not-allowed", hs({"id": "1"}, {"alg": "HS384"}), {}
    yield "alg-none", craft({"alg": "none"}, {"id": "1"}), {}
    yield "alg-none-signed", craft({"alg": "none"}, {"id": "1"}, SECRET.encode()), {}
    yield "alg-missing", craft({"typ": "JWT"}, {"id": "1"}, SECRET.encode()), {}
    yield "alg-list", craft({"alg": ["HS256"]}, {"id": "1"}, SECRET.encode()), {}
    yield "alg-lowercase", craft({"alg": "hs256"}, {"id": "1"}, SECRET.encode()), {}
    yield "rs256-with-hmac-key", craft({"alg": "RS256"}, {"id": "1"}, SECRET.encode()), {}
    rs = craft({"alg": "RS256"}, {"id": "1"}, SECRET.encode())
    yield "rs256-allowed-with-hmac-key", rs, {"algorithms": ("HS256", "RS256")}
    yield "tampered-signature", edited(good, 2, s[:-2] + ("AA" if s[-2:] != "AA" else "BA")), {}
    yield "signature-other-key", user_token(secret=OTHER), {}
    forged = b64url(json.dumps({"id": "1", "name": "admin", "exp": t + 600}).encode())
    yield "tampered-payload", edited(good, 1, forged), {}
    yield "tampered-header", edited(good, 0, b64url(b'{"alg":"HS256","typ":"JWS"}')), {}
    yield "empty-signature", edited(good, 2, ""), {}
    yield "empty-payload", resign(b'{"alg":"HS256"}', b""), {}
    yield "empty-header", resign(b"", b'{"id":"1"}'), {}
    yield "all-empty", "..", {}
    for typ in ("JWT", "jwt", "at+jwt", "", None, 7, ["JWT"]):
        yield f"typ-{typ!r}", hs({"id": "1"}, {"typ": typ}), {}
    yield "no-typ", craft({"alg": "HS256"}, {"id": "1"}, SECRET.encode()), {}
    yield "crit-b64", craft({"alg": "HS256", "crit": ["b64"], "b64": True}, {"id": "1"}, b"k"), {}
    crit = {"alg": "HS256", "crit": ["b64"], "b64": True}
    yield "crit-b64-signed", craft(crit, {"id": "1"}, SECRET.encode()), {}
    yield "crit-unknown", craft({"alg": "HS256", "crit": ["x"], "x": 1}, {}, SECRET.encode()), {}
    yield "b64-false", craft({"alg": "HS256", "b64": False}, {"id": "1"}, SECRET.encode()), {}
    yield "extra-header", craft({"alg": "HS256", "jku": "http://x"}, {"id": "1"}, b"k"), {}
    extra = craft({"alg": "HS256", "cty": "JWT"}, {"id": "1"}, SECRET.encode())
    yield "extra-header-signed", extra, {}
    yield "kid-ignored-by-a-single-key", hs({"id": "1"}, {"kid": "whatever"}), {}
    yield "kid-not-a-string", craft({"alg": "HS256", "kid": 3}, {"id": "1"}, SECRET.encode()), {}
    yield "kid-null", craft({"alg": "HS256", "kid": None}, {"id": "1"}, SECRET.encode()), {}
    # claims
    for name, value in (
        ("past", t - 60),
        ("now", t),
        ("future", t + 600),
        ("string", str(t + 600)),
        ("bad-string", "tomorrow"),
        ("bool", True),
        ("float-past", t - 0.5),
        ("float-now", t + 0.5),
        ("float-future", t + 600.25),
        ("huge", 10**40),
        ("huge-float", 1e300),
        ("negative", -(10**40)),
        ("null", None),
        ("list", [t + 600]),
    ):
        yield f"exp-{name}", user_token(exp=value), {}
        yield f"exp-{name}-required", user_token(exp=value), {"require": ["exp"]}
        yield f"nbf-{name}", user_token(nbf=value), {}
        yield f"iat-{name}", user_token(iat=value), {}
    yield "exp-infinite", resign(b'{"alg":"HS256"}', b'{"exp": Infinity}'), {}
    yield "exp-nan", resign(b'{"alg":"HS256"}', b'{"exp": NaN}'), {}
    yield "exp-1e400", resign(b'{"alg":"HS256"}', b'{"exp": 1e400}'), {}
    yield "exp-past-within-leeway", user_token(exp=t - 60), {"leeway": 120}
    yield "exp-at-leeway-boundary", user_token(exp=t - 60), {"leeway": 60}
    yield "exp-at-leeway-timedelta", user_token(exp=t - 60), {"leeway": timedelta(seconds=60)}
    yield "exp-past-leeway-timedelta", user_token(exp=t - 60), {"leeway": timedelta(minutes=5)}
    yield "nbf-within-leeway", user_token(nbf=t + 60), {"leeway": 60}
    yield "iat-within-leeway", user_token(iat=t + 60), {"leeway": 60.0}
    yield "iat-past-leeway", user_token(iat=t + 600), {"leeway": 60}
    yield "negative-leeway", user_token(exp=t + 30), {"leeway": -60}
    yield "sub-string", user_token(sub="u"), {}
    yield "sub-number", user_token(sub=1), {}
    yield "jti-number", user_token(jti=1), {}
    yield "aud-unexpected", user_token(aud="chat"), {}
    yield "aud-empty-unexpected", user_token(aud=""), {}
    yield "aud-null-unexpected", user_token(aud=None), {}
    yield "aud-expected", user_token(aud="chat"), {"audience": "chat"}
    yield "aud-list", user_token(aud=["x", "chat"]), {"audience": "chat"}
    yield "aud-list-of-numbers", user_token(aud=["chat", 1]), {"audience": "chat"}
    yield "aud-other", user_token(aud="billing"), {"audience": "chat"}
    yield "aud-missing", user_token(), {"audience": "chat"}
    yield "aud-empty-expected-empty", user_token(aud=""), {"audience": ""}
    yield "aud-expected-list", user_token(aud="chat"), {"audience": ["a", "chat"]}
    yield "aud-number", user_token(aud=5), {"audience": "chat"}
    yield "iss-expected", user_token(iss="me"), {"issuer": "me"}
    yield "iss-other", user_token(iss="you"), {"issuer": "me"}
    yield "iss-missing", user_token(), {"issuer": "me"}
    yield "iss-number", craft({"alg": "HS256"}, {"iss": 1}, SECRET.encode()), {"issuer": "1"}
    yield "iss-in-a-list", user_token(iss="me"), {"issuer": ["you", "me"]}
    yield "iss-unchecked", user_token(iss="whoever"), {}
    yield "required-missing", hs({"id": "1"}), {"require": ["exp"]}
    yield "required-null", hs({"id": "1", "exp": None}), {"require": ["exp"]}
    yield "required-custom", hs({"id": "1"}), {"require": ["role"]}
    # payloads that are not objects
    for name, raw in (
        ("list", b"[1, 2]"),
        ("string", b'"text"'),
        ("number", b"42"),
        ("null", b"null"),
        ("invalid", b"{not json"),
        ("trailing", b'{"id": "1"} x'),
        ("utf16", '{"id": "1"}'.encode("utf-16")),
        ("utf8-bom", b'\xef\xbb\xbf{"id": "1"}'),
        ("latin1", b'{"id": "\xe9"}'),
        ("deep", b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("duplicate", b'{"id": "1", "id": "2"}'),
        ("non-ascii", '{"name": "Zoë ✓ 🙂"}'.encode()),
    ):
        yield f"payload-{name}", resign(b'{"alg":"HS256"}', raw), {}
    for name, raw in (
        ("list", b'["HS256"]'),
        ("invalid", b'{"alg": HS256}'),
        ("utf16", '{"alg": "HS256"}'.encode("utf-16")),
        ("duplicate-alg", b'{"alg": "none", "alg": "HS256"}'),
    ):
        yield f"header-{name}", resign(raw, b'{"id": "1"}'), {}
    # base64 variants of a valid token
    yield "padded-header", edited(good, 0, h + "=" * (-len(h) % 4)), {}
    yield "padded-signature", edited(good, 2, s + "="), {}
    yield "too-much-padding", edited(good, 2, s + "==="), {}
    yield "standard-alphabet", good.replace("-", "+").replace("_", "/"), {}
    yield "whitespace", edited(good, 1, p[:10] + " " + p[10:]), {}
    yield "newline", good + "\n", {}
    yield "leading-space", " " + good, {}
    yield "non-ascii", edited(good, 1, p + "é"), {}
    yield "surrogate", edited(good, 1, p + "\udc80"), {}
    yield "length-1-mod-4", edited(good, 1, p + "A" * ((1 - len(p)) % 4)), {}
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, part in enumerate((h, p, s)):
        if len(part) % 4:
            # same bytes, one of the unused trailing bits set: PyJWT refuses that
            bits = 0x0F if len(part) % 4 == 2 else 0x03
            last = alphabet[alphabet.index(part[-1]) | (1 & bits)]
            if last != part[-1]:
                yield f"non-canonical-{index}", edited(good, index, part[:-1] + last), {}
    # the same variants with a valid signature over them: the text signed is what is checked
    tricky = resign(b'{"alg":"HS256"}', json.dumps({"id": "1", "name": "???>>>~~"}).encode())
    _, tp, _ = segments(tricky)
    assert "_" in tp and "-" in tp
    yield "tricky-valid", tricky, {}
    for name, header, payload in (
        ("padded-header", h + "=" * (-len(h) % 4), p),
        ("padded-payload", h, tp + "=" * (-len(tp) % 4)),
        ("standard-alphabet", h, tp.replace("-", "+").replace("_", "/")),
        ("whitespace", h, tp[:10] + " " + tp[10:]),
        ("tab", h, tp[:10] + "\t" + tp[10:]),
        ("padding-inside", h, tp[:8] + "=" + tp[8:]),
        ("junk-char", h, tp[:10] + "!" + tp[10:]),
        ("length-1-mod-4", h, tp + "A" * ((1 - len(tp)) % 4)),
        ("empty-payload", h, ""),
    ):
        yield f"signed-{name}", signed(header, payload), {}
    for extra in range(3):  # payload segments of every length modulo 4
        body = resign(b'{"alg":"HS256"}', json.dumps({"id": "1", "n": "x" * extra}).encode())
        bp = segments(body)[1]
        for pad in ("=", "==", "==="):
            yield f"signed-padding-{len(bp) % 4}-{len(pad)}", signed(h, bp + pad), {}
    for index, part in enumerate((h, tp)):
        if len(part) % 4:
            bits = 0x0F if len(part) % 4 == 2 else 0x03
            for flip in (1, bits):
                last = alphabet[alphabet.index(part[-1]) | flip]
                parts = [h, tp]
                parts[index] = part[:-1] + last
                yield f"signed-non-canonical-{index}-{flip}", signed(*parts), {}
    yield "four-segments", good + ".x", {}
    yield "two-segments", h + "." + p, {}
    yield "not-a-string", good.encode(), {}


CASES = list(hand_written())


@pytest.mark.parametrize(("token", "kw"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_hand_written_cases_agree(token: object, kw: dict[str, Any]) -> None:
    same(token, **kw)


def test_hand_written_corpus_has_both_outcomes() -> None:
    verdicts = {same(token, **kw)[0] for _, token, kw in CASES}
    assert verdicts == {"ok", "refused"}


def test_jwks_of_oct_keys() -> None:
    for kid, key, alg in (("a", SECRET, "HS256"), ("b", OTHER, "HS512")):
        token = hs({"id": kid}, {"alg": alg, "kid": kid}, key)
        assert same(token, JWKS, algorithms=ALL_HS)[0] == "ok"
        assert verify_hmac(token, JWKS, ALL_HS) is not None
    swapped = hs({"id": "x"}, {"kid": "b"}, SECRET)
    wrong_alg = hs({"id": "x"}, {"alg": "HS256", "kid": "b"}, OTHER)  # the JWK says HS512
    unknown = hs({"id": "x"}, {"kid": "zz"})
    no_kid = hs({"id": "x"})
    for token in (swapped, wrong_alg, unknown, no_kid):
        assert same(token, JWKS, algorithms=ALL_HS)[0] == "refused"
    for i in range(50):  # kids we do not hold are never remembered
        verify_hmac(hs({"id": "x"}, {"kid": f"unknown-{i}"}), JWKS, ALL_HS)
    assert len(JWKS._secrets) <= 6


def test_a_secret_pyjwt_refuses_is_never_used() -> None:
    token = craft({"alg": "HS256"}, {"id": "1"}, LOOKALIKE.encode())
    assert same(token, JWK_LOOKALIKE) == ("refused", "invalid signature")
    assert JWK_LOOKALIKE.hmac_secret("HS256", None) is None


# -- the Hypothesis property: random headers, payloads, options and mutations ------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_values = json_scalars | st.floats(allow_nan=False) | st.lists(json_scalars, max_size=3)
OFFSETS = st.sampled_from([-(10**6), -3600, -60, 0, 60, 3600, 10**6])


@st.composite
def times(draw: st.DrawFn) -> Any:
    """An offset from now (applied in the test), or a value of another type."""
    kind = draw(st.sampled_from(["int", "float", "str", "other"]))
    offset = draw(OFFSETS)
    if kind == "int":
        return ("offset", offset, 0.0)
    if kind == "float":
        return ("offset", offset, draw(st.sampled_from([0.25, 0.5, 0.999])))
    if kind == "str":
        return ("text", offset, 0.0)
    return ("value", draw(json_values), 0.0)


def resolve(spec: Any, t: int) -> Any:
    kind, value, fraction = spec
    if kind == "offset":
        return t + value + fraction if fraction else t + value
    if kind == "text":
        return str(t + value)
    return value


plain_headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["HS256", "HS256", "HS384", "HS512"])},
    optional={"typ": st.just("JWT")},
)
hostile_headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["HS256", "HS384", "HS512", "none", "RS256", "hs256"]) | json_values},
    optional={
        "typ": st.sampled_from(["JWT", "at+jwt", ""]) | json_values,
        "kid": st.sampled_from(["a", "b", "zz"]) | json_values,
        "crit": st.just(["b64"]) | st.lists(st.text(max_size=3), max_size=2),
        "b64": st.booleans(),
        "cty": st.just("JWT"),
    },
)
headers = plain_headers | hostile_headers
FUTURE = ("offset", 3600, 0.0)
plain_payloads = st.fixed_dictionaries(
    {"id": st.text(max_size=4), "exp": st.just(FUTURE)},
    optional={"iat": st.just(("offset", 0, 0.0)), "name": st.text(max_size=8)},
)
hostile_payloads = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "exp": times(),
        "nbf": times(),
        "iat": times(),
        "aud": st.sampled_from(["chat", "x", ""]) | st.lists(st.sampled_from(["chat", "x"])),
        "iss": st.sampled_from(["me", "you"]) | json_values,
        "sub": json_values,
        "jti": json_values,
    },
)
hostile_options = st.fixed_dictionaries(
    {},
    optional={
        "algorithms": st.sampled_from([("HS256",), ALL_HS, ("HS256", "RS256")]),
        "audience": st.sampled_from(["chat", "", ("chat", "x")]),
        "issuer": st.sampled_from(["me", ("me",)]),
        "leeway": st.sampled_from([0, 30, 60.0, 120, -60, timedelta(seconds=60)]),
        "require": st.lists(st.sampled_from(["exp", "iat", "nbf", "id", "aud"]), max_size=2),
    },
)
payloads = plain_payloads | hostile_payloads
options = st.just({}) | st.just({"require": ["exp"]}) | hostile_options
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
mutations = st.one_of(
    st.just(("none",)),
    st.just(("none",)),
    st.just(("none",)),
    st.tuples(st.just("flip"), st.integers(0, 2), st.integers(0, 10**6), st.integers(1, 63)),
    st.tuples(st.just("pad"), st.integers(0, 2), st.integers(1, 3)),
    st.tuples(st.just("insert"), st.integers(0, 2), st.integers(0, 10**6), st.text(max_size=2)),
    st.tuples(st.just("truncate"), st.integers(0, 2), st.integers(1, 3)),
    st.tuples(st.just("swap-segments"), st.integers(0, 2), st.integers(0, 2)),
)


def mutate(token: str, mutation: tuple[Any, ...]) -> str:
    parts = token.split(".")
    match mutation:
        case ("flip", index, at, shift):
            if parts[index]:
                at %= len(parts[index])
                char = ALPHABET[(ALPHABET.index(parts[index][at]) + shift) % 64]
                parts[index] = parts[index][:at] + char + parts[index][at + 1 :]
        case ("pad", index, count):
            parts[index] += "=" * count
        case ("insert", index, at, text):
            at %= len(parts[index]) + 1
            parts[index] = parts[index][:at] + text + parts[index][at:]
        case ("truncate", index, count):
            parts[index] = parts[index][:-count]
        case ("swap-segments", a, b):
            parts[a], parts[b] = parts[b], parts[a]
    return ".".join(parts)


SIGNINGS = st.sampled_from([("hs", SECRET, None), ("hs", OTHER, None), ("jwks", SECRET, "a")])
SIGNINGS |= st.sampled_from([("jwks", OTHER, "b"), ("jwks", SECRET, "b")])


@SETTINGS
@given(headers, payloads, options, mutations, SIGNINGS, st.booleans())
def test_random_tokens_agree(
    header: dict[str, Any],
    payload: dict[str, Any],
    kw: dict[str, Any],
    mutation: tuple[Any, ...],
    signing: tuple[str, str, str | None],
    sign_after: bool,
) -> None:
    """Random tokens, mutated after signing or (a mutated header or payload) signed after."""
    token = build(header, payload, mutation, signing)
    if sign_after and header["alg"] in ALL_HS and token.count(".") == 2:
        h, p, _ = token.split(".")
        token = resign_as(h, p, header["alg"], signing[1])
    same(token, JWKS if signing[0] == "jwks" else HS, **kw)


@SETTINGS
@given(plain_headers, plain_payloads, st.sampled_from([("none",), ("flip", 2, 0, 1)]), SIGNINGS)
def test_mostly_valid_tokens_agree(
    header: dict[str, Any],
    payload: dict[str, Any],
    mutation: tuple[Any, ...],
    signing: tuple[str, str, str | None],
) -> None:
    """The same on tokens PyJWT mostly accepts: the fast path must accept them too."""
    keys = JWKS if signing[0] == "jwks" else HS
    token = build(header, payload, mutation, signing)
    verdict = same(token, keys, algorithms=ALL_HS, require=["exp"])
    if verdict[0] == "ok":
        assert verify_hmac(token, keys, ALL_HS, require=["exp"]) is not None


def build(
    header: dict[str, Any],
    payload: dict[str, Any],
    mutation: tuple[Any, ...],
    signing: tuple[str, str, str | None],
) -> str:
    """A token of ``header`` and ``payload`` (times resolved from now), signed, then mutated."""
    _, signer, kid = signing
    if kid is not None:
        header = {"kid": kid, **header}
    t = now()
    claims = {
        name: resolve(value, t) if name in ("exp", "nbf", "iat") else value
        for name, value in payload.items()
    }
    token = craft_raw(
        json.dumps(header).encode(), json.dumps(claims).encode(), hmac_key=signer.encode()
    )
    if header["alg"] in ALL_HS:  # sign as the header says
        h, p, _ = token.split(".")
        token = resign_as(h, p, header["alg"], signer)
    return mutate(token, mutation)


@SETTINGS
@given(st.text(alphabet=ALPHABET + "=+/ .\n\xe9", max_size=60))
def test_random_strings_agree(text: str) -> None:
    same(text)
    same(user_token().rsplit(".", 1)[0] + "." + text)


def pyjwt_segment(segment: bytes) -> Any:
    """What PyJWT makes of a header or payload segment: a JSON value, or None if it refuses."""
    try:
        return json.loads(PyJWS._decode_base64url_segment(segment, "payload"))
    except (jwt.DecodeError, ValueError, RecursionError):
        return None


@SETTINGS
@given(
    st.dictionaries(st.text(max_size=3), json_values, max_size=3),
    st.text(alphabet=ALPHABET + "=+/ \n!.é", max_size=3),
    st.integers(0, 1000),
    st.integers(0, 3),
    st.sampled_from(["", "=", "==", "==="]),
)
def test_segment_decoding_is_never_laxer(
    value: dict[str, Any], text: str, at: int, cut: int, padding: str
) -> None:
    """A segment the fast path reads as an object, PyJWT reads as the same object."""
    segment = b64url(json.dumps(value).encode())
    at %= len(segment) + 1
    edited = (segment[:at] + text + segment[at + cut :] + padding).encode()
    fast = _json_object(edited)
    if fast is not None:
        assert json.dumps(fast) == json.dumps(pyjwt_segment(edited)), edited
    if edited == segment.encode():
        assert fast == value


# -- the time checks at an exact, fixed now -----------------------------------------------------


def pyjwt_times_ok(claims: dict[str, Any], now: float, leeway: float | timedelta) -> bool:
    """PyJWT's own iat/nbf/exp validators, in the order its _validate_claims runs them."""
    checker = jwt.PyJWT()
    seconds = leeway.total_seconds() if isinstance(leeway, timedelta) else leeway
    try:
        for claim, check in (
            ("iat", checker._validate_iat),
            ("nbf", checker._validate_nbf),
            ("exp", checker._validate_exp),
        ):
            if claim in claims:
                check(claims, now, seconds)
    except jwt.PyJWTError:
        return False
    return True


near = st.integers(-3, 3)


@SETTINGS
@given(
    st.integers(1_700_000_000, 1_800_000_000),
    st.sampled_from([0.0, 0.25, 0.5, 0.999999]),
    st.fixed_dictionaries(
        {},
        optional={
            claim: near | st.tuples(near, st.sampled_from([0.0, 0.5, -0.5, 0.999]))
            for claim in ("exp", "nbf", "iat")
        },
    ),
    st.sampled_from([0, 1, 2, 1.5, 0.5, -1, timedelta(seconds=1), timedelta(milliseconds=500)]),
)
def test_time_checks_match_pyjwt_at_the_boundaries(
    whole: int, fraction: float, offsets: dict[str, Any], leeway: float | timedelta
) -> None:
    now = whole + fraction
    claims: dict[str, Any] = {}
    for claim, offset in offsets.items():
        claims[claim] = whole + offset if isinstance(offset, int) else whole + sum(offset)
    fast = _claims_ok(claims, None, None, leeway, (), now)
    assert fast == pyjwt_times_ok(claims, now, leeway), (claims, now, leeway)


def test_time_checks_refuse_what_they_do_not_handle() -> None:
    for value in ("1", True, math.inf, None, [1]):
        assert not _claims_ok({"exp": value}, None, None, 0, (), time.time())


# -- the fast path is really taken --------------------------------------------------------------


@dataclass
class Handshake:
    auth: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    address: Any = None


@dataclass
class FakeSocket:
    handshake: Handshake
    data: dict[str, Any] = field(default_factory=dict)


def test_a_chat_token_never_reaches_pyjwt(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(name: str) -> Any:
        real = getattr(jwt, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return wrapper

    for name in ("decode", "get_unverified_header"):
        monkeypatch.setattr(jwt, name, counted(name))
    authenticate = jwt_auth(SECRET, ["HS256"], require=["exp"])  # what `roomcast serve` uses
    socket = FakeSocket(Handshake({"token": user_token("7", "Ann")}))
    authenticate(socket)
    assert (socket.data["user"]["id"], calls) == ("7", [])
    assert verify_hmac(user_token("7", "Ann"), HS, {"HS256"}, require=["exp"]) is not None
    # a refused token goes to PyJWT, which says why
    with pytest.raises(TokenError, match="jwt expired"):
        verify_token(user_token(exp=now() - 60), HS, ["HS256"])
    assert calls == ["get_unverified_header", "decode"]
