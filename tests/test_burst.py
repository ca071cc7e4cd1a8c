"""A link goes viral: hundreds of chats subscribe in the same moment, and every one of them is
subscribed and told so. A busy database is a queue, not an outage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.context import HearingWatchApp
from storage.models import Subscription
from tests.conftest import Clock, make_settings, start_bot, stop_bot
from tests.fakebot import FakeBotApi, UserRef

PEOPLE = [UserRef(31_000_000 + n) for n in range(300)]


@pytest.fixture
async def fast_bot(
    fake: FakeBotApi, database_url: str, clock: Clock
) -> AsyncIterator[HearingWatchApp]:
    """The bot with Telegram's pace lifted, so that the test waits for the database only."""
    settings = make_settings(
        fake,
        database_url,
        delivery={"messages_per_second": 1000, "chat_messages_per_second": 1000},
    )
    app = await start_bot(settings, clock)
    yield app
    await stop_bot(app)


async def test_three_hundred_chats_subscribing_at_once_are_all_subscribed_and_told(
    fast_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    for person in PEOPLE:
        fake.send_text(fake.private_chat(person), person, "/subscribe tabarak")
    await fake.wait_for(lambda: all(fake.sent_to(p.id) for p in PEOPLE), seconds=120)
    answers = {p.id: fake.sent_to(p.id)[0]["text"] for p in PEOPLE}
    refused = {chat: text for chat, text in answers.items() if "now follows" not in text}
    assert not refused
    async with fast_bot.bot_data.database.reading() as session:
        stored = await session.execute(
            select(func.count()).select_from(Subscription).where(Subscription.case_id == "tabarak")
        )
    assert stored.scalar_one() == len(PEOPLE)
