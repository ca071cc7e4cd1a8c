"""Several `hearing-watch run` processes on one database: one active, never a message twice.

On PostgreSQL any number share the database: one is active, the others stand by and take over
when it is killed. On SQLite a second process on the same file refuses to start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.instance import Instance
from service.settings import Settings
from service.wiring import prepare_database
from storage.database import Database
from storage.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
from tests.broadcasting import queue_broadcast
from tests.conftest import ADMIN_ID, DATABASE_URL_VAR, Clock, fake_with_chats, make_settings
from tests.fakebot import FakeBotApi, FloodLimits, UserRef
from tests.processes import BotProcess, start_bot_process

CHATS = list(range(80_001, 80_201))
ON_POSTGRES = bool(os.environ.get(DATABASE_URL_VAR))


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with fake_with_chats(CHATS, limits=FloodLimits(), latency=0.05) as api:
        yield api


def delivered(fake: FakeBotApi, text: str) -> list[int]:
    return [
        chat_id
        for (chat_id, _), message in fake.messages.items()
        if chat_id in CHATS and message["text"] == text
    ]


async def until_done(database: Database, broadcast_id: int) -> None:
    """Until a broadcast is done: every delivery sent and recorded, so nothing more goes."""
    async with asyncio.timeout(60):
        while True:
            async with database.reading() as session:
                broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is not None and broadcast.status == BroadcastStatus.DONE:
                return
            await asyncio.sleep(0.1)


async def sent_recorded(database: Database, broadcast_id: int) -> int:
    async with database.reading() as session:
        query = (
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.broadcast_id == broadcast_id, Delivery.status == DeliveryStatus.SENT)
        )
        return int((await session.execute(query)).scalar_one())


async def settled(fake: FakeBotApi, text: str, quiet: float = 0.5) -> int:
    """How many arrived once nothing new has for ``quiet`` seconds (requests of a killed
    process still land)."""
    count = len(delivered(fake, text))
    while True:
        await asyncio.sleep(quiet)
        now = len(delivered(fake, text))
        if now == count:
            return count
        count = now


async def active_and_standby(
    first: BotProcess, second: BotProcess
) -> tuple[BotProcess, BotProcess]:
    async with asyncio.timeout(60):
        while True:
            roles = [await first.health(), await second.health()]
            names = [answer[1].get("role") if answer else None for answer in roles]
            if sorted(map(str, names)) == ["active", "standby"]:
                return (first, second) if names[0] == "active" else (second, first)
            await asyncio.sleep(0.2)


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL pass only: SQLite serves one instance")
async def test_two_instances_one_active_the_standby_takes_over_when_it_is_killed(
    fake: FakeBotApi, tmp_path: Path, database_url: str
) -> None:
    await prepare_database(Settings(database={"url": database_url}))
    database = Database(database_url)
    first = await start_bot_process(tmp_path / "a", fake, database_url)
    second = await start_bot_process(tmp_path / "b", fake, database_url)
    try:
        active, standby = await active_and_standby(first, second)
        health = await standby.health()
        assert health is not None
        assert health[0] == 200  # a standby is healthy

        # A broadcast reaches every subscriber exactly once with both running.
        one = await queue_broadcast(database, CHATS, "One")
        await fake.wait_for(lambda: len(delivered(fake, "One")) >= len(CHATS), seconds=60)
        await until_done(database, one)  # sent and recorded: nothing more will go
        assert sorted(delivered(fake, "One")) == CHATS

        # The active one is killed mid-broadcast; the standby takes over and finishes.
        broadcast = await queue_broadcast(database, CHATS, "Two")
        await fake.wait_for(lambda: len(delivered(fake, "Two")) >= 40, seconds=60)
        assert active.process is not None
        active.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await active.exited()
        at_kill = await settled(fake, "Two")
        recorded = await sent_recorded(database, broadcast)
        await standby.wait_for_role("active", seconds=30)
        takeover = time.monotonic() - killed_at
        assert takeover < 15, takeover
        await fake.wait_for(lambda: set(delivered(fake, "Two")) == set(CHATS), seconds=90)
        await until_done(database, broadcast)
        twice = len(delivered(fake, "Two")) - len(CHATS)
        # Only what the killed process had sent but not yet recorded can come twice.
        assert twice <= at_kill - recorded, (twice, at_kill, recorded)
        assert fake.too_many_requests == 0
    finally:
        for process in (first, second):
            if process.process is not None and process.process.returncode is None:
                await process.stop()
        await database.dispose()
    assert "Traceback" not in first.output + second.output


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite pass only")
async def test_a_second_instance_on_one_sqlite_file_refuses_to_start(
    fake: FakeBotApi, tmp_path: Path, database_url: str
) -> None:
    first = await start_bot_process(tmp_path / "a", fake, database_url)
    try:
        await first.wait_for_role("active")
        second = await start_bot_process(tmp_path / "b", fake, database_url)
        assert await second.exited(seconds=30) == 1
        assert len(second.lines) == 1, second.lines
        assert second.lines[0].startswith("hearing-watch: another hearing-watch (pid ")
        assert "is running on" in second.lines[0]
        health = await first.health()
        assert health is not None
        assert health[0] == 200  # the first is unaffected
        assert health[1]["role"] == "active"
    finally:
        assert await first.stop() == 0


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL pass only: SQLite serves one instance")
async def test_a_change_made_through_a_standby_reaches_the_active_instance_at_once(
    fake: FakeBotApi, database_url: str, clock: Clock
) -> None:
    """In webhook mode Telegram may post to any instance: a hearing added through a standby
    gets its reminder jobs on the active one (LISTEN/NOTIFY), not at the next reconciliation."""
    settings = make_settings(
        fake,
        database_url,
        telegram={
            "mode": "webhook",
            "webhook_url": "https://bot.example.org/hook",
            "webhook_secret": "a-webhook-secret-of-32-characters",
        },
    )
    await prepare_database(settings)
    active = Instance(settings, clock=clock)
    standby = Instance(settings, clock=clock)
    try:
        await active.start()
        await active.wait_active()
        await standby.start()
        assert standby.role == "standby"
        await fake.wait_for(lambda: fake.webhook)
        fake.webhook_forward_to = f"http://127.0.0.1:{standby.port}"  # the proxy picks it

        admin = fake.private_chat(UserRef(ADMIN_ID))
        reply = await fake.say(
            admin,
            UserRef(ADMIN_ID),
            "/addhearing tabarak 2026-12-16 10:00 Zharkent court; Zharkent",
        )
        assert "Added hearing" in reply["text"]
        number = reply["text"].split("#")[1].split()[0]
        assert active.app.job_queue is not None
        jobs = active.app.job_queue
        async with asyncio.timeout(3):
            while f"reminder:{number}:1d" not in {job.name for job in jobs.jobs()}:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert standby.app.job_queue is not None
        assert not standby.app.job_queue.jobs()  # a standby schedules nothing
    finally:
        await standby.stop()
        await active.stop()


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL pass only: SQLite serves one instance")
async def test_a_guided_command_goes_on_through_another_instance(
    database_url: str, clock: Clock
) -> None:
    """In webhook mode the next answer may reach another instance: the flow is in the database,
    so that one asks the next question."""
    # No flood limits: each instance paces its own answers, and one chat gets them from two.
    async with FakeBotApi() as fake:
        await _guided_through_two_instances(fake, database_url, clock)


async def _guided_through_two_instances(fake: FakeBotApi, database_url: str, clock: Clock) -> None:
    settings = make_settings(
        fake,
        database_url,
        telegram={
            "mode": "webhook",
            "webhook_url": "https://bot.example.org/hook",
            "webhook_secret": "a-webhook-secret-of-32-characters",
        },
    )
    await prepare_database(settings)
    active = Instance(settings, clock=clock)
    standby = Instance(settings, clock=clock)
    try:
        await active.start()
        await active.wait_active()
        await standby.start()
        await fake.wait_for(lambda: fake.webhook)
        admin, user = fake.private_chat(UserRef(ADMIN_ID)), UserRef(ADMIN_ID)
        fake.webhook_forward_to = f"http://127.0.0.1:{active.port}"
        await fake.say(admin, user, "/addcase")
        title = await fake.say(admin, user, "free-ali")
        assert title["text"].startswith("What is its title")
        fake.webhook_forward_to = f"http://127.0.0.1:{standby.port}"  # the proxy picks the other
        description = await fake.say(admin, user, "Ali Free")
        assert description["text"].startswith("A description")
        done = await fake.say(admin, user, "-")  # skipped
        assert "Added the case free-ali: Ali Free" in done["text"]
    finally:
        await standby.stop()
        await active.stop()
