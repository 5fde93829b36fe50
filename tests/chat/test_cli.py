"""The `roomcast` command in-process: `token`, and how `serve` loads an app."""

from __future__ import annotations

import time

import jwt
import pytest

from roomcast.cli import main, parse_duration

from .tokens import SECRET


def test_token_is_signed_with_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--id", "123", "--name", "John Doe", "--secret", SECRET]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (claims["id"], claims["name"]) == ("123", "John Doe")
    assert claims["exp"] - claims["iat"] == 86400


def test_token_expiry_and_secret_from_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOMCAST_JWT_SECRET", SECRET)
    assert main(["token", "--id", "7", "--name", "Ann", "--expires", "15m"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 900
    assert claims["iat"] <= time.time()
    assert main(["token", "--id", "7", "--name", "Ann", "--expires", "never"]) == 0
    assert "exp" not in jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"])


def test_token_without_secret_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROOMCAST_JWT_SECRET", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["token", "--id", "1", "--name", "Ann"])
    assert exited.value.code == 2
    assert "--secret" in capsys.readouterr().err


def test_bad_expiry_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["token", "--id", "1", "--name", "A", "--secret", SECRET, "--expires", "soon"])
    assert "not a duration" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_serve_refuses_what_is_not_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "roomcast.cli:main"])
    assert exited.value.code == 2
    assert "is not a roomcast Server (--factory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "no_such_module:app"])
    assert "No module named 'no_such_module'" in capsys.readouterr().err


def test_serve_factory_is_called() -> None:
    from roomcast.cli import _load_app
    from roomcast.engine.server import Server

    assert isinstance(_load_app("roomcast.engine.server:Server", factory=True), Server)


def test_token_that_never_expires_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["token", "--id", "7", "--name", "Ann", "--secret", SECRET, "--expires", "never"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "exp" not in jwt.decode(out.strip(), SECRET, algorithms=["HS256"])
    assert "never expires" in err and "--no-require-expiry" in err
    assert main(["token", "--id", "7", "--name", "Ann", "--secret", SECRET]) == 0
    assert capsys.readouterr().err == ""
