"""The ``roomcast`` command: ``serve`` a Socket.IO app (the chat by default), make a ``token``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import jwt

from roomcast import runtime
from roomcast.runtime import LOOPS

if TYPE_CHECKING:  # the engine is imported by `serve` only: `token` stays quick
    from roomcast.socketio.server import Server

__all__ = ["main", "make_token", "parse_duration", "redis_choice"]

logger = logging.getLogger("roomcast")

SECRET_ENV = "ROOMCAST_JWT_SECRET"
REDIS_ENV = "ROOMCAST_REDIS_URL"
REDIS_STREAMS_ENV = "ROOMCAST_REDIS_STREAMS_URL"
STREAMS_SCHEMES = ("redis+streams", "rediss+streams")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in ``"90"``, ``"90s"``, ``"15m"``, ``"1h"``, ``"7d"`` or ``"2w"``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 30m, 1h, 7d)")
    return int(match[1]) * _UNITS[match[2] or "s"]


def make_token(
    secret: str, user_id: str, name: str, expires: int | None = 86400, **claims: Any
) -> str:
    """An HS256 chat token: ``{"id", "name", "iat", "exp"}``, no ``exp`` if ``expires`` is None."""
    now = int(time.time())
    payload: dict[str, Any] = {"id": user_id, "name": name, "iat": now, **claims}
    if expires is not None:
        payload["exp"] = now + expires
    return jwt.encode(payload, secret, algorithm="HS256")


def _parser() -> argparse.ArgumentParser:
    from roomcast import __version__

    parser = argparse.ArgumentParser(
        prog="roomcast", description="A fast, typed Socket.IO v4 server for Python."
    )
    parser.add_argument("--version", action="version", version=f"roomcast {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run a Socket.IO app (the JWT chat by default)",
        description="Run a Socket.IO app until SIGINT or SIGTERM. Without APP, run the chat.",
    )
    serve.add_argument(
        "app",
        nargs="?",
        metavar="APP",
        help="MODULE:ATTRIBUTE of a roomcast Server; a bare MODULE loads its attribute app "
        "(without APP: the chat, roomcast.apps.chat)",
    )
    serve.add_argument(
        "--factory",
        action="store_true",
        help="APP is a function that takes no arguments and returns the Server",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument(
        "--port", type=int, default=8000, help="port 0-65535, 0 for any (%(default)s)"
    )
    serve.add_argument("--path", default="/socket.io/", help="Socket.IO path (%(default)s)")
    serve.add_argument(
        "--jwt-secret",
        default=os.environ.get(SECRET_ENV),
        help=f"HMAC secret of the chat's tokens (default: ${SECRET_ENV}, else a random one)",
    )
    serve.add_argument(
        "--require-expiry",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="refuse chat tokens without an exp claim (default: on; --no-require-expiry to "
        "admit tokens that never expire)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="allow this browser origin (repeat it; '*' for any)",
    )
    serve.add_argument(
        "--redis-url",
        metavar="URL",
        help=f"share rooms with other servers through Redis, e.g. redis://localhost:6379/0 "
        f"(default: ${REDIS_ENV}; wire-compatible with Node's @socket.io/redis-adapter); "
        "redis+streams://... picks the Redis Streams adapter, as --redis-streams-url",
    )
    serve.add_argument(
        "--redis-streams-url",
        metavar="URL",
        help=f"share rooms with other servers through a Redis stream, e.g. "
        f"redis://localhost:6379/0 (default: ${REDIS_STREAMS_ENV}; wire-compatible with Node's "
        "@socket.io/redis-streams-adapter; sessions recoverable on any server)",
    )
    serve.add_argument(
        "--parser",
        choices=["json", "msgpack"],
        default="json",
        help="the chat's Socket.IO parser: msgpack for clients with socket.io-msgpack-parser "
        "(the page: /?parser=msgpack) (%(default)s; an APP chooses its own)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N processes on the port (SO_REUSEPORT), sharing rooms through --redis-url "
        "or --redis-streams-url (%(default)s)",
    )
    serve.add_argument(
        "--advertise",
        metavar="HOST:PORT",
        help="join the cluster of the servers sharing --redis-url: they reach this one at "
        "HOST:PORT (worker i of --workers at PORT+i, listened on here), and requests of a "
        "long-polling session owned by another server are forwarded to it, so a load "
        "balancer needs no sticky sessions",
    )
    serve.add_argument("--node-id", help=argparse.SUPPRESS)
    serve.add_argument(
        "--ssl-certfile", metavar="PEM", help="serve https:// and wss:// with this certificate"
    )
    serve.add_argument(
        "--ssl-keyfile", metavar="PEM", help="the certificate's private key (default: in it)"
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="comma list of reverse proxy addresses (or '*') whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (default: none)",
    )
    serve.add_argument(
        "--metrics",
        action="store_true",
        help="serve Prometheus metrics at /metrics (needs the metrics extra: prometheus_client)",
    )
    serve.add_argument(
        "--admin",
        metavar="USER:PASSWORD_HASH",
        help="turn on the Socket.IO Admin UI: its server side on the /admin namespace, for USER "
        "with this bcrypt hash of the password, and the UI itself at /admin/ (needs the admin "
        "extra: bcrypt)",
    )
    serve.add_argument(
        "--admin-mode",
        default="development",
        choices=["development", "production"],
        help="development: the UI also lists every socket, room and event (costly on a busy "
        "server); production: server stats only (%(default)s)",
    )
    serve.add_argument(
        "--admin-read-only",
        action="store_true",
        help="the UI cannot join, leave, emit to or disconnect sockets",
    )
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-dir", help=argparse.SUPPRESS)
    serve.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="the event loop: auto is uvloop when installed (the fast extra), else asyncio "
        "(%(default)s)",
    )
    serve.add_argument(
        "--gc-threshold",
        type=int,
        default=0,
        metavar="N",
        help="once listening, collect the youngest generation every N allocations instead of "
        "700 (with full collections spaced out it gained nothing more: see the README); 0 "
        "keeps Python's (%(default)s)",
    )
    serve.add_argument(
        "--gc-full-every",
        type=int,
        default=runtime.GC_FULL_EVERY,
        metavar="N",
        help="once listening, collect the oldest generation at most once every N collections "
        "of the middle one (a full collection walks every live connection); 0 keeps Python's "
        "10 (%(default)s)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="(%(default)s)",
    )

    token = commands.add_parser(
        "token",
        help="print a signed HS256 token for the chat",
        description="Print a signed HS256 token with the claims id and name.",
    )
    token.add_argument("--id", required=True, dest="user_id", help="the user id")
    token.add_argument("--name", required=True, help="the name shown with messages")
    token.add_argument(
        "--expires",
        default="1d",
        help="lifetime such as 30m, 1h, 7d, or 'never' (%(default)s)",
    )
    token.add_argument(
        "--secret",
        default=os.environ.get(SECRET_ENV),
        help=f"HMAC secret, the server's (default: ${SECRET_ENV})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``roomcast`` command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "token":
        return _token(parser, args)
    return _serve(parser, args)


def _token(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if not args.secret:
        parser.error(f"give --secret or set {SECRET_ENV}: the secret the server checks tokens with")
    expires = None if args.expires == "never" else _duration(parser, args.expires)
    print(make_token(args.secret, args.user_id, args.name, expires))
    if expires is None:
        print(
            "roomcast token: this token has no exp claim, it never expires: the chat "
            "(roomcast serve) refuses it unless started with --no-require-expiry",
            file=sys.stderr,
        )
    return 0


def _duration(parser: argparse.ArgumentParser, text: str) -> int:
    try:
        return parse_duration(text)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))


class _Failure(Exception):
    """A problem ``serve`` reports in one line before exiting with ``status``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _fail(message: str, status: int) -> NoReturn:
    print(f"roomcast: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def _import_app_module(spec: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except KeyError as error:  # os.environ["NAME"] at import, with NAME not set
        name = error.args[0] if len(error.args) == 1 else None
        if not isinstance(name, str) or name in os.environ:
            raise
        raise _Failure(
            f"{module_name} reads the environment variable {name} at import, and it is not "
            f"set: set it, e.g. {name}=... roomcast serve {spec}",
            1,
        ) from None


def _check_redis(url: str, option: str = "--redis-url") -> None:
    """Refuse a Redis URL redis-py could not use, and say how to install the redis extra."""
    from urllib.parse import urlsplit

    example = "use redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0"
    env = REDIS_ENV if option == "--redis-url" else REDIS_STREAMS_ENV
    given = f"{option} (or ${env}) {url!r}"
    parts = urlsplit(url)
    schemes = ["redis", "rediss", "unix"]
    if option == "--redis-url":
        schemes += ["redis+streams", "rediss+streams"]
    if parts.scheme not in schemes:
        raise _Failure(f"{given} is not a Redis URL: {example}", 2)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise _Failure(f"{given}: the port must be a number in 1-65535: {example}", 2)
    try:
        import redis  # noqa: F401
    except ImportError:
        raise _Failure(
            f"{option} needs the redis package, which is not installed: "
            "pip install 'roomcast[redis]'",
            1,
        ) from None


def _load_app(spec: str, factory: bool) -> Server:
    from roomcast.socketio.server import Server

    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    target: Any = _import_app_module(spec, module_name)
    for part in (attribute or "app").split("."):
        target = getattr(target, part)
    if factory:
        target = target()
    if not isinstance(target, Server):
        hint = "" if factory else " (--factory if it is a function returning one)"
        raise TypeError(f"{spec} is not a roomcast Server{hint}")
    return target


def redis_choice(redis_url: str | None, streams_url: str | None) -> tuple[str, str]:
    """Which Redis adapter the options pick, and its ``redis://`` URL: ``("streams", url)`` for
    ``--redis-streams-url`` or a ``redis+streams://`` (``rediss+streams://``) ``--redis-url``,
    ``("pubsub", url)`` for another ``--redis-url``, ``("", "")`` for none."""
    if streams_url:
        return "streams", streams_url
    if not redis_url:
        return "", ""
    scheme, sep, rest = redis_url.partition("://")
    if sep and scheme.lower() in STREAMS_SCHEMES:
        return "streams", f"{scheme[: -len('+streams')]}://{rest}"
    return "pubsub", redis_url


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    worker = "" if args.worker_index is None else f"[worker {args.worker_index}] "
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)-7s {worker}%(name)s: %(message)s",
    )
    if args.log_level != "debug":  # websockets logs every connection opened and closed at info
        logging.getLogger("websockets").setLevel(logging.WARNING)
    # The format shows none of a record's thread, process or source line: not gathering them
    # (the logging HOWTO's "Optimization") takes a record from 22 to 10 µs, and the chat logs
    # one per connection and per disconnection.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    try:
        return _serve_checked(parser, args)
    except _Failure as failure:
        _fail(str(failure), failure.status)


