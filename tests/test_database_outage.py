"""The database goes away in the middle of a broadcast and comes back: nothing is lost.

PostgreSQL is cut off by a TCP proxy of the suite's own (the machine's server is never
stopped); SQLite's write lock is held by another connection for longer than the bot's busy
timeout. Either way every subscriber gets the broadcast once, the outage is logged once when it
starts and once when it ends, /healthz says 503 meanwhile, and the bot carries on afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.context import HearingWatchApp
from service.wiring import prepare_database
from storage import subscriptions
from storage.database import SQLITE_BUSY_TIMEOUT_MS, Database
from storage.models import ChatType, Hearing
from storage.queue import queue_figures
from tests.broadcasting import queue_broadcast
from tests.conftest import (
    DATABASE_URL_VAR,
    Clock,
    fake_with_chats,
    instance_of,
    make_settings,
    start_bot,
    stop_bot,
    until,
)
from tests.fakebot import FakeBotApi, UserRef
from tests.tcpproxy import TcpProxy, proxied_url

CHATS = list(range(70_001, 70_121))  # 4 seconds of sending at 30 a second
ON_POSTGRES = bool(os.environ.get(DATABASE_URL_VAR))


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with fake_with_chats(CHATS, latency=0.02) as api:
        yield api


def received(fake: FakeBotApi, text: str) -> dict[int, int]:
    counts = dict.fromkeys(CHATS, 0)
    for (chat_id, _), message in fake.messages.items():
        if chat_id in counts and message["text"] == text:
            counts[chat_id] += 1
    return counts


async def health(app: HearingWatchApp) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"http://127.0.0.1:{instance_of(app).port}/healthz")
    return response.status_code


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "jobs.outage"]


def locked(caplog: pytest.LogCaptureFixture) -> bool:
    """Whether the bot has reported SQLite's lock held by another process."""
    return any("database is locked" in line for line in outage_lines(caplog))


async def all_sent(app: HearingWatchApp) -> None:
    """Until no broadcast is being sent (every delivery written) and no reminder is due now."""
    instance = instance_of(app)
    async with asyncio.timeout(30):
        while True:
            async with app.bot_data.database.reading() as session:
                figures = await queue_figures(session)
            if figures.pending == 0 and instance.parts.reminders.planned.is_set():
                return
            await asyncio.sleep(0.1)


async def everyone_got_it_once_and_the_bot_carries_on(
    app: HearingWatchApp, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    await fake.wait_for(lambda: all(received(fake, "Before").values()), seconds=60)
    counts = received(fake, "Before")
    assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}
    async with asyncio.timeout(20):
        while await health(app) != 200:  # noqa: ASYNC110  (polling, as a monitor does)
            await asyncio.sleep(0.2)
    lines = outage_lines(caplog)
    assert len([line for line in lines if line.startswith("database unavailable")]) == 1, lines
    assert len([line for line in lines if line.startswith("database is back")]) == 1, lines

    # A broadcast sent afterwards reaches everyone, and commands are answered.
    await queue_broadcast(app.bot_data.database, CHATS, "After")
    await app.bot_data.signals.deliveries_queued()
    await fake.wait_for(lambda: all(received(fake, "After").values()), seconds=60)
    chat = fake.chats[CHATS[0]]
    reply = await fake.say(chat, UserRef(CHATS[0]), "/mysubs")
    assert "Tilek Tabarak" in reply["text"]


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL pass only")
async def test_postgresql_cut_mid_broadcast(
    fake: FakeBotApi, database_url: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    target = make_url(database_url)
    async with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        settings = make_settings(fake, proxied_url(database_url, proxy.port))
        app = await start_bot(settings, clock)
        try:
            await queue_broadcast(app.bot_data.database, CHATS, "Before")
            await app.bot_data.signals.deliveries_queued()
            await fake.wait_for(lambda: sum(received(fake, "Before").values()) >= 30)

            outage = instance_of(app).parts.database_outage
            await proxy.cut()
            async with asyncio.timeout(20):
                while await health(app) != 503:  # noqa: ASYNC110  (polling, as a monitor does)
                    await asyncio.sleep(0.2)
            # Down for a restart's worth of retries: the engine and the probes keep failing.
            failures = outage.errors
            await until(lambda: outage.errors >= failures + 5, seconds=60)
            assert sum(received(fake, "Before").values()) < len(CHATS)
            await proxy.restore()

            await everyone_got_it_once_and_the_bot_carries_on(app, fake, caplog)
        finally:
            await stop_bot(app)


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite pass only")
async def test_sqlite_write_lock_held_mid_broadcast(
    fake: FakeBotApi,
    database_url: str,
    tmp_path: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = make_settings(fake, database_url)
    app = await start_bot(settings, clock)
    path = make_url(database_url).database
    assert path is not None
    blocker = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        await queue_broadcast(app.bot_data.database, CHATS, "Before")
        await app.bot_data.signals.deliveries_queued()
        await fake.wait_for(lambda: sum(received(fake, "Before").values()) >= 30)

        # Another process's long write: the bot's writers wait their busy timeout, then fail.
        await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
        await until(lambda: locked(caplog), seconds=SQLITE_BUSY_TIMEOUT_MS / 1000 + 30)
        assert await health(app) == 503
        await asyncio.to_thread(blocker.execute, "ROLLBACK")

        await everyone_got_it_once_and_the_bot_carries_on(app, fake, caplog)
    finally:
        blocker.close()
        await stop_bot(app)


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite pass only")
async def test_a_reminder_due_during_an_outage_goes_out_after_it(
    fake: FakeBotApi,
    database_url: str,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock.run_from(datetime.now(UTC))
    settings = make_settings(fake, database_url, reminders={"offsets": ["2m"]})
    await prepare_database(settings)
    database = Database(database_url)
    due = clock() + timedelta(seconds=4)
    async with database.writing() as session:
        await subscriptions.subscribe(
            session, chat_id=CHATS[0], chat_type=ChatType.PRIVATE, case_id="tabarak"
        )
        session.add(
            Hearing(
                case_id="tabarak",
                court="Zharkent court",
                city="Zharkent",
                starts_at=due + timedelta(minutes=2),
                timezone="Asia/Almaty",
            )
        )
    await database.dispose()
    app = await start_bot(settings, clock)
    path = make_url(database_url).database
    assert path is not None
    blocker = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
        # The job fires at the due time and cannot write its broadcast.
        await until(lambda: locked(caplog), seconds=4 + SQLITE_BUSY_TIMEOUT_MS / 1000 + 30)
        assert not fake.sent_to(CHATS[0])
        await asyncio.to_thread(blocker.execute, "ROLLBACK")
        await fake.wait_for(lambda: fake.sent_to(CHATS[0]), seconds=30)
        await all_sent(app)  # a second one would have been queued before the first was done
        sent = [m["text"] for m in fake.sent_to(CHATS[0])]
        assert len(sent) == 1
        assert sent[0].startswith("⏰ Reminder")
        # How long until the start is computed as it goes out, after the outage.
        assert "Starts in 1 minute." in sent[0]
    finally:
        blocker.close()
        await stop_bot(app)
    lines = outage_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable: OperationalError: database is locked")
    assert lines[1].startswith("database is back after")
