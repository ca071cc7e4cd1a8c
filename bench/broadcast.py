"""Broadcast benchmark: the real delivery engine against the fake Bot API on loopback.

    python -m bench.broadcast [--chats 3000] [--latency 0.1] [--database-url URL] [--runs ...]

Every call to the fake takes ``--latency`` seconds (a real round trip to Telegram is ~100 ms):
on loopback a loop that waits for each answer looks as fast as one that does not; in production
it is not. Prints one Markdown table:

- engine, limits on: Telegram's limits enforced by the fake (429 past them); the wall time
  against the floor that the limits allow, 429s, messages lost and duplicated.
- engine, limits off: the engine's own overhead, in deliveries per second.
- baseline: ``for chat in chats: await bot.send_message(...)`` with python-telegram-bot's
  AIORateLimiter, on the same fake, with the same figures.
- memory: the engine's peak Python allocations (tracemalloc) at N and 10 N chats, limits off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Defaults, ExtBot
from telegram.request import HTTPXRequest

from jobs.delivery import DeliveryEngine, EngineSettings
from jobs.limits import Limits
from jobs.sender import sending_bot, telegram_send
from storage import broadcasts
from storage.database import Database
from storage.migrate import upgrade
from storage.models import (
    BroadcastKind,
    Case,
    Chat,
    ChatType,
    Subscription,
    utcnow,
)
from tests.engines import WatchedQueue, send_everything

# python-telegram-bot warns on every RetryAfter unless durations are timedeltas (see bot/__init__).
os.environ.setdefault("PTB_TIMEDELTA", "1")

TOKEN = "123456:TEST-token-that-must-never-be-logged"
TEXT = "<b>Outcome of the hearing</b>: the court postponed the case to 21 January."
FIRST_PRIVATE = 10_000_000
FIRST_GROUP = -1_000_000_000_000
MIGRATED_TO = -1_009_999_999_999
TELEGRAM_RATE = 30.0
NO_LIMITS = Limits(per_second=1e9, chat_interval=0.0, group_per_minute=10**9)


@dataclass(frozen=True)
class Population:
    """Who subscribes: private chats and groups, one of them blocked, one migrating."""

    private: int
    groups: int

    @property
    def private_ids(self) -> list[int]:
        return list(range(FIRST_PRIVATE, FIRST_PRIVATE + self.private))

    @property
    def group_ids(self) -> list[int]:
        return [FIRST_GROUP - i for i in range(self.groups)]

    @property
    def blocked(self) -> int:
        return FIRST_PRIVATE

    @property
    def migrating(self) -> int:
        return FIRST_GROUP

    def expected(self) -> set[int]:
        """The chats that must get the message once: all but the blocked, the migrated one at
        its new id."""
        chats = set(self.private_ids) | set(self.group_ids)
        chats -= {self.blocked, self.migrating}
        return chats | {MIGRATED_TO}

    @property
    def requests(self) -> int:
        """sendMessage calls the job needs at least: one each, plus the migrated group's resend."""
        return self.private + self.groups + 1


@dataclass
class Row:
    run: str
    chats: int
    wall: float
    floor: float | None
    too_many: int
    lost: int
    duplicated: int
    note: str = ""

    def cells(self) -> list[str]:
        ratio = f"{self.wall / self.floor:.3f}" if self.floor else "–"
        floor = f"{self.floor:.1f}" if self.floor else "–"
        return [
            self.run,
            f"{self.chats:,}",
            f"{self.wall:.1f}",
            floor,
            ratio,
            f"{self.chats / self.wall:,.0f}",
            str(self.too_many),
            str(self.lost),
            str(self.duplicated),
            self.note,
        ]


