"""Hostile benchmark: people who want the bot silent attack it while it broadcasts.

    python -m bench.hostile [--chats 3000] [--latency 0.1] [--duration 30] [--scale 1]
                            [--database-url URL] [--runs none,calendar,commands,webhook]

The bot runs as an operator runs it (``python -m service.cli run``) in a process of its own,
against the fake Bot API in another (``bench.fake_api``, every call ``--latency`` seconds,
Telegram's flood limits on), with a broadcast to ``--chats`` chats queued before it starts and
a reminder falling due in the middle of the attack. Each run is one attack, for ``--duration``
seconds once the broadcast is under way, from a process of its own (``bench.attack``):

- none: no attack, the baseline;
- calendar: 500 requests a second for a case's calendar feed over 100 connections, half with
  If-None-Match;
- commands: one person sends 300 commands in 10 seconds, a third of them forwarded, and the 50
  members of a group all send /cases;
- webhook (the bot in webhook mode): 100 posts a second with a wrong secret and 20 with the
  right one and a body that is not an update.

``--scale`` multiplies the attacks' rates and numbers (a smoke run: 0.1). Meanwhile ten other
people send /cases in turn, five a second. Printed for each run: the broadcast's fan-out time
against Telegram's floor (target at most 1.1 times, as without the attack), the other people's
answer time p50 / p99 (target p99 under 1 s), the reminder's lateness as the bot measured it
(target under 2 s), whether /healthz stayed 200 and the instance active throughout (targets:
yes), and the bot's peak resident memory (target under 120 MB). ``BENCH_SHOW_LOG=1`` prints
the end of the bot's log after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bench.broadcast import (
    MIGRATED_TO,
    TELEGRAM_RATE,
    TOKEN,
    Population,
    fake_api,
    population,
    stats,
)
from bench.load import REPOSITORY, nearest_rank, peak_rss, prepared_database, timings, until
from bench.load import _get as get_json
from bench.load import _post as post_json
from storage.database import Database
from storage.models import Case, Hearing, Subscription, utcnow

SECRET = "hostile-benchmark-webhook-secret-0123456789"
LOG_KEY = "hostile-benchmark-log-key-0123456789abcdef"
WEBHOOK_URL = "https://bot.example.org/telegram"
BYSTANDERS = range(50_000_000, 50_000_010)  # people who are not attacking: 5 commands a second
FLOODER = 60_000_000
GROUP_MEMBERS = 61_000_000
REMINDED = 20  # chats of the population that also follow the reminded case
STARTUP = 12.0  # seconds from preparing the database to an attack under way, about
HEALTH_EVERY = 0.5
RUNS = ("none", "calendar", "commands", "webhook")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def add_reminder(url: str, people: Population, due: datetime) -> None:
    """A case followed by a few chats, with a hearing whose 1-minute reminder is due at ``due``."""
    database = Database(url)
    try:
        async with database.writing() as session:
            session.add(Case(id="reminded", title="Reminded case"))
            await session.flush()
            session.add(
                Hearing(
                    case_id="reminded",
                    court="Zaisan district court",
                    city="Zaisan",
                    starts_at=due + timedelta(minutes=1),
                    timezone="Asia/Almaty",
                )
            )
            # Not the blocked chat (the population's first).
            chats = people.private_ids[1 : REMINDED + 1]
            now = utcnow()
            await session.execute(
                insert(Subscription),
                [{"chat_id": c, "case_id": "reminded", "created_at": now} for c in chats],
            )
    finally:
        await database.dispose()


@dataclass
class Bot:
    """The bot's process and where it logs."""

    process: asyncio.subprocess.Process
    log: Path

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def bot_process(root: str, url: str, port: int, *, webhook: bool) -> AsyncIterator[Bot]:
    """``hearing-watch run`` with the limits on; stopped with SIGINT, as a deploy does."""
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HEARINGWATCH_")},
            "HEARINGWATCH_TELEGRAM__TOKEN": TOKEN,
            "HEARINGWATCH_TELEGRAM__BASE_URL": f"{root}/bot",
            "HEARINGWATCH_DATABASE__URL": url,
            "HEARINGWATCH_SERVER__PORT": str(port),
            "HEARINGWATCH_REMINDERS__OFFSETS": '["1m"]',
            "HEARINGWATCH_PRIVACY__LOG_KEY": LOG_KEY,
            "PYTHONPATH": str(REPOSITORY),
        }
        if webhook:
            env |= {
                "HEARINGWATCH_TELEGRAM__MODE": "webhook",
                "HEARINGWATCH_TELEGRAM__WEBHOOK_URL": WEBHOOK_URL,
                "HEARINGWATCH_TELEGRAM__WEBHOOK_SECRET": SECRET,
            }
        log = Path(folder) / "bot.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "service.cli", "run", cwd=folder, env=env,
                stdout=output, stderr=output,
            )  # fmt: skip
        try:
            yield Bot(process, log)
        except BaseException:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                try:
                    async with asyncio.timeout(30):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()


