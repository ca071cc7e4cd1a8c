"""A stalled event loop in the middle of a broadcast (a slow callback, a busy machine) never makes
the bot overshoot Telegram's limits when it resumes: the sends it missed are not caught up.

Counted as Telegram counts, by the fake Bot API at the arrival of each request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot
from telegram.request import HTTPXRequest

from bot.context import HearingWatchApp
from jobs.delivery import DeliveryEngine, EngineSettings
from jobs.limits import Limits
from jobs.sender import telegram_send
from storage.database import Database
from tests.broadcasting import queue_broadcast
from tests.conftest import fake_with_chats, instance_of
from tests.engines import WatchedQueue, send_everything
from tests.fakebot import FakeBotApi, FloodLimits, UserRef, busiest
from tests.test_delivery import follow, queue

CHATS = list(range(97_001, 97_151))  # five seconds at Telegram's 30 a second
READERS = [UserRef(98_000 + n) for n in range(24)]
STALL = 0.5  # seconds the loop is blocked, each time


async def until(probe: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until ``probe()`` holds, looking every few milliseconds."""
    async with asyncio.timeout(seconds):
        while not probe():  # noqa: ASYNC110  (the pacer's queue has no event to wait on)
            await asyncio.sleep(0.005)


def stall_the_loop() -> None:
    """A callback that blocks the event loop, as a slow one or a descheduled process does."""
    time.sleep(STALL)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with fake_with_chats(CHATS, limits=FloodLimits(), latency=0.02) as api:
        yield api


async def test_a_stalled_loop_mid_broadcast_with_replies_waiting_stays_within_the_limit(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    """People write during the broadcast, so replies wait for turns; the loop stalls three times
    while they wait. No second at the fake holds more than 30 messages, and nothing is
    refused."""
    await queue_broadcast(bot.bot_data.database, CHATS)
    await bot.bot_data.signals.deliveries_queued()
    loop = asyncio.get_running_loop()
    for stalls, after in enumerate((20, 60, 100)):
        await fake.wait_for(lambda n=after: sum(fake.received(c) for c in CHATS) >= n, 30)
        readers = READERS[stalls * 8 : stalls * 8 + 8]
        for user in readers:
            fake.send_text(fake.private_chat(user), user, "/help")
        # Once the replies wait for their turns, the loop stalls.
        await until(lambda: instance_of(bot).parts.engine.pacer.waiting >= 4)
        loop.call_soon(stall_the_loop)
    await fake.wait_for(lambda: all(fake.received(c) for c in CHATS), seconds=60)
    await fake.wait_for(lambda: all(fake.sent_to(u.id) for u in READERS), seconds=30)
    arrivals = [call.at for call in fake.calls_to("sendMessage")]
    assert busiest(arrivals, 1.0) <= 30
    assert fake.too_many_requests == 0
    assert all(fake.received(c) == 1 for c in CHATS)


GROUPS = [-99_001, -99_002]
GROUP_WINDOW = 2.0  # a "minute" of two seconds, to keep the test short
GROUP_LIMITS = FloodLimits(per_second=200, group_per_minute=5, group_window=GROUP_WINDOW)


async def test_a_stalled_loop_keeps_the_per_group_limit(database: Database) -> None:
    """Broadcasts to two groups, five a (compressed) minute each, with the loop stalled
    between them: no window at the fake holds more than five for one group."""
    async with FakeBotApi(limits=GROUP_LIMITS, latency=0.01) as fake:
        request = HTTPXRequest(connection_pool_size=16)
        bot: ExtBot[None] = ExtBot(
            fake.token,
            base_url=fake.base_url,
            request=request,
            defaults=Defaults(parse_mode=ParseMode.HTML),
        )
        async with bot:
            await follow(database, fake, GROUPS)
            for n in range(12):
                await queue(database, f"message {n}")
            engine = DeliveryEngine(
                WatchedQueue(database),
                telegram_send(bot),
                EngineSettings(
                    limits=Limits(per_second=200, group_per_minute=5, group_window=GROUP_WINDOW),
                    flush_interval=0.02,
                    poll_interval=0.1,
                ),
            )
            loop = asyncio.get_running_loop()
            for delay in (0.5, 2.2, 3.9):
                loop.call_later(delay, stall_the_loop)
            await send_everything(engine)
        for group in GROUPS:
            arrivals = [
                call.at
                for call in fake.calls_to("sendMessage")
                if int(call.params["chat_id"]) == group
            ]
            assert len(arrivals) == 12
            assert busiest(arrivals, GROUP_WINDOW) <= 5
        assert fake.too_many_requests == 0