@contextlib.asynccontextmanager
async def fake_api(
    people: Population, *, latency: float, limits: bool, extra: tuple[str, ...] = ()
) -> AsyncIterator[str]:
    """The fake in its own process (``extra``: more of its arguments); yields its base URL."""
    command = [
        sys.executable, "-m", "bench.fake_api", "--latency", str(latency),
        "--private", str(people.private), "--first-private", str(FIRST_PRIVATE),
        "--groups", str(people.groups), f"--first-group={FIRST_GROUP}",
        "--blocked", str(people.blocked), f"--migrate={people.migrating}:{MIGRATED_TO}",
    ] + (["--limits"] if limits else []) + list(extra)  # fmt: skip
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    line = (await process.stdout.readline()).decode()
    port = int(line.split()[1])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        await process.wait()


@dataclass(frozen=True)
class FakeStats:
    """What the fake saw: 429s answered, messages per chat, first and last send (wall clock)."""

    too_many: int
    received: dict[int, int]
    first_send_at: float | None
    last_send_at: float | None


def fake_stats(root: str) -> FakeStats:
    with urllib.request.urlopen(f"{root}/_fake/stats") as response:  # noqa: S310 (loopback)
        data = json.load(response)
    return FakeStats(
        data["too_many_requests"],
        {int(k): v for k, v in data["received"].items()},
        data["first_send_at"],
        data["last_send_at"],
    )


def stats(root: str) -> tuple[int, dict[int, int]]:
    seen = fake_stats(root)
    return seen.too_many, seen.received


def lost_and_duplicated(people: Population, received: dict[int, int]) -> tuple[int, int]:
    expected = people.expected()
    lost = sum(1 for chat in expected if received.get(chat, 0) == 0)
    duplicated = sum(1 for chat in expected if received.get(chat, 0) > 1)
    return lost, duplicated


def make_bot(root: str, *, rate_limiter: AIORateLimiter | None = None) -> ExtBot[None]:
    return ExtBot(
        TOKEN,
        base_url=f"{root}/bot",
        request=HTTPXRequest(connection_pool_size=512, pool_timeout=30.0),
        defaults=Defaults(parse_mode=ParseMode.HTML),
        rate_limiter=rate_limiter,
    )


async def fill(database: Database, people: Population) -> None:
    """A fresh schedule with one case that every chat follows."""
    await upgrade(database.engine)
    chats = [{"id": c, "type": ChatType.PRIVATE, "reachable": True} for c in people.private_ids]
    chats += [{"id": c, "type": ChatType.SUPERGROUP, "reachable": True} for c in people.group_ids]
    async with database.writing() as session:
        session.add(Case(id="bench", title="Benchmark case"))
        await session.flush()
        now = utcnow()
        for start in range(0, len(chats), 5_000):
            part = chats[start : start + 5_000]
            await session.execute(insert(Chat), [{**c, "created_at": now} for c in part])
            await session.execute(
                insert(Subscription),
                [{"chat_id": c["id"], "case_id": "bench", "created_at": now} for c in part],
            )


