"""Stop: a broadcast under way stops, also in an engine that has read a page of it and is
sending from it; chats that got it keep it, and its figures say what was sent and stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot

from jobs.delivery import DeliveryEngine, EngineSettings
from jobs.limits import Limits
from jobs.sender import telegram_send
from storage import broadcasts
from storage.database import Database
from storage.models import Broadcast, BroadcastStatus, utcnow
from storage.schedule_file import SEED_FILE, seed_if_empty
from tests.broadcasting import queue_broadcast
from tests.engines import WatchedQueue
from tests.fakebot import FakeBotApi, UserRef

CHATS = list(range(7000, 7040))
RATE = 20  # a second: slow enough to stop half-way


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        for chat_id in CHATS:
            api.private_chat(UserRef(chat_id))
        yield api


@pytest.fixture
async def sender(fake: FakeBotApi) -> AsyncIterator[ExtBot[None]]:
    bot: ExtBot[None] = ExtBot(
        fake.token, base_url=fake.base_url, defaults=Defaults(parse_mode=ParseMode.HTML)
    )
    async with bot:
        yield bot


@pytest.fixture
async def database(database: Database) -> Database:
    """The migrated database with the seed's cases."""
    async with database.writing() as session:
        await seed_if_empty(session, path=SEED_FILE, default_zone="Asia/Almaty")
    return database


def sent(fake: FakeBotApi) -> int:
    return sum(fake.received(chat_id) for chat_id in CHATS)


@pytest.mark.parametrize("woken", [True, False], ids=["woken", "finds-out-by-itself"])
async def test_a_stopped_broadcast_sends_no_more(
    database: Database, fake: FakeBotApi, sender: ExtBot[None], woken: bool
) -> None:
    """Woken: the instance where Stop was pressed (or told through the database). Not woken:
    another instance's engine, which finds out when it next looks (every poll interval)."""
    queue = WatchedQueue(database)
    engine = DeliveryEngine(
        queue,
        telegram_send(sender),
        # One page holds the whole broadcast: the engine is mid-page when Stop comes.
        EngineSettings(limits=Limits(per_second=RATE), page=200, poll_interval=0.2),
    )
    broadcast_id = await queue_broadcast(database, CHATS, "News")
    running = asyncio.create_task(engine.run())
    try:
        await fake.wait_for(lambda: sent(fake) >= 5)
        async with database.writing() as session:
            figures = await broadcasts.stop(
                session, broadcast_id=broadcast_id, actor=1, now=utcnow()
            )
        at_stop = sent(fake)
        if woken:
            engine.wake()
        await queue.until_finished({broadcast_id}, seconds=10)  # the engine let it go
        after_stop = sent(fake) - at_stop
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert figures is not None
    # Only what was already on its way: one in flight (woken), or what leaves at 20 a second
    # before the next look (0.2 s).
    assert after_stop <= (1 if woken else 1 + RATE * 0.2)
    async with database.reading() as session:
        progress = await broadcasts.progress(session, broadcast_id=broadcast_id)
        stopped = await session.get(Broadcast, broadcast_id)
    assert stopped is not None
    assert stopped.status == BroadcastStatus.STOPPED
    assert progress.sent == sent(fake)  # every message that left is recorded as sent
    assert progress.sent + progress.stopped == len(CHATS)
    assert progress.stopped >= len(CHATS) - 10
    assert all(fake.received(chat_id) <= 1 for chat_id in CHATS)


async def test_stop_is_refused_once_a_broadcast_is_done(database: Database) -> None:
    broadcast_id = await queue_broadcast(database, CHATS[:2], "News")
    async with database.writing() as session:
        await broadcasts.finish(session, broadcast_id=broadcast_id, now=utcnow())
        assert (
            await broadcasts.stop(session, broadcast_id=broadcast_id, actor=1, now=utcnow()) is None
        )
