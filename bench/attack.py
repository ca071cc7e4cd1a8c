"""The attacker of ``bench.hostile``, in a process of its own so that it shares no event loop
with the measurements: floods one URL at a steady rate and prints what came back, as JSON.

    python -m bench.attack calendar URL --rate 500 --duration 30 --etag '"..."'
    python -m bench.attack webhook URL --rate 100 --malformed 20 --secret S --duration 30

calendar: GET requests over ``--connections`` connections, every other one with If-None-Match
(the feed's current ETag), as a crowd of calendar apps and a flooder would send them.
webhook: POSTs with a wrong secret at ``--rate`` a second, and ``--malformed`` a second with
the right secret and a body that is not an update (``[1]``, a message that is a string).
A request that would exceed ``--connections`` in flight is not sent (counted as ``skipped``):
the attacker never queues more than it can have open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aiohttp

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MALFORMED = (b"[1]", b'{"update_id": 1, "message": "x"}', b'{"update_id": "x"}', b"{")


async def flood(
    rate: float,
    duration: float,
    connections: int,
    request: Callable[[aiohttp.ClientSession, int], Awaitable[int]],
) -> dict[str, object]:
    """Send ``rate`` requests a second for ``duration`` seconds; count the answers."""
    statuses: Counter[str] = Counter()
    in_flight: set[asyncio.Task[None]] = set()
    latencies: list[float] = []

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        began = time.monotonic()
        try:
            statuses[str(await request(session, n))] += 1
            latencies.append(time.monotonic() - began)
        except (aiohttp.ClientError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1

    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        while (elapsed := loop.time() - start) < duration:
            while sent < int(elapsed * rate):
                if len(in_flight) >= connections:
                    statuses["skipped"] += 1
                else:
                    task = asyncio.create_task(one(session, sent))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                sent += 1
            await asyncio.sleep(0.005)
        if in_flight:
            await asyncio.wait(in_flight)
        took = loop.time() - start
    answered = sum(n for status, n in statuses.items() if status.isdigit())
    latencies.sort()
    return {
        "statuses": dict(statuses),
        "answered_per_second": round(answered / took, 1),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000) if latencies else None,
    }


def calendar(url: str, etag: str) -> Callable[[aiohttp.ClientSession, int], Awaitable[int]]:
    async def request(session: aiohttp.ClientSession, n: int) -> int:
        headers = {"If-None-Match": etag} if n % 2 else {}
        async with session.get(url, headers=headers) as response:
            await response.read()
            return response.status

    return request


def webhook(
    url: str, secret: str, malformed_share: float
) -> Callable[[aiohttp.ClientSession, int], Awaitable[int]]:
    async def request(session: aiohttp.ClientSession, n: int) -> int:
        # Every k-th call is a malformed body with the right secret, the rest a wrong secret.
        if malformed_share and n % round(1 / malformed_share) == 0:
            headers, body = {SECRET_HEADER: secret}, MALFORMED[n % len(MALFORMED)]
        else:
            headers, body = {SECRET_HEADER: "wrong-secret"}, b'{"update_id": 1}'
        headers["Content-Type"] = "application/json"
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    return request


async def main_async(args: argparse.Namespace) -> None:
    if args.kind == "calendar":
        request = calendar(args.url, args.etag)
        rate = args.rate
    else:
        rate = args.rate + args.malformed
        request = webhook(args.url, args.secret, args.malformed / rate if rate else 0.0)
    result = await flood(rate, args.duration, args.connections, request)
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["calendar", "webhook"])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=500.0, help="requests a second")
    parser.add_argument("--malformed", type=float, default=0.0, help="webhook: malformed a second")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--etag", default='""')
    parser.add_argument("--secret", default="")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