def _serve_checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if not 0 <= args.port < 65536:
        raise _Failure(f"--port {args.port} is out of range: give a port in 0-65535", 2)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.redis_url and args.redis_streams_url:
        parser.error("give --redis-url or --redis-streams-url, not both")
    if not (args.redis_url or args.redis_streams_url):  # the environment's, streams first
        args.redis_streams_url = os.environ.get(REDIS_STREAMS_ENV) or None
        args.redis_url = None if args.redis_streams_url else os.environ.get(REDIS_ENV) or None
    if args.redis_url:
        _check_redis(args.redis_url)
    if args.redis_streams_url:
        _check_redis(args.redis_streams_url, "--redis-streams-url")
    if args.workers > 1 and not (args.redis_url or args.redis_streams_url):
        parser.error(
            f"--workers {args.workers} needs --redis-url or --redis-streams-url (or "
            f"${REDIS_ENV}): the workers share rooms through Redis"
        )
    if args.ssl_keyfile and not args.ssl_certfile:
        parser.error("--ssl-keyfile needs --ssl-certfile")
    if args.advertise:
        _check_advertise(parser, args)
    listen: dict[str, Any] = {"forwarded_allow_ips": args.forwarded_allow_ips}
    if args.ssl_certfile:
        from roomcast.engine.listener import tls_context

        try:
            listen["ssl"] = tls_context(args.ssl_certfile, args.ssl_keyfile)
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            parser.error(f"cannot load the TLS certificate: {error}")
    if args.workers > 1 and args.worker_index is None:
        return _supervise(args)
    random_secret = False
    if args.app:
        try:
            io = _load_app(args.app, args.factory)
        except (ImportError, AttributeError, TypeError) as error:
            parser.error(f"cannot load {args.app}: {error}")
        _log_connections(io)
    else:
        from roomcast.apps.chat import create_app

        secret = args.jwt_secret
        if not secret:
            secret, random_secret = secrets.token_urlsafe(32), True
        cors: str | list[str] | None = args.cors_origins
        if cors == ["*"]:
            cors = "*"
        require = ("exp",) if args.require_expiry else ()
        io = create_app(
            jwt_secret=secret,
            cors_origins=cors,
            path=args.path,
            require=require,
            parser=args.parser,
        )
    kind, url = redis_choice(args.redis_url, args.redis_streams_url)
    if kind == "streams":
        from roomcast.rooms.redis_streams import redis_streams_adapter

        io.set_adapter(redis_streams_adapter(url))
    elif kind == "pubsub":
        from roomcast.rooms.redis import redis_adapter

        io.set_adapter(redis_adapter(url))
    starts: list[Callable[[], None]] = []
    try:
        if args.worker_index is not None or args.advertise:
            _attach_worker(io, args)
        if args.admin:
            starts.append(_admin(parser, io, args))
        if args.metrics:
            try:
                from roomcast.metrics import Metrics
            except ImportError as error:
                parser.error(
                    f"--metrics needs the metrics extra ({error}): pip install 'roomcast[metrics]'"
                )
            metrics = Metrics(io)
            metrics.route()
            starts.append(metrics.start)
        status = runtime.run(
            _run(
                io,
                args.host,
                args.port,
                secret if random_secret else None,
                listen,
                starts,
                args.gc_threshold or None,
                args.gc_full_every or None,
            ),
            args.loop,
        )
    except OSError as error:
        if args.advertise:
            from roomcast.cluster.registry import RegistryError

            if isinstance(error, RegistryError):
                logger.error("%s", error)
                return 1
        logger.error("cannot listen on %s:%s: %s", args.host, args.port, error.strerror or error)
        return 1
    return status


