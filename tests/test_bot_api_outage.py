"""Telegram out of reach mid-broadcast, or refusing getUpdates: told once, waited out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.context import HearingWatchApp
from storage import broadcasts
from tests.broadcasting import queue_broadcast
from tests.conftest import Clock, fake_with_chats, instance_of, make_settings, start_bot, stop_bot
from tests.fakebot import FakeBotApi, UserRef
from tests.tcpproxy import TcpProxy

CHATS = list(range(90_001, 90_121))


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with fake_with_chats(CHATS, latency=0.02) as api:
        yield api


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "jobs.outage"]


async def test_a_broadcast_waits_out_an_unreachable_bot_api(
    fake: FakeBotApi, database_url: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with TcpProxy("127.0.0.1", fake.port) as proxy:
        settings = make_settings(
            fake, database_url, telegram={"base_url": f"http://127.0.0.1:{proxy.port}/bot"}
        )
        app = await start_bot(settings, clock)
        try:
            broadcast_id = await queue_broadcast(app.bot_data.database, CHATS)
            await app.bot_data.signals.deliveries_queued()
            await fake.wait_for(lambda: sum(fake.received(c) for c in CHATS) >= 30)
            await proxy.cut()
            await asyncio.sleep(6)  # far longer than the engine's 5 attempts would have lasted
            await proxy.restore()
            await fake.wait_for(lambda: all(fake.received(c) for c in CHATS), seconds=60)
            async with asyncio.timeout(30):
                while True:
                    async with app.bot_data.database.reading() as session:
                        progress = await broadcasts.progress(session, broadcast_id=broadcast_id)
                    if not progress.pending:
                        break
                    await asyncio.sleep(0.2)
        finally:
            await stop_bot(app)
    assert progress.sent == len(CHATS)
    assert progress.failed == 0  # nothing given up on: an outage is not the chat's fault
    # Requests cut in flight may have arrived before the cut: at most those come twice.
    twice = sum(fake.received(c) for c in CHATS) - len(CHATS)
    assert twice <= settings.delivery.concurrency
    lines = outage_lines(caplog)
    assert len([line for line in lines if line.startswith("Bot API unavailable")]) == 1, lines
    assert len([line for line in lines if line.startswith("Bot API is back")]) == 1, lines
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]


async def test_a_refused_get_updates_is_told_once_until_it_passes_again(
    bot: HearingWatchApp, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone set a webhook for this token (or another process polls): getUpdates answers
    409 until it is removed; the log says so once, and once when polling works again."""
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient() as client:
        api = f"{fake.base_url}{fake.token}"
        await client.post(f"{api}/setWebhook", data={"url": "https://elsewhere.example/hook"})
        async with asyncio.timeout(10):
            while not instance_of(bot).parts.polling_outage.down:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # PTB retries, with growing pauses
        await client.post(f"{api}/deleteWebhook")
    chat = fake.private_chat(UserRef(CHATS[0]))
    reply = await fake.say(chat, UserRef(CHATS[0]), "/help", seconds=40)
    assert "/cases" in reply["text"]
    lines = [line for line in outage_lines(caplog) if line.startswith("Polling for updates")]
    assert len(lines) == 2, lines
    assert "Conflict" in lines[0]
    assert lines[1].startswith("Polling for updates is back after")
