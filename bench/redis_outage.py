"""A Redis restart under load: how many deliveries are lost, duplicated or out of order.

Two roomcast servers in this process share a ``redis-server`` of their own (a free port); 200
python-socketio clients (WebSocket) in 20 rooms are spread over both. Each server emits
``--rate`` messages a second to the rooms in turn (every message goes to 10 clients, 5 of them on
the other server, through Redis). After ``--before`` seconds the redis-server process is stopped
(SIGTERM), and started again on the same port ``--outage`` seconds later, while the emits go on;
``--after`` seconds more of emits, then every client's messages are counted (the scenario is
tests/redis/chaos.py, which the test suite runs small). Both servers share one event loop, so they
see Redis come back at the same moment; ``--late S`` keeps the second one cut from Redis (a TCP
gate) until S seconds after the first one subscribed again (it reconnects at its next try after
that), as a server in another process or on another machine may come back later.

Usage: ``python -m bench.redis_outage [--runs 3] [--clients 200] [--rooms 20] [--rate 100]
[--late 0]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from tests.conftest import free_port
from tests.redis.chaos import ChaosResult, run_chaos
from tests.redis.conftest import RedisServer


async def _run(args: argparse.Namespace) -> ChaosResult:
    redis_server = RedisServer(free_port())
    await asyncio.to_thread(redis_server.start)
    try:
        return await run_chaos(
            redis_server,
            clients=args.clients,
            rooms=args.rooms,
            rate=args.rate,
            before=int(args.before * args.rate),
            during=int(args.outage * args.rate),
            after=int(args.after * args.rate),
            late=int(args.late * args.rate),
        )
    finally:
        await asyncio.to_thread(redis_server.stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="emits/s of each server")
    parser.add_argument("--before", type=float, default=2.0, help="seconds before the stop")
    parser.add_argument("--outage", type=float, default=3.0, help="seconds Redis is down")
    parser.add_argument("--after", type=float, default=2.0, help="seconds after the start")
    parser.add_argument(
        "--late",
        type=float,
        default=0.0,
        help="seconds the second server stays cut from Redis after the first is back",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    late = f", the second server cut off until {args.late:g} s after the first is back"
    print(
        f"{args.clients} clients in {args.rooms} rooms over 2 servers, {args.rate:g} emits/s "
        f"per server, redis-server stopped for {args.outage:g} s{late if args.late else ''}\n"
    )
    print("| run | expected | lost | duplicates | out of order | not resent | dropped |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for run in range(1, args.runs + 1):
        result = asyncio.run(_run(args))
        print(
            f"| {run} | {result.expected:,} | {result.lost:,} | {result.duplicates:,} "
            f"| {result.out_of_order:,} | {sum(result.unconfirmed.values()):,} "
            f"| {sum(result.dropped.values()):,} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