@dataclass
class Watch:
    """/healthz asked every half second: how often it was not 200, and whether the instance
    was active every time."""

    asked: int = 0
    unhealthy: int = 0
    roles: set[str] = field(default_factory=set)

    async def run(self, port: int) -> None:
        while True:
            status, role = await asyncio.to_thread(health, port)
            self.asked += 1
            if status != 200:
                self.unhealthy += 1
            self.roles.add(role)
            await asyncio.sleep(HEALTH_EVERY)


def health(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status, str(json.load(response).get("role"))
    except urllib.error.HTTPError as exc:
        return exc.code, str(json.load(exc).get("role"))
    except (OSError, TimeoutError):
        return 0, "no answer"


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def etag_of(feed: str) -> str:
    with urllib.request.urlopen(feed, timeout=10) as response:  # noqa: S310 (loopback)
        return str(response.headers["ETag"] or '""')


def reminders_sent(page: str) -> float:
    """How many reminder messages reached Telegram, as the bot counted them."""
    count = re.search(r"^hearingwatch_reminder_lateness_seconds_count (\S+)$", page, re.M)
    return float(count.group(1)) if count else 0.0


def lateness(page: str) -> str:
    """The reminder's lateness from the bot's histogram: mean, and the bucket all fit in."""
    count = re.search(r"^hearingwatch_reminder_lateness_seconds_count (\S+)$", page, re.M)
    total = re.search(r"^hearingwatch_reminder_lateness_seconds_sum (\S+)$", page, re.M)
    if not count or not float(count.group(1)):
        return "none sent"
    n = float(count.group(1))
    buckets = re.findall(
        r'^hearingwatch_reminder_lateness_seconds_bucket\{le="([^"]+)"\} (\S+)$', page, re.M
    )
    bound = next(le for le, seen in buckets if float(seen) >= n)
    mean = float(total.group(1)) / n if total else float("nan")
    return f"mean {mean:.2f} s, all ≤ {bound} s"


async def bystanders(root: str, duration: float) -> None:
    """Ten people who are not attacking send /cases in turn, five a second."""
    deadline = time.monotonic() + duration
    turn = 0
    while time.monotonic() < deadline:
        chat = BYSTANDERS[turn % len(BYSTANDERS)]
        await asyncio.to_thread(
            post_json, root, "/_fake/messages", [{"chat_id": chat, "text": "/cases"}]
        )
        turn += 1
        await asyncio.sleep(0.2)


async def commands_attack(root: str, scale: float, group: int) -> None:
    """One person sends 300 commands in 10 s (a third forwarded); a group's 50 members /cases."""
    count = max(1, round(300 * scale))
    members = [
        {"chat_id": group, "user_id": GROUP_MEMBERS + i, "text": "/cases"}
        for i in range(max(1, round(50 * scale)))
    ]
    await asyncio.to_thread(post_json, root, "/_fake/messages", members)
    waves = 50
    for wave in range(waves):
        batch = [
            {
                "chat_id": FLOODER,
                "text": ("/cases", "/case tabarak", "/mysubs")[n % 3],
                "forwarded": n % 3 == 0,
            }
            for n in range(wave, count, waves)
        ]
        await asyncio.to_thread(post_json, root, "/_fake/messages", batch)
        await asyncio.sleep(10.0 / waves)


async def attacker(*args: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.attack", *args,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )  # fmt: skip
    out, _ = await process.communicate()
    return json.loads(out.decode() or "{}")  # type: ignore[no-any-return]


@dataclass
class Result:
    run: str
    fan_out: float
    floor: float
    answers: list[float]
    lateness: str
    watch: Watch
    leader_kept: bool
    peak_rss: int
    refused: int  # 429s the fake answered, to anyone
    attack: str

    def cells(self) -> list[str]:
        ms = [t * 1000 for t in self.answers] or [float("nan")]
        healthy = (
            "yes"
            if self.watch.unhealthy == 0
            else f"no ({self.watch.unhealthy}/{self.watch.asked})"
        )
        return [
            self.run,
            f"{self.fan_out:.1f} / {self.floor:.1f} = {self.fan_out / self.floor:.2f}",
            f"{nearest_rank(ms, 0.5):,.0f} / {nearest_rank(ms, 0.99):,.0f}",
            self.lateness,
            healthy,
            "yes" if self.leader_kept else f"no ({', '.join(sorted(self.watch.roles))})",
            f"{self.peak_rss / 2**20:.0f} MiB",
            str(self.refused),
            self.attack,
        ]


async def hostile_run(args: argparse.Namespace, run: str) -> Result:
    people = population(args.chats)
    port = free_port()
    webhook = run == "webhook"
    extra = ("--webhook-forward-to", f"http://127.0.0.1:{port}") if webhook else ()
    async with (
        prepared_database(args.database_url, people, broadcast=True) as url,
        fake_api(people, latency=args.latency, limits=True, extra=extra) as root,
    ):
        due = datetime.now(UTC) + timedelta(seconds=STARTUP + args.duration / 2)
        await add_reminder(url, people, due)
        async with bot_process(root, url, port, webhook=webhook) as bot:
            await until(lambda: health(port)[1] == "active", seconds=120, what="an active bot")
            await until(
                lambda: sum(stats(root)[1].values()) >= 60, seconds=60, what="the broadcast"
            )
            watch = Watch()
            watching = asyncio.create_task(watch.run(port))
            others = asyncio.create_task(bystanders(root, args.duration))
            attack = ""
            if run == "calendar":
                feed = f"http://127.0.0.1:{port}/calendar/tabarak.ics"
                etag = await asyncio.to_thread(etag_of, feed)
                outcome = await attacker(
                    "calendar", feed, "--rate", str(500 * args.scale),
                    "--duration", str(args.duration), "--connections", "100", "--etag", etag,
                )  # fmt: skip
                attack = (
                    f"{outcome.get('answered_per_second')}/s answered (p99"
                    f" {outcome.get('p99_ms')} ms): {outcome.get('statuses')}"
                )
            elif run == "commands":
                group = people.group_ids[1]  # not the one that migrates
                await commands_attack(root, args.scale, group)
            elif run == "webhook":
                outcome = await attacker(
                    "webhook", f"http://127.0.0.1:{port}/telegram", "--rate", str(100 * args.scale),
                    "--malformed", str(20 * args.scale), "--secret", SECRET,
                    "--duration", str(args.duration), "--connections", "100",
                )  # fmt: skip
                attack = f"{outcome.get('statuses')}"
            await others
            broadcast_chats = people.expected() | {people.blocked, people.migrating}
            await until(
                lambda: people.expected() <= set(stats(root)[1]),
                seconds=60 + args.chats / 10,
                what="the end of the broadcast",
            )
            await until(
                lambda: reminders_sent(metrics(port)) >= REMINDED,
                seconds=max(0.0, (due - datetime.now(UTC)).total_seconds()) + 90,
                what="the reminder",
            )
            watching.cancel()
            page = await asyncio.to_thread(metrics, port)
            peak = peak_rss(bot.process.pid)
            refused = stats(root)[0]
            log = bot.logged()
            if os.environ.get("BENCH_SHOW_LOG"):
                print(log[-20000:], file=sys.stderr)
            seen = timings(root)
            arrivals: list[list[float]] = get_json(root, "/_fake/arrivals")  # type: ignore[assignment]
            if run == "commands":
                dropped = re.findall(
                    r'^hearingwatch_updates_dropped_total\{reason="([^"]+)"\} (\S+)$', page, re.M
                )
                # Its answers go out at one a second (Telegram's pace for a chat): all of them.
                typed = sum(1 for n in range(max(1, round(300 * args.scale))) if n % 3)
                expected = min(typed, 20) + (typed > 20)
                with contextlib.suppress(TimeoutError):  # a reply refused (429) never comes
                    await until(
                        lambda: stats(root)[1].get(FLOODER, 0) >= expected,
                        seconds=40,
                        what="the flooder's answers",
                    )
                answered = stats(root)[1].get(FLOODER, 0)
                attack = f"flooder got {answered} of {expected} messages; dropped: " + ", ".join(
                    f"{r} {float(n):.0f}" for r, n in dropped
                )
    answers = [
        float(t["answered_at"]) - float(t["handed_at"])
        for t in seen
        if t["chat_id"] in BYSTANDERS and t["answered_at"] and t["handed_at"]
    ]
    broadcast = [at for at, chat, _ in arrivals if chat in broadcast_chats | {MIGRATED_TO}]
    first, last = min(broadcast), max(broadcast)
    sent_meanwhile = sum(1 for at, _, status in arrivals if status == 200 and first <= at <= last)
    leader_kept = watch.roles <= {"active"} and "lost the database lock" not in log
    return Result(
        run=run,
        fan_out=last - first,
        floor=(sent_meanwhile - 1) / TELEGRAM_RATE,
        answers=answers,
        lateness=lateness(page),
        watch=watch,
        leader_kept=leader_kept,
        peak_rss=peak,
        refused=refused,
        attack=attack,
    )


async def main_async(args: argparse.Namespace) -> None:
    database = "PostgreSQL" if args.database_url else "SQLite"
    rows = []
    for run in args.runs:
        result = await hostile_run(args, run)
        rows.append(result.cells())
        print(f"… {run}: {' | '.join(rows[-1])}", file=sys.stderr)
    print(
        f"\nA broadcast to {args.chats:,} chats (limits on, {args.latency * 1000:.0f} ms per"
        f" call) under attack for {args.duration:.0f} s, attacks at {args.scale:g}× the full"
        f" size; {database}, {os.cpu_count()} cores. Targets: fan-out ≤ 1.1× the floor, answers"
        " p99 < 1 s, reminders < 2 s late, /healthz 200 and leadership kept, RSS < 120 MB.\n"
    )
    print(
        "| attack | fan-out / floor s | others' answers p50 / p99 ms | reminder lateness"
        " | /healthz 200 | still active | peak RSS | 429s | the attack met |"
        "\n|---|---|---|---|---|---|---|---|---|"
    )
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=3000, help="chats the broadcast reaches")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per call")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds each attack lasts")
    parser.add_argument("--scale", type=float, default=1.0, help="attack size (smoke: 0.1)")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--runs",
        type=lambda value: [run for run in value.split(",") if run],
        default=list(RUNS),
        help=f"which of {','.join(RUNS)} to run (default: all)",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
