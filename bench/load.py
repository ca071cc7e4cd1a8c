"""Load benchmark: the real ``hearing-watch run`` answering many chats at once while it broadcasts.

    python -m bench.load [--commands 200] [--chats 3000] [--latency 0.1] [--database-url URL]
                         [--runs load,memory]

The bot runs as an operator runs it (``python -m service.cli run``, configured by HEARINGWATCH_*
variables), in a process of its own, against the fake Bot API in another (``bench.fake_api``);
every call to the fake takes ``--latency`` seconds. Two measurements:

- load: a broadcast to ``--chats`` chats is queued in the database before the bot starts, with
  Telegram's flood limits on; once it is under way, ``--commands`` private chats each send one
  command (/cases, /case tabarak, /subscribe <case>, /mysubs in turn) at the same instant, and
  in a second run spread evenly over ``--spread`` seconds. The
  handling time of an update runs from the moment getUpdates handed it to the bot to the moment
  the bot's answer (sendMessage) reached the fake, so the fake's latency on the answer is not in
  it. Answers the flood limits refused (429) are counted apart: their time is still the bot's.
- memory: the bot process's peak resident memory (VmHWM) idle after answering one command, and
  after a broadcast to N and 10 N chats with the limits off.
- burst: a case's link goes viral while the broadcast goes out: ``--joiners`` private chats
  subscribe within ``--spread`` seconds, half with /subscribe <case> and half through the deep
  link (/start <case>, which shows the case, and then its Subscribe button); once with the
  machine otherwise idle and once with every core kept busy by processes of the benchmark's
  own. Counts the subscriptions stored and the people refused or told to try again, and, from
  the fake's arrival times, the most messages in any one second and in any minute to one group,
  and the broadcast's fan-out time against Telegram's floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text
from sqlmodel import col

from bench.broadcast import (
    MIGRATED_TO,
    TELEGRAM_RATE,
    TEXT,
    TOKEN,
    Population,
    fake_api,
    fill,
    population,
    stats,
)
from storage import broadcasts
from storage.database import Database
from storage.migrate import upgrade
from storage.models import BroadcastKind, Subscription, utcnow
from storage.schedule_file import SEED_FILE, seed_if_empty
from tests.fakebot import busiest

REPOSITORY = Path(__file__).resolve().parents[1]
# Extra interpreter arguments for the bot, to profile it: BENCH_BOT_PYTHON="-m cProfile -o F"
PYTHON_ARGS = os.environ.get("BENCH_BOT_PYTHON", "").split()
FIRST_COMMANDER = 20_000_000  # the chats that send commands; apart from the broadcast's
COMMANDS = ("/cases", "/case tabarak", "/subscribe {case}", "/mysubs")
CASES = ("tabarak", "musakhan-alimuly")  # the seed's
NO_LIMITS = {
    "HEARINGWATCH_DELIVERY__MESSAGES_PER_SECOND": "1e9",
    "HEARINGWATCH_DELIVERY__CHAT_MESSAGES_PER_SECOND": "1e9",
    "HEARINGWATCH_DELIVERY__GROUP_MESSAGES_PER_MINUTE": str(10**9),
}
WAVES = 50  # a spread-out arrival comes in this many equal groups
FIRST_JOINER = 30_000_000  # the chats that subscribe in the burst
# The answers that mean "subscribed", or (to the link) "here is the case, press Subscribe".
JOINED = ("now follows", "already follows", "<code>tabarak</code>")
SUBSCRIBE = "sub:tabarak"  # the button under the case the link shows
UNDER_WAY = 60  # broadcast messages delivered before the commands come (two seconds at 30/s)


def _get(root: str, path: str) -> object:
    with urllib.request.urlopen(f"{root}{path}") as response:  # noqa: S310 (loopback)
        return json.load(response)


def _post(root: str, path: str, payload: object) -> object:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{root}{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 (loopback)
        return json.load(response)


def timings(root: str) -> list[dict[str, float | int | None]]:
    """Every update's timing as the fake recorded it (see tests.fakebot.server.UpdateTiming)."""
    return _get(root, "/_fake/timings")  # type: ignore[return-value]


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nearest_rank(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with ``fraction`` of them at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


async def until(probe: Callable[[], bool], *, seconds: float, what: str) -> None:
    """Poll a condition on another process until it holds."""
    deadline = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {seconds:.0f} s")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def prepared_database(
    url: str | None, people: Population, *, broadcast: bool
) -> AsyncIterator[str]:
    """The seed cases, ``people`` subscribed to a case of their own and, if asked, a broadcast
    to them queued; yields the URL for the bot."""
    with tempfile.TemporaryDirectory() as folder:
        url = url or f"sqlite+aiosqlite:///{Path(folder) / 'load.db'}"
        database = Database(url)
        try:
            if database.engine.dialect.name == "postgresql":
                async with database.engine.begin() as connection:
                    await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                    await connection.execute(text("CREATE SCHEMA public"))
            await upgrade(database.engine)
            async with database.writing() as session:
                await seed_if_empty(session, path=SEED_FILE, default_zone="Asia/Almaty")
            await fill(database, people)
            if broadcast:
                async with database.writing() as session:
                    await broadcasts.start_now(
                        session,
                        kind=BroadcastKind.NOTICE,
                        case_id="bench",
                        text=TEXT,
                        created_by=None,
                        now=utcnow(),
                    )
        finally:
            await database.dispose()
        yield url


