"""Reminder benchmark: due-time accuracy and a restart mid fan-out, through the real bot.

    python -m bench.reminders [--chats 3000] [--latency 0.1]

The real bot (service.instance.Instance) runs against the fake Bot API in its own process with
Telegram's limits and a round trip per call. A hearing is put 65 seconds ahead with a 1-minute
reminder, so the APScheduler job fires 5 seconds after the start; the table says when the first
and the last reminder reached the fake, against the due instant and the floor the limits allow.
A second run stops the bot (as a deploy does) in the middle of the fan-out and starts it again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.broadcast import TOKEN, Population, fake_api, fake_stats, fill, population, stats
from service.instance import Instance
from service.settings import Settings
from storage.database import Database
from storage.models import Case, Hearing

LEAD = 5.0  # seconds between the start and the due instant
TELEGRAM_RATE = 30.0


async def start(settings: Settings) -> Instance:
    instance = Instance(settings)
    await instance.start()
    await instance.wait_active()  # the engine, and the reminder jobs
    return instance


async def stop(instance: Instance) -> None:
    await instance.stop()


async def prepare(url: str, people: Population) -> datetime:
    """Subscribers, and a hearing whose 1-minute reminder is due LEAD seconds from now."""
    database = Database(url)
    await fill(database, people)
    due = datetime.now(UTC) + timedelta(seconds=LEAD)
    async with database.writing() as session:
        case = await session.get(Case, "bench")
        assert case is not None
        session.add(
            Hearing(
                case_id="bench",
                court="Zaisan district court",
                city="Zaisan",
                starts_at=due + timedelta(minutes=1),
                timezone="Asia/Almaty",
            )
        )
    await database.dispose()
    return due


async def wait_for_all(root: str, people: Population, seconds: float) -> dict[int, int]:
    expected = people.expected()
    deadline = time.monotonic() + seconds
    while True:
        _, received = stats(root)
        if all(received.get(chat) for chat in expected) or time.monotonic() > deadline:
            return received
        await asyncio.sleep(1.0)


async def run(people: Population, latency: float, *, restart: bool) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        async with fake_api(people, latency=latency, limits=True) as root:
            settings = Settings(
                telegram={"token": TOKEN, "base_url": f"{root}/bot"},
                server={"port": 0},
                database={"url": url},
                reminders={"offsets": ["1m"]},
            )
            due = await prepare(url, people)
            app = await start(settings)
            if restart:
                # Polling another process; nothing here could set an event.
                while sum(stats(root)[1].values()) < people.requests // 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.5)
                await stop(app)  # a deploy in the middle of the fan-out
                app = await start(settings)
            try:
                received = await wait_for_all(root, people, seconds=people.requests / 20 + 60)
            finally:
                await stop(app)
            seen = fake_stats(root)
    assert seen.first_send_at is not None
    assert seen.last_send_at is not None
    expected = people.expected()
    lost = sum(1 for chat in expected if not received.get(chat))
    twice = sum(1 for chat in expected if received.get(chat, 0) > 1)
    first = seen.first_send_at - due.timestamp()
    last = seen.last_send_at - due.timestamp()
    floor = (people.requests - 1) / TELEGRAM_RATE
    name = "restart mid fan-out" if restart else "one run"
    return [
        name,
        f"{people.private + people.groups:,}",
        f"{first:.2f}",
        f"{last:.1f}",
        f"{floor:.1f}",
        f"{last / floor:.3f}",
        str(seen.too_many),
        str(lost),
        str(twice),
    ]


async def main_async(args: argparse.Namespace) -> None:
    people = population(args.chats)
    rows = []
    for restart in (False, True):
        rows.append(await run(people, args.latency, restart=restart))
        print(f"… {rows[-1][0]} done", file=sys.stderr)
    print(
        f"\nReminder to {args.chats:,} chats, {args.latency * 1000:.0f} ms per call, SQLite,"
        f" {os.cpu_count()} cores; times in seconds after the due instant\n"
    )
    header = ["run", "chats", "first sent", "last sent", "floor", "ratio", "429s", "lost", "twice"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.1)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