def _admin(
    parser: argparse.ArgumentParser, io: Server, args: argparse.Namespace
) -> Callable[[], None]:
    """Instrument ``io`` for the Admin UI and serve the UI at ``/admin/``."""
    try:
        from roomcast.admin import BasicAuth, instrument, serve_ui
    except ImportError as error:
        parser.error(f"--admin needs the admin extra ({error}): pip install 'roomcast[admin]'")
    user, sep, password_hash = args.admin.partition(":")
    if not sep or not user or not password_hash:
        parser.error("--admin takes USER:PASSWORD_HASH (a bcrypt hash, e.g. $2b$10$...)")
    try:
        auth = BasicAuth(user, password_hash)
    except ValueError as error:
        parser.error(f"--admin: {error}")
    server_id = None
    if args.worker_index is not None:  # as Node's for a cluster worker: host#pid
        server_id = f"{socket.gethostname()}#{os.getpid()}"
    admin = instrument(
        io, auth=auth, mode=args.admin_mode, read_only=args.admin_read_only, server_id=server_id
    )
    serve_ui(io.listener)
    return admin.start


def _supervise(args: argparse.Namespace) -> int:
    """Run ``args.workers`` worker processes of this command (see roomcast.cluster.workers)."""
    from roomcast.cluster.forward import reuse_port_socket
    from roomcast.cluster.workers import supervise

    env: dict[str, str] = {}
    secret = args.jwt_secret
    if not args.app and not secret:
        secret = secrets.token_urlsafe(32)  # one secret for all the workers
        env[SECRET_ENV] = secret
    elif secret:
        env[SECRET_ENV] = secret
    try:
        reserved = reuse_port_socket(args.host, args.port)  # fixes the port for every worker
    except OSError as error:
        logger.error("cannot listen on %s:%s: %s", args.host, args.port, error.strerror or error)
        return 1
    port = reserved.getsockname()[1]
    common = ["--host", args.host, "--port", str(port), "--path", args.path]
    common += ["--log-level", args.log_level]
    common += ["--loop", args.loop, "--gc-threshold", str(args.gc_threshold)]
    common += ["--gc-full-every", str(args.gc_full_every)]
    if args.redis_url:
        common += ["--redis-url", args.redis_url]
    else:
        common += ["--redis-streams-url", args.redis_streams_url]
    common += ["--workers", str(args.workers), "--parser", args.parser]
    for flag, value in (
        ("--ssl-certfile", args.ssl_certfile),
        ("--ssl-keyfile", args.ssl_keyfile),
        ("--forwarded-allow-ips", args.forwarded_allow_ips),
    ):
        if value:
            common += [flag, value]
    if args.advertise:
        from roomcast.cluster.registry import new_node_id

        common += ["--advertise", args.advertise, f"--node-id={new_node_id()}"]
    if not args.require_expiry:
        common.append("--no-require-expiry")
    for origin in args.cors_origins or ():
        common += ["--cors-origin", origin]
    if args.metrics:
        common.append("--metrics")
    if args.admin:
        common += ["--admin", args.admin, "--admin-mode", args.admin_mode]
        if args.admin_read_only:
            common.append("--admin-read-only")
    if args.app:
        common = [args.app, *(["--factory"] if args.factory else []), *common]

    def worker_args(index: int, directory: str) -> list[str]:
        return ["serve", *common, "--worker-index", str(index), "--worker-dir", directory]

    def ready(url: str) -> None:
        print(f"roomcast listening on {url} ({args.workers} workers)", flush=True)
        if not args.app and not args.jwt_secret:
            _print_tokens(url, secret)

    try:
        return asyncio.run(supervise(args.workers, worker_args, env=env, on_ready=ready))
    finally:
        reserved.close()