@contextlib.asynccontextmanager
async def bot_process(
    root: str, url: str, *, limits: bool
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``hearing-watch run`` as an operator starts it; stopped with SIGINT, as a deploy does.

    Without ``limits`` the bot's own pacing is lifted too, as the fake's is."""
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **({} if limits else NO_LIMITS),
            **{k: v for k, v in os.environ.items() if not k.startswith("HEARINGWATCH_")},
            "HEARINGWATCH_TELEGRAM__TOKEN": TOKEN,
            "HEARINGWATCH_TELEGRAM__BASE_URL": f"{root}/bot",
            "HEARINGWATCH_DATABASE__URL": url,
            # Any free port for /healthz: the bench may run beside a bot on 8080.
            "HEARINGWATCH_SERVER__PORT": "0",
            "PYTHONPATH": str(REPOSITORY),
        }
        log = Path(folder) / "bot.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *PYTHON_ARGS, "-m", "service.cli", "run", cwd=folder, env=env,
                stdout=output, stderr=output,
            )  # fmt: skip
        try:
            yield process
        except BaseException:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                try:
                    async with asyncio.timeout(20):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()


@dataclass(frozen=True)
class LoadResult:
    """Handling times of the commands, in seconds, and what else the run saw."""

    times: list[float]
    refused: int  # answers the flood limits (or anything else) refused
    peak_rss: int
    cpu: float  # CPU seconds the bot used from the commands' arrival to the last answer
    wall: float  # and the wall-clock seconds that took

    def cells(self, label: str) -> list[str]:
        ms = [t * 1000 for t in self.times]
        return [
            label,
            f"{nearest_rank(ms, 0.50):.0f}",
            f"{nearest_rank(ms, 0.99):.0f}",
            f"{max(ms):.0f}",
            str(len(ms)),
            str(self.refused),
            f"{self.cpu:.1f} s in {self.wall:.1f} s",
            f"{self.peak_rss / 2**20:.0f} MiB",
        ]


async def load_run(args: argparse.Namespace, spread: float) -> LoadResult:
    """Commands from ``args.commands`` chats, all at once or spread evenly over ``spread``
    seconds, while the broadcast goes out."""
    people = population(args.chats)
    async with (
        prepared_database(args.database_url, people, broadcast=True) as url,
        fake_api(people, latency=args.latency, limits=True) as root,
        bot_process(root, url, limits=True) as process,
    ):
        await until(
            lambda: sum(stats(root)[1].values()) >= UNDER_WAY, seconds=60, what="the broadcast"
        )
        commanders = range(FIRST_COMMANDER, FIRST_COMMANDER + args.commands)
        messages = [
            {"chat_id": chat, "text": COMMANDS[i % len(COMMANDS)].format(case=CASES[i % 2])}
            for i, chat in enumerate(commanders)
        ]
        cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
        waves = WAVES if spread else 1
        for wave in range(waves):
            _post(root, "/_fake/messages", messages[wave::waves])
            if spread:
                await asyncio.sleep(spread / waves)
        await until(
            lambda: all(t["answered_at"] for t in timings(root)),
            seconds=120,
            what="every answer",
        )
        cpu = cpu_seconds(process.pid) - cpu_before
        wall = time.monotonic() - wall_before
        seen = timings(root)
        peak = peak_rss(process.pid)
    times = [float(t["answered_at"]) - float(t["handed_at"]) for t in seen]  # type: ignore[arg-type]
    refused = sum(1 for t in seen if t["status"] != 200)
    return LoadResult(times, refused, peak, cpu, wall)


async def memory_run(args: argparse.Namespace, chats: int) -> int:
    """Peak RSS of the bot after a broadcast to ``chats`` chats (0: none), limits off."""
    people = population(max(chats, 10))
    async with (
        prepared_database(args.database_url, people, broadcast=chats > 0) as url,
        fake_api(people, latency=args.latency, limits=False) as root,
        bot_process(root, url, limits=False) as process,
    ):
        if chats:
            expected = people.expected()
            await until(
                lambda: expected <= set(stats(root)[1]),
                seconds=60 + chats / 100,
                what=f"the broadcast to {chats:,} chats",
            )
        _post(root, "/_fake/messages", [{"chat_id": FIRST_COMMANDER, "text": "/help"}])
        await until(lambda: bool(timings(root)[0]["answered_at"]), seconds=60, what="/help")
        return peak_rss(process.pid)


@contextlib.contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """Keep ``count`` cores busy (one spinning process each) for the duration."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@dataclass(frozen=True)
class BurstResult:
    """What one viral-link run saw."""

    joiners: int
    stored: int  # subscriptions of the joiners in the database afterwards
    refused: int  # joiners whose answer was not "subscribed", or that Telegram refused
    times: list[float]  # seconds from getUpdates handing the command out to its answer arriving
    most_per_second: int
    most_per_group_minute: int
    fan_out: float  # first to last broadcast message, at the fake
    floor: float  # what Telegram's 30 a second allow for everything sent meanwhile

    def cells(self, label: str) -> list[str]:
        ms = [t * 1000 for t in self.times]
        return [
            label,
            f"{self.stored:,} / {self.joiners:,}",
            str(self.refused),
            f"{nearest_rank(ms, 0.50):,.0f}",
            f"{nearest_rank(ms, 0.99):,.0f}",
            str(self.most_per_second),
            str(self.most_per_group_minute),
            f"{self.fan_out:.1f} / {self.floor:.1f} = {self.fan_out / self.floor:.3f}",
        ]


async def burst_run(args: argparse.Namespace, *, loaded: bool) -> BurstResult:
    """``args.joiners`` chats subscribe within ``args.spread`` seconds while the broadcast goes
    out, all cores busy if ``loaded``."""
    people = population(args.chats)
    broadcast_chats = people.expected() | {people.blocked, people.migrating}
    async with (
        prepared_database(args.database_url, people, broadcast=True) as url,
        fake_api(people, latency=args.latency, limits=True) as root,
        bot_process(root, url, limits=True),
    ):
        await until(
            lambda: sum(stats(root)[1].values()) >= UNDER_WAY, seconds=60, what="the broadcast"
        )
        joiners = range(FIRST_JOINER, FIRST_JOINER + args.joiners)
        messages = [
            {"chat_id": chat, "text": ("/subscribe {}" if i % 2 else "/start {}").format(CASES[0])}
            for i, chat in enumerate(joiners)
        ]
        with busy_cores(os.cpu_count() or 1) if loaded else contextlib.nullcontext():
            for wave in range(WAVES):
                _post(root, "/_fake/messages", messages[wave::WAVES])
                await asyncio.sleep(args.spread / WAVES)
            await until(
                lambda: all(t["answered_at"] for t in timings(root)),
                seconds=600,
                what="every answer",
            )
            # A link shows the case with its Subscribe button: those who came by it press it.
            by_link = [m["chat_id"] for m in messages if str(m["text"]).startswith("/start")]
            _post(root, "/_fake/presses", [{"chat_id": c, "data": SUBSCRIBE} for c in by_link])
            await until(
                lambda: len(_get(root, "/_fake/callback_answers")) >= len(by_link),  # type: ignore[arg-type]
                seconds=600,
                what="every press answered",
            )
            await until(
                lambda: people.expected() <= set(stats(root)[1]),
                seconds=600,
                what="the end of the broadcast",
            )
        seen = timings(root)
        arrivals: list[list[float]] = _get(root, "/_fake/arrivals")  # type: ignore[assignment]
        database = Database(url)
        try:
            async with database.reading() as session:
                stored = await session.execute(
                    select(func.count())
                    .select_from(Subscription)
                    .where(col(Subscription.chat_id) >= FIRST_JOINER)
                )
                stored_count = int(stored.scalar_one())
        finally:
            await database.dispose()
    refused = sum(
        1
        for t in seen
        if t["status"] != 200 or not any(answer in str(t["text"]) for answer in JOINED)
    )
    times = [float(t["answered_at"]) - float(t["handed_at"]) for t in seen]  # type: ignore[arg-type]
    moments = [at for at, _, _ in arrivals]
    by_group: dict[int, list[float]] = {}
    for at, chat, _ in arrivals:
        if chat < 0:
            by_group.setdefault(int(chat), []).append(at)
    broadcast = [at for at, chat, status in arrivals if chat in broadcast_chats | {MIGRATED_TO}]
    first, last = min(broadcast), max(broadcast)
    sent_meanwhile = sum(1 for at, _, status in arrivals if status == 200 and first <= at <= last)
    return BurstResult(
        joiners=args.joiners,
        stored=stored_count,
        refused=refused,
        times=times,
        most_per_second=busiest(moments, 1.0),
        most_per_group_minute=max((busiest(times, 60.0) for times in by_group.values()), default=0),
        fan_out=last - first,
        floor=(sent_meanwhile - 1) / TELEGRAM_RATE,
    )


async def main_async(args: argparse.Namespace) -> None:
    database = "PostgreSQL" if args.database_url else "SQLite"
    if "load" in args.runs:
        rows = []
        for spread in (0.0, args.spread):
            result = await load_run(args, spread)
            label = f"spread over {spread:.0f} s" if spread else "all at once"
            rows.append(result.cells(label))
            print(f"… {label}: p99 {rows[-1][2]} ms", file=sys.stderr)
        print(
            f"\n{args.commands} chats send a command each while a broadcast to {args.chats:,}"
            f" chats goes out (limits on); {args.latency * 1000:.0f} ms per call, {database},"
            f" {os.cpu_count()} cores\n"
        )
        print(
            "| handling time, ms | p50 | p99 | max | count | refused (429) | bot CPU"
            " | bot peak RSS |\n|---|---|---|---|---|---|---|---|"
        )
        for row in rows:
            print("| " + " | ".join(row) + " |")
    if "burst" in args.runs:
        rows = []
        for loaded in (False, True):
            label = f"every core busy ({os.cpu_count()})" if loaded else "machine otherwise idle"
            burst = await burst_run(args, loaded=loaded)
            rows.append(burst.cells(label))
            print(f"… burst, {label}: {rows[-1][1]} stored", file=sys.stderr)
        print(
            f"\n{args.joiners:,} chats subscribe within {args.spread:.0f} s (half /subscribe,"
            f" half the deep link) while a broadcast to {args.chats:,} chats goes out (limits"
            f" on); {args.latency * 1000:.0f} ms per call, {database}, {os.cpu_count()} cores\n"
        )
        print(
            "| run | subscribed | refused or told to retry | answer p50 ms | answer p99 ms"
            " | most in 1 s | most to a group in 1 min | fan-out / floor s |"
            "\n|---|---|---|---|---|---|---|---|"
        )
        for row in rows:
            print("| " + " | ".join(row) + " |")
    if "memory" in args.runs:
        rows = []
        for chats in (0, args.chats, args.chats * 10):
            peak = await memory_run(args, chats)
            label = f"broadcast to {chats:,} chats" if chats else "idle (answered one /help)"
            rows.append((label, peak))
            print(f"… {label}: {peak / 2**20:.1f} MiB", file=sys.stderr)
        print(f"\nBot process, limits off, {database}\n")
        print("| bot process | peak RSS (VmHWM) |\n|---|---|")
        for label, peak in rows:
            print(f"| {label} | {peak / 2**20:.1f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200, help="chats sending a command")
    parser.add_argument("--joiners", type=int, default=1000, help="chats subscribing in a burst")
    parser.add_argument("--chats", type=int, default=3000, help="chats the broadcast reaches")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per call")
    parser.add_argument(
        "--spread",
        type=float,
        default=10.0,
        help="seconds the second load run, and the burst, spread their commands over",
    )
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--runs",
        type=lambda value: set(value.split(",")),
        default={"load", "memory"},
        help="which of load,memory,burst to run (default: load,memory)",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
