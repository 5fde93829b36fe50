"""The `roomcast` command in-process: `token`, and how `serve` loads an app."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jwt
import pytest

import roomcast
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
    from roomcast.socketio.server import Server

    assert isinstance(_load_app("roomcast.socketio.server:Server", factory=True), Server)


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


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], status: int) -> str:
    """Run ``argv``: it must exit with ``status`` and say one line on stderr, no traceback."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == status
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and out == ""
    return lines[0]


def test_app_reading_a_missing_environment_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "needs_env_app.py").write_text(
        "import os\nfrom roomcast import Server\n"
        "KEY = os.environ['ROOMCAST_TEST_NOT_SET']\nio = Server()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("ROOMCAST_TEST_NOT_SET", raising=False)
    line = one_line_error(capsys, ["serve", "needs_env_app:io"], 1)
    assert "needs_env_app" in line and "ROOMCAST_TEST_NOT_SET" in line and "not set" in line
    assert "ROOMCAST_TEST_NOT_SET=" in line  # how to set it


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("foo", "redis://"),
        ("http://127.0.0.1:6379/0", "redis://"),
        ("redis://127.0.0.1:70000/0", "port"),
        ("redis://127.0.0.1:x/0", "port"),
    ],
)
def test_bad_redis_url(capsys: pytest.CaptureFixture[str], url: str, says: str) -> None:
    line = one_line_error(capsys, ["serve", "--redis-url", url], 2)
    assert "--redis-url" in line and says in line


def test_redis_url_without_the_redis_package(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # "import redis" fails as if not installed
    monkeypatch.delitem(sys.modules, "roomcast.rooms.redis", raising=False)
    line = one_line_error(capsys, ["serve", "--redis-url", "redis://127.0.0.1:6379/0"], 1)
    assert "pip install 'roomcast[redis]'" in line


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_port_out_of_range(capsys: pytest.CaptureFixture[str], port: str) -> None:
    line = one_line_error(capsys, ["serve", "--port", port], 2)
    assert "--port" in line and "0-65535" in line


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"roomcast {roomcast.__version__}"


def test_serve_help_says_the_default_attribute(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "attribute app" in " ".join(capsys.readouterr().out.split())