def _check_advertise(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from roomcast.cluster.registry import MAX_WORKERS

    host, _, port = args.advertise.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 - args.workers:
        parser.error(f"--advertise {args.advertise!r}: give HOST:PORT, e.g. 10.0.0.5:9000")
    if not args.redis_url:
        parser.error(
            f"--advertise needs --redis-url (or ${REDIS_ENV}): the servers find each other "
            "through Redis"
        )
    if args.workers > MAX_WORKERS:
        parser.error(f"--advertise allows at most {MAX_WORKERS} --workers")


def _attach_worker(io: Server, args: argparse.Namespace) -> None:
    """Serve ``io`` as worker ``args.worker_index`` (on the shared port, forwarding the requests
    of other workers' sessions to them) and/or as a node of the ``--advertise`` cluster
    (forwarding those of other servers' sessions to them)."""
    from roomcast.cluster.forward import ForwardingListener, SidRouting, reuse_port_socket
    from roomcast.cluster.workers import socket_path

    index, directory = args.worker_index or 0, args.worker_dir
    if args.worker_index is not None and directory is None:
        raise OSError("--worker-index needs --worker-dir")
    paths = [socket_path(directory, i) for i in range(args.workers)] if directory else []
    peers = [path for i, path in enumerate(paths) if i != index]
    sock = reuse_port_socket(args.host, args.port)
    own_path = paths[index] if paths else None
    if not args.advertise:
        plain = ForwardingListener(sock, own_path, peers)
        plain.take_routes(io.listener)  # the app's pages (the chat's)
        io.attach(plain)
        return
    import socket

    from roomcast.cluster.registry import Membership, new_node_id

    node_id = args.node_id or new_node_id()
    membership = Membership(args.redis_url, node_id, args.advertise)
    host, _, port = args.advertise.rpartition(":")
    try:
        cluster_sock = socket.create_server((host.strip("[]"), int(port) + index))
    except OSError:
        sock.close()
        raise
    routing = SidRouting(node_id, index, paths, membership.lookup)
    listener = ForwardingListener(
        sock,
        own_path,
        peers,
        routing=routing,
        cluster_sock=cluster_sock,
        on_start=membership.start,
        on_close=membership.close,
    )
    listener.take_routes(io.listener)
    io.attach(listener)


def _log_connections(io: Server) -> None:
    """Log the sockets of the main namespace connecting and leaving, at info level."""

    def connected(socket: Any) -> None:
        logger.info("socket %s connected from %s", socket.id, socket.handshake.address)

    def disconnected(socket: Any, reason: str) -> None:
        logger.info("socket %s disconnected: %s", socket.id, reason)

    io.on("connection", connected)
    io.on("disconnect", disconnected)


async def _run(
    io: Server,
    host: str,
    port: int,
    random_secret: str | None,
    listen: dict[str, Any],
    starts: Sequence[Callable[[], None]] = (),
    gc_threshold: int | None = None,
    gc_full_every: int | None = None,
) -> int:
    """Serve until SIGINT or SIGTERM, then close; return the exit status (130 if a second
    SIGINT cut the shutdown short). ``starts`` run once listening (admin UI, metrics), then
    the garbage collector policy is applied (see roomcast.runtime)."""
    from roomcast.engine.signals import INTERRUPTED, close_interruptibly

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(signum, stop.set)
    await io.listen(host, port, **listen)
    for start in starts:
        start()
    runtime.tune_gc(gc_threshold, gc_full_every)
    scheme = "https" if listen.get("ssl") else "http"
    url = f"{scheme}://{_url_host(host)}:{io.listener.port}/"
    print(f"roomcast listening on {url}", flush=True)
    if random_secret is not None:
        _print_tokens(url, random_secret)
    try:
        await stop.wait()
    finally:
        logger.info("shutting down")
        # close_interruptibly replaces the handlers (and removes its own at the end): removing
        # these first would leave Python's default for a moment, and a second Ctrl-C then
        # would end the process with a traceback
        finished = await close_interruptibly(_close(io))
    return 0 if finished else INTERRUPTED


async def _close(io: Server) -> None:
    await io.close()
    if io.listener is not None:
        await io.listener.close()


def _print_tokens(url: str, secret: str) -> None:
    print(
        f"No JWT secret given (--jwt-secret or ${SECRET_ENV}): using a random one for this "
        "run. Open these two pages to chat with yourself:",
        flush=True,
    )
    for user_id, name in (("1", "Ann"), ("2", "Bob")):
        print(f"  {url}#token={make_token(secret, user_id, name)}", flush=True)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "localhost"
    return f"[{host}]" if ":" in host else host
