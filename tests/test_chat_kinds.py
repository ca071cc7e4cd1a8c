"""Topics and channels in storage, and the chat picker's requests, without Telegram."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.i18n import LANGUAGES
from bot.picker import ARGUMENT_MASK, Action, Request, decode, fingerprint
from storage import broadcasts, chats, subscriptions, topics
from storage.database import Database
from storage.models import (
    Broadcast,
    BroadcastKind,
    Case,
    ChatType,
    Delivery,
    DeliveryStatus,
    Subscription,
    utcnow,
)
from storage.queue import claim_page
from storage.subscriptions import SubscribeResult
from storage.topics import TopicNotice

FORUM = -1005000000001
NOTICE = TopicNotice("Gone", {"ru": "Тема закрыта", "kk": "Тақырып жабылды"})


async def seeded(database: Database) -> None:
    async with database.writing() as session:
        session.add(Case(id="tabarak", title="Tilek Tabarak"))
        session.add(Case(id="alimuly", title="Kaster Musakhan and Murager Alimuly"))


async def topic_of(database: Database, chat_id: int, case_id: str) -> int | None:
    async with database.reading() as session:
        row = await session.get(Subscription, (chat_id, case_id))
        assert row is not None
        return row.message_thread_id


async def test_a_case_lives_in_one_topic_of_a_forum(database: Database) -> None:
    await seeded(database)

    async def subscribe(thread: int | None, *, move: bool = True) -> SubscribeResult:
        async with database.writing() as session:
            return await subscriptions.subscribe(
                session,
                chat_id=FORUM,
                chat_type=ChatType.SUPERGROUP,
                case_id="tabarak",
                thread_id=thread,
                move=move,
            )

    assert await subscribe(11) is SubscribeResult.SUBSCRIBED
    assert await subscribe(11) is SubscribeResult.ALREADY_SUBSCRIBED
    assert await subscribe(12) is SubscribeResult.MOVED
    assert await topic_of(database, FORUM, "tabarak") == 12
    assert await subscribe(None, move=False) is SubscribeResult.ALREADY_SUBSCRIBED  # picker
    assert await topic_of(database, FORUM, "tabarak") == 12
    assert await subscribe(None) is SubscribeResult.MOVED  # from General
    assert await topic_of(database, FORUM, "tabarak") is None


async def test_deliveries_carry_their_topic_and_fall_back_to_general_once(
    database: Database,
) -> None:
    await seeded(database)
    now = utcnow()
    async with database.writing() as session:
        for case_id, thread in (("tabarak", 11), ("alimuly", 11)):
            await subscriptions.subscribe(
                session,
                chat_id=FORUM,
                chat_type=ChatType.SUPERGROUP,
                case_id=case_id,
                thread_id=thread,
            )
        first = await broadcasts.start_now(
            session,
            kind=BroadcastKind.UPDATE,
            case_id="tabarak",
            text="a",
            created_by=None,
            now=now,
        )
        second = await broadcasts.start_now(
            session,
            kind=BroadcastKind.UPDATE,
            case_id="alimuly",
            text="b",
            created_by=None,
            now=now,
        )
    assert first.id is not None
    assert second.id is not None
    async with database.writing() as session:
        page = await claim_page(
            session,
            broadcast_id=first.id,
            after=0,
            limit=10,
            holder="me",
            now=now,
            lease=timedelta(seconds=15),
        )
    assert [(p.chat_id, p.thread_id) for p in page] == [(FORUM, 11)]

    async with database.writing() as session:
        moved = await topics.move_to_general(
            session, chat_id=FORUM, thread_id=11, broadcast_id=first.id, notice=NOTICE, now=now
        )
    assert moved is True
    async with database.writing() as session:  # a second delivery that met the same error
        again = await topics.move_to_general(
            session, chat_id=FORUM, thread_id=11, broadcast_id=second.id, notice=NOTICE, now=now
        )
    assert again is False
    assert await topic_of(database, FORUM, "tabarak") is None
    assert await topic_of(database, FORUM, "alimuly") is None
    async with database.reading() as session:
        threads = (
            await session.execute(
                select(Delivery.message_thread_id).where(col(Delivery.chat_id) == FORUM)
            )
        ).scalars()
        assert set(threads) == {None}
        notices = list(
            (
                await session.execute(
                    select(Broadcast).where(col(Broadcast.kind) == BroadcastKind.NOTICE)
                )
            ).scalars()
        )
    assert len(notices) == 1  # the chat is told once
    assert notices[0].texts == NOTICE.texts
    assert notices[0].case_id == "tabarak"
    async with database.reading() as session:
        told = await session.execute(
            select(Delivery.status).where(col(Delivery.broadcast_id) == notices[0].id)
        )
        assert list(told.scalars()) == [DeliveryStatus.PENDING]


async def test_pausing_a_chat_the_bot_may_no_longer_post_in(database: Database) -> None:
    await seeded(database)
    async with database.writing() as session:
        await subscriptions.subscribe(
            session, chat_id=-1001, chat_type=ChatType.CHANNEL, case_id="tabarak"
        )
        assert await chats.pause_chat(session, chat_id=-1001) is True
        assert await chats.pause_chat(session, chat_id=-1001) is False
        assert await chats.pause_chat(session, chat_id=-9999) is False  # unknown: nothing made
    async with database.reading() as session:
        assert await chats.paused_chat_ids(session) == {-1001}
        following = await subscriptions.groups_and_channels_following(session)
    assert [(f.chat_id, f.type, f.reachable, f.case_ids) for f in following] == [
        (-1001, ChatType.CHANNEL, False, ("tabarak",))
    ]


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("channel", [True, False])
def test_a_picker_request_survives_its_round_trip_through_telegram(
    action: Action, channel: bool
) -> None:
    for argument in (0, 1, len(LANGUAGES) - 1, fingerprint("tabarak"), ARGUMENT_MASK):
        request = Request(action, channel, argument)
        request_id = request.encode()
        assert 0 < request_id < 2**31  # Telegram's request_id is a signed 32-bit number
        assert decode(request_id) == request


def test_a_request_the_bot_did_not_make_is_not_read() -> None:
    assert decode(0) is None
    assert decode(7 << 27) is None
    with pytest.raises(ValueError, match="does not fit"):
        Request(Action.SUBSCRIBE, True, ARGUMENT_MASK + 1).encode()