@contextlib.asynccontextmanager
async def fresh_database(url: str | None, people: Population) -> AsyncIterator[Database]:
    with tempfile.TemporaryDirectory() as folder:
        database = Database(url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        if url:
            from sqlalchemy import text

            async with database.engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await fill(database, people)
        try:
            yield database
        finally:
            await database.dispose()


async def engine_run(
    people: Population,
    *,
    latency: float,
    limits: bool,
    url: str | None,
    concurrency: int,
    trace: bool = False,
) -> tuple[Row, int]:
    """One broadcast by the engine; the row, and the engine's peak of traced memory."""
    async with (
        fresh_database(url, people) as database,
        fake_api(people, latency=latency, limits=limits) as root,
    ):
        bot = sending_bot(
            TOKEN,
            base_url=f"{root}/bot",
            defaults=Defaults(parse_mode=ParseMode.HTML),
            connections=concurrency,
        )
        async with bot:
            settings = EngineSettings(
                limits=Limits() if limits else NO_LIMITS, concurrency=concurrency
            )
            engine = DeliveryEngine(WatchedQueue(database), telegram_send(bot), settings)
            async with database.writing() as session:
                await broadcasts.start_now(
                    session,
                    kind=BroadcastKind.NOTICE,
                    case_id="bench",
                    text=TEXT,
                    created_by=None,
                    now=utcnow(),
                )
            if trace:  # the engine's allocations only, not the set-up's
                tracemalloc.start()
            started = time.perf_counter()
            await send_everything(engine, seconds=3600)
            wall = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
            tracemalloc.stop()
        too_many, received = stats(root)
    lost, duplicated = lost_and_duplicated(people, received)
    floor = (people.requests - 1) / TELEGRAM_RATE + latency if limits else None
    name = "engine, limits on" if limits else "engine, limits off"
    chats = people.private + people.groups
    return Row(name, chats, wall, floor, too_many, lost, duplicated), peak


async def baseline_run(people: Population, *, latency: float) -> Row:
    """The loop a developer writes by hand, with AIORateLimiter, limits on."""
    async with fake_api(people, latency=latency, limits=True) as root:
        bot = make_bot(root, rate_limiter=AIORateLimiter())
        started = time.perf_counter()
        async with bot:
            for chat_id in people.private_ids + people.group_ids:
                # A hand-written loop skips a chat that fails rather than stopping the rest.
                with contextlib.suppress(TelegramError):
                    await bot.send_message(chat_id, TEXT)
        wall = time.perf_counter() - started
        too_many, received = stats(root)
    lost, duplicated = lost_and_duplicated(people, received)
    floor = (people.requests - 1) / TELEGRAM_RATE + latency
    return Row(
        "baseline: loop + AIORateLimiter",
        people.private + people.groups,
        wall,
        floor,
        too_many,
        lost,
        duplicated,
    )


def population(chats: int) -> Population:
    groups = chats // 10
    return Population(private=chats - groups, groups=groups)


async def main_async(args: argparse.Namespace) -> None:
    people = population(args.chats)
    rows: list[Row] = []
    for limits in (True, False):
        if ("limits" if limits else "nolimits") not in args.runs:
            continue
        row, _ = await engine_run(
            people,
            latency=args.latency,
            limits=limits,
            url=args.database_url,
            concurrency=args.concurrency,
        )
        rows.append(row)
        print(f"… {row.run}: {row.wall:.1f} s", file=sys.stderr)
    if "baseline" in args.runs:
        row = await baseline_run(people, latency=args.latency)
        rows.append(row)
        print(f"… {row.run}: {row.wall:.1f} s", file=sys.stderr)
    peaks = []
    if "memory" in args.runs:
        for factor in (1, 10):
            row, peak = await engine_run(
                population(args.chats * factor),
                latency=args.latency,
                limits=False,
                url=args.database_url,
                concurrency=args.concurrency,
                trace=True,
            )
            peaks.append((row.chats, peak))
            print(f"… memory at {row.chats:,} chats: {peak / 2**20:.1f} MiB", file=sys.stderr)

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\nBroadcast to {args.chats:,} chats ({people.private:,} private,"
        f" {people.groups:,} groups; one blocked, one migrating),"
        f" {args.latency * 1000:.0f} ms per call, {database},"
        f" {os.cpu_count()} cores\n"
    )
    header = [
        "run", "chats", "wall s", "floor s", "ratio", "chats/s", "429s", "lost", "duplicated", "",
    ]  # fmt: skip
    if rows:
        print("| " + " | ".join(header[:-1]) + " |")
        print("|" + "---|" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(row.cells()[:-1]) + " |")
    if peaks:
        print("\n| engine memory, limits off | peak traced (tracemalloc) |\n|---|---|")
        for chats, peak in peaks:
            print(f"| {chats:,} chats | {peak / 2**20:.1f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per call")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--concurrency", type=int, default=EngineSettings().concurrency)
    parser.add_argument(
        "--runs",
        type=lambda text: set(text.split(",")),
        default={"limits", "nolimits", "baseline", "memory"},
        help="which of limits,nolimits,baseline,memory to run (default: all)",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
