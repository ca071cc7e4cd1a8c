"""Forum topics end to end: a supergroup organised in topics follows each case in the topic it
was subscribed from; a topic deleted or closed falls back to General, once, with one notice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from bot.chat_texts import SUBSCRIBED_HERE_NOW, TOPIC_GONE
from bot.context import HearingWatchApp
from service.settings import Settings
from storage.models import Subscription
from tests.conftest import ADMIN_ID, Clock, instance_of, make_settings, start_bot, stop_bot
from tests.fakebot import ChatRef, FakeBotApi, UserRef
from tests.fakebot.server import Json

ADMIN = UserRef(ADMIN_ID)
ALICE, BOB = UserRef(6001), UserRef(6002)
FORUM_ID = -1003000000001


def at(hour: int, minute: int, second: int = 0) -> datetime:
    """A moment on 16 December 2026, in Almaty time (UTC+5)."""
    return datetime(2026, 12, 16, hour - 5, minute, second, tzinfo=UTC)


@pytest.fixture
def settings(fake: FakeBotApi, database_url: str) -> Settings:
    return make_settings(fake, database_url, reminders={"offsets": ["5m"]})


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[HearingWatchApp]:
    clock.now = at(9, 0)
    app = await start_bot(settings, clock)
    yield app
    await stop_bot(app)


@pytest.fixture
def forum(fake: FakeBotApi) -> ChatRef:
    forum = fake.forum(FORUM_ID, title="Kazakh refugees: support")
    fake.set_member(forum, ALICE, "administrator")
    fake.set_member(forum, BOB, "member")
    return forum


def in_general(fake: FakeBotApi, chat: ChatRef, fragment: str) -> list[Json]:
    return [
        m for m in fake.sent_to(chat.id) if fragment in m["text"] and "message_thread_id" not in m
    ]


def in_topic(fake: FakeBotApi, chat: ChatRef, topic: int, fragment: str) -> list[Json]:
    return [
        m
        for m in fake.sent_to(chat.id)
        if fragment in m["text"] and m.get("message_thread_id") == topic
    ]


async def topics_of(bot: HearingWatchApp, chat_id: int) -> dict[str, int | None]:
    async with bot.bot_data.database.reading() as session:
        rows = await session.execute(
            select(Subscription.case_id, Subscription.message_thread_id).where(
                col(Subscription.chat_id) == chat_id
            )
        )
        return {case_id: thread for case_id, thread in rows}


async def news(fake: FakeBotApi, case_id: str, text: str) -> None:
    """The admin sends news of a case to its subscribers."""
    admin = fake.private_chat(ADMIN)
    preview = await fake.say(admin, ADMIN, f"/update {case_id} {text}")
    send = preview["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake.click(admin, ADMIN, preview, send)


async def test_each_case_goes_to_the_topic_it_was_subscribed_from(
    bot: HearingWatchApp, fake: FakeBotApi, forum: ChatRef, clock: Clock
) -> None:
    courts, zaisan = fake.open_topic(forum, "Courts"), fake.open_topic(forum, "Zaisan")
    answer = await fake.say(forum, ALICE, "/subscribe tabarak", thread=courts)
    assert "now follows" in answer["text"]
    assert answer["message_thread_id"] == courts  # answered in the topic it was asked in
    refused = await fake.say(forum, BOB, "/subscribe musakhan-alimuly", thread=zaisan)
    assert refused["message_thread_id"] == zaisan
    await fake.say(forum, ALICE, "/subscribe musakhan-alimuly", thread=zaisan)
    listing = await fake.say(forum, BOB, "/mysubs")  # from General: answered in General
    assert "message_thread_id" not in listing
    assert await topics_of(bot, forum.id) == {"tabarak": courts, "musakhan-alimuly": zaisan}

    admin = fake.private_chat(ADMIN)
    await fake.say(admin, ADMIN, "/addhearing tabarak 2026-12-16 10:00 Zharkent court; Zharkent")
    clock.run_from(at(9, 54, 57))
    await instance_of(bot).parts.reminders.reconcile()
    reminder = await fake.wait_for(lambda: in_topic(fake, forum, courts, "⏰ Reminder"))
    assert "Tilek Tabarak" in reminder[0]["text"]
    await news(fake, "musakhan-alimuly", "The appeal is heard in March.")
    await fake.wait_for(lambda: in_topic(fake, forum, zaisan, "The appeal is heard in March."))
    assert not in_general(fake, forum, "⏰ Reminder")


async def test_one_case_lives_in_one_topic_and_general_stays_general(
    bot: HearingWatchApp, fake: FakeBotApi, forum: ChatRef
) -> None:
    courts, news_topic = fake.open_topic(forum, "Courts"), fake.open_topic(forum, "News")
    await fake.say(forum, ALICE, "/subscribe tabarak", thread=courts)
    moved = await fake.say(forum, ALICE, "/subscribe tabarak", thread=news_topic)
    assert moved["html"] == SUBSCRIBED_HERE_NOW.format(title="Tilek Tabarak")
    assert moved["message_thread_id"] == news_topic
    assert await topics_of(bot, forum.id) == {"tabarak": news_topic}
    again = await fake.say(forum, ALICE, "/subscribe tabarak", thread=news_topic)
    assert "already follows" in again["text"]
    await fake.say(forum, ALICE, "/subscribe tabarak")  # from General: it moves to General
    assert await topics_of(bot, forum.id) == {"tabarak": None}
    await news(fake, "tabarak", "A hearing date is set.")
    await fake.wait_for(lambda: in_general(fake, forum, "A hearing date is set."))


@pytest.mark.parametrize(
    ("gone", "telegram_says"),
    [("delete_topic", "message thread not found"), ("close_topic", "TOPIC_CLOSED")],
)
async def test_a_topic_gone_falls_back_to_general_once_with_one_notice(
    bot: HearingWatchApp, fake: FakeBotApi, forum: ChatRef, gone: str, telegram_says: str
) -> None:
    courts = fake.open_topic(forum, "Courts")
    await fake.say(forum, ALICE, "/subscribe tabarak", thread=courts)
    await fake.say(forum, ALICE, "/subscribe musakhan-alimuly", thread=courts)
    await news(fake, "tabarak", "First news.")
    await fake.wait_for(lambda: in_topic(fake, forum, courts, "First news."))

    getattr(fake, gone)(forum, courts)
    await news(fake, "tabarak", "Second news.")
    await fake.wait_for(lambda: in_general(fake, forum, "Second news."))
    notice = TOPIC_GONE.split(",")[0]
    await fake.wait_for(lambda: in_general(fake, forum, notice))
    # Nothing lost, and everything of that topic moved: the other case's news goes to General
    # at once, without meeting the error again.
    assert await topics_of(bot, forum.id) == {"tabarak": None, "musakhan-alimuly": None}
    await news(fake, "musakhan-alimuly", "Third news.")
    await news(fake, "tabarak", "Fourth news.")
    await fake.wait_for(lambda: in_general(fake, forum, "Fourth news."))
    await fake.wait_for(lambda: in_general(fake, forum, "Third news."))
    assert len(in_general(fake, forum, notice)) == 1
    refused = [
        call
        for call in fake.calls_to("sendMessage")
        if call.error is not None and telegram_says in call.error.description
    ]
    assert len(refused) == 1
