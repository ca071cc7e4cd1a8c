"""Channels end to end: an organisation's channel follows a case, made to by one of its
administrators from their private chat (Telegram's chat picker) or by a post in the channel;
reminders and outcomes are posted there; the bot removed or muted pauses it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from bot import texts
from bot.context import HearingWatchApp
from bot.i18n import translator
from bot.picker import Action, Request, decode, fingerprint
from service.settings import Settings
from service.wiring import Parts
from storage import chats
from storage.models import Broadcast, BroadcastKind, Chat, Subscription
from tests.conftest import ADMIN_ID, Clock, instance_of, make_settings, start_bot, stop_bot
from tests.fakebot import ChatRef, FakeBotApi, UserRef
from tests.fakebot.server import Json

ADMIN = UserRef(ADMIN_ID)
ALICE, BOB = UserRef(4001), UserRef(4002)
CHANNEL_ID = -1002000000001
HEARING_DAY = "2026-12-16"
RU = translator("ru")


def at(hour: int, minute: int, second: int = 0) -> datetime:
    """A moment on the hearing day, in Almaty time (UTC+5)."""
    return datetime(2026, 12, 16, hour - 5, minute, second, tzinfo=UTC)


def quick_tidying(parts: Parts) -> None:
    """A channel's command and the answers go after a moment rather than half a minute."""
    data = parts.app.bot_data
    data.config = replace(data.config, tidy_after=0.3, tidy_choice_after=5.0)


@pytest.fixture
def settings(fake: FakeBotApi, database_url: str) -> Settings:
    return make_settings(fake, database_url, reminders={"offsets": ["5m"]})


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[HearingWatchApp]:
    clock.now = at(9, 0)
    app = await start_bot(settings, clock, adjust=quick_tidying)
    yield app
    await stop_bot(app)


@pytest.fixture
def channel(fake: FakeBotApi) -> ChatRef:
    """A channel where the bot posts and Alice is an administrator who may post; Bob reads."""
    channel = fake.channel(CHANNEL_ID, title="Qazaq Defenders")
    fake.set_member(channel, ALICE, "administrator")
    fake.set_member(channel, BOB, "member")
    return channel


def visible(html: str) -> str:
    return html.replace("<code>", "").replace("</code>", "")


def inline(message: Json) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def picker_buttons(message: Json) -> list[dict[str, Any]]:
    """The chat picker buttons of a reply keyboard."""
    rows = (message.get("reply_markup") or {}).get("keyboard", [])
    return [button["request_chat"] for row in rows for button in row if "request_chat" in button]


async def said(fake: FakeBotApi, chat: ChatRef, fragment: str, after: int = 0) -> Json:
    """The bot's first message in ``chat`` (beyond the first ``after``) that holds
    ``fragment``, deleted since or not."""
    return await fake.wait_for(
        lambda: next((m for m in fake.ever_sent_to(chat.id)[after:] if fragment in m["text"]), None)
    )


async def pick(fake: FakeBotApi, user: UserRef, data: str, *, channel: bool = True) -> int:
    """``user`` presses a "pick:" button in their private chat; the request id of the chat
    picker offered for a channel (or a group)."""
    private = fake.private_chat(user)
    before = len(fake.sent_to(private.id))
    under = {"message_id": 0, "date": 0, "chat": private.to_dict(), "text": "…"}
    fake.press(private, user, under, data)
    offer = await fake.wait_for(
        lambda: next((m for m in fake.sent_to(private.id)[before:] if picker_buttons(m)), None)
    )
    wanted = [b for b in picker_buttons(offer) if b["chat_is_channel"] is channel]
    return int(wanted[0]["request_id"])


async def share(fake: FakeBotApi, user: UserRef, request_id: int, shared: ChatRef) -> Json:
    """``user`` picks ``shared`` in Telegram's chat picker; the bot's answer."""
    private = fake.private_chat(user)
    before = len(fake.sent_to(private.id))
    fake.share_chat(private, user, request_id, shared)
    return await fake.wait_for(lambda: next(iter(fake.sent_to(private.id)[before:]), None))


async def remind_soon(bot: HearingWatchApp, fake: FakeBotApi, clock: Clock) -> None:
    """A hearing of tabarak at 10:00 whose 5-minute reminder falls due in three seconds."""
    admin = fake.private_chat(ADMIN)
    await fake.say(
        admin, ADMIN, f"/addhearing tabarak {HEARING_DAY} 10:00 Zharkent court; Zharkent"
    )
    clock.run_from(at(9, 54, 57))
    await instance_of(bot).parts.reminders.reconcile()


async def send_outcome(fake: FakeBotApi, text: str) -> None:
    """The admin records and sends the outcome of the seeded hearing #4 of tabarak."""
    admin = fake.private_chat(ADMIN)
    preview = await fake.say(admin, ADMIN, f"/outcome #4 {text}")
    send = inline(preview)[0]  # Send to N chats, then Cancel
    await fake.click(admin, ADMIN, preview, send)


async def following(bot: HearingWatchApp, chat_id: int) -> set[str]:
    async with bot.bot_data.database.reading() as session:
        rows = await session.execute(
            select(Subscription.case_id).where(col(Subscription.chat_id) == chat_id)
        )
        return set(rows.scalars())


async def until_async(probe: Callable[[], Awaitable[object]], wanted: object) -> None:
    """Wait until the coroutine ``probe()`` returns ``wanted``."""
    async with asyncio.timeout(5):
        while await probe() != wanted:  # noqa: ASYNC110  (a condition of the database)
            await asyncio.sleep(0.05)


async def test_an_administrator_subscribes_a_channel_from_a_private_chat_with_the_picker(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef, clock: Clock
) -> None:
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/case tabarak")
    shown = await fake.wait_for(
        lambda: next((m for m in fake.sent_to(alice.id) if inline(m)), None)
    )
    assert inline(shown) == ["sub:tabarak", "pick:sub:tabarak"]

    before = len(fake.sent_to(alice.id))
    await fake.click(alice, ALICE, shown, "pick:sub:tabarak")
    offer = await fake.wait_for(
        lambda: next((m for m in fake.sent_to(alice.id)[before:] if picker_buttons(m)), None)
    )
    assert "Which channel or group should follow <b>Tilek Tabarak</b>?" in offer["html"]
    for_channel, for_group = picker_buttons(offer)
    # Telegram lists only the channels where Alice and the bot may post, with the bot in them.
    assert for_channel["chat_is_channel"] is True
    assert for_channel["bot_is_member"] is True
    assert for_channel["user_administrator_rights"]["can_post_messages"] is True
    assert for_channel["bot_administrator_rights"]["can_post_messages"] is True
    assert for_group["chat_is_channel"] is False
    assert decode(for_channel["request_id"]) == Request(
        Action.SUBSCRIBE, True, fingerprint("tabarak")
    )
    assert decode(for_group["request_id"]) == Request(
        Action.SUBSCRIBE, False, fingerprint("tabarak")
    )
    assert await following(bot, channel.id) == set()  # nothing until a chat is picked

    answer = await share(fake, ALICE, for_channel["request_id"], channel)
    assert answer["html"].startswith("<b>Qazaq Defenders</b> now follows <b>Tilek Tabarak</b>")
    assert answer["reply_markup"] == {"remove_keyboard": True}
    assert await following(bot, channel.id) == {"tabarak"}
    async with bot.bot_data.database.reading() as session:
        stored = await session.get(Chat, channel.id)
    assert stored is not None
    assert stored.type == "channel"
    assert await following(bot, alice.id) == set()  # Alice's own chat follows nothing

    await remind_soon(bot, fake, clock)
    reminder = await said(fake, channel, "⏰ Reminder")
    assert "Tilek Tabarak" in reminder["text"]
    await send_outcome(fake, "The court adjourned; supporters were let in.")
    outcome = await said(fake, channel, "Outcome of the hearing")
    assert "supporters were let in" in outcome["text"]
    # A channel's readers get no buttons meant for a chat (no Unsubscribe under a post).
    assert all("reply_markup" not in m for m in fake.sent_to(channel.id))


async def test_a_post_in_the_channel_subscribes_it_and_the_exchange_is_tidied_away(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef, clock: Clock
) -> None:
    post = fake.post(channel, "/subscribe tabarak")
    answer = await said(fake, channel, "now follows")
    assert "Tilek Tabarak" in answer["text"]
    assert await following(bot, channel.id) == {"tabarak"}
    # A moment later the channel shows neither the command nor the answer.
    await fake.wait_for(
        lambda: (
            {(channel.id, post["message_id"]), (channel.id, answer["message_id"])}
            <= set(fake.deleted)
        )
    )

    await remind_soon(bot, fake, clock)
    reminder = await said(fake, channel, "⏰ Reminder")
    assert "Zharkent court" in reminder["text"]
    await send_outcome(fake, "The hearing was postponed again.")
    await said(fake, channel, "Outcome of the hearing")


async def test_without_the_right_to_delete_only_the_bots_own_answer_goes(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef
) -> None:
    fake.set_bot_member(channel, "administrator", can_delete_messages=False)
    post = fake.post(channel, "/unsubscribe tabarak")
    answer = await said(fake, channel, "was not following")
    await fake.wait_for(lambda: (channel.id, answer["message_id"]) in fake.deleted)
    # Both deletions were decided (each asks the bot's rights first): the post's was not made.
    await fake.wait_for(lambda: len(fake.calls_to("getChatMember")) >= 3)
    await fake.say(fake.private_chat(ALICE), ALICE, "/help")
    assert (channel.id, post["message_id"]) not in fake.deleted
    assert not [call for call in fake.calls_to("deleteMessage") if call.error is not None]


async def test_language_remind_and_unsubscribe_work_in_the_channel_too(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef
) -> None:
    fake.post(channel, "/language ru")
    await said(fake, channel, RU(texts.LANGUAGE_SET))
    fake.post(channel, "/subscribe tabarak")
    await said(fake, channel, "Тилек Табарак")  # the seed's Russian title
    fake.post(channel, "/remind")
    choice = await said(fake, channel, texts.reminder_choice(RU, None, ("5m",)))
    assert "remind:5m" in inline(choice)
    assert not [data for data in inline(choice) if data.startswith("pick:")]  # private only
    # Bob only reads the channel: his press changes nothing.
    refused = await fake.click(channel, BOB, choice, "remind:none")
    assert refused["show_alert"] in (True, "true")
    assert refused["text"] == RU(
        "Only this channel's administrators who may post in it can change what it follows."
    )
    async with bot.bot_data.database.reading() as session:
        assert await chats.reminder_choice(session, chat_id=channel.id) is None
    saved = await fake.click(channel, ALICE, choice, "remind:none")
    assert saved["text"] == RU(texts.SAVED)
    async with bot.bot_data.database.reading() as session:
        assert await chats.reminder_choice(session, chat_id=channel.id) == []
    # Chosen: the buttons leave the channel soon, not after their longer while.
    await fake.wait_for(lambda: (channel.id, choice["message_id"]) in fake.deleted)
    fake.post(channel, "/unsubscribe tabarak")
    await said(fake, channel, visible(texts.unsubscribed(RU, "tabarak")))
    assert await following(bot, channel.id) == set()


async def test_the_picker_refuses_a_chat_the_person_or_the_bot_may_not_post_in(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef
) -> None:
    request = Request(Action.SUBSCRIBE, True, fingerprint("tabarak")).encode()
    answer = await share(fake, BOB, request, channel)  # a reader, not an administrator
    assert "Telegram says you are not one" in answer["text"]
    fake.set_rights(channel, ALICE, can_post_messages=False)  # an administrator who may not post
    answer = await share(fake, ALICE, request, channel)
    assert "Telegram says you are not one" in answer["text"]
    fake.set_rights(channel, ALICE, can_post_messages=True)
    fake.set_bot_member(channel, "administrator", can_post_messages=False)
    answer = await share(fake, ALICE, request, channel)
    assert answer["text"].startswith("I cannot post in Qazaq Defenders.")
    elsewhere = fake.channel(-1002000000099, title="Elsewhere")
    fake.set_member(elsewhere, ALICE, "creator")
    fake.set_bot_member(elsewhere, "left")
    answer = await share(fake, ALICE, request, elsewhere)
    assert answer["text"].startswith("I cannot post in Elsewhere.")
    assert answer["reply_markup"] == {"remove_keyboard": True}
    assert await following(bot, channel.id) == set()
    assert await following(bot, elsewhere.id) == set()


async def test_reminders_language_and_unsubscribe_of_a_channel_from_the_private_chat(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef
) -> None:
    await share(fake, ALICE, await pick(fake, ALICE, "pick:sub:tabarak"), channel)
    alice = fake.private_chat(ALICE)
    choices = await fake.say(alice, ALICE, "/remind")
    assert "pick:remind:" in inline(choices)
    await fake.click(alice, ALICE, choices, "pick:remind:")
    # Which reminders first (then the chat), as a message of its own.
    offer = await said(fake, alice, "Which reminders should the channel or group get")
    assert "pick:remind:none" in inline(offer)

    answer = await share(fake, ALICE, await pick(fake, ALICE, "pick:remind:none"), channel)
    assert answer["text"] == "Saved: Qazaq Defenders gets no reminders."
    answer = await share(fake, ALICE, await pick(fake, ALICE, "pick:lang:kk"), channel)
    assert answer["text"] == "Saved: I write to Qazaq Defenders in Қазақша."
    async with bot.bot_data.database.reading() as session:
        assert await chats.reminder_choice(session, chat_id=channel.id) == []
        assert await chats.chosen_language(session, chat_id=channel.id) == "kk"
        assert await chats.reminder_choice(session, chat_id=alice.id) is None  # hers untouched

    answer = await share(fake, ALICE, await pick(fake, ALICE, "pick:unsub:tabarak"), channel)
    assert answer["text"] == "Qazaq Defenders no longer follows tabarak."
    assert await following(bot, channel.id) == set()


async def test_not_now_takes_the_picker_away_and_changes_nothing(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    alice = fake.private_chat(ALICE)
    await pick(fake, ALICE, "pick:unsuball:")
    reply = await fake.say(alice, ALICE, "Not now")
    assert reply["text"] == "Nothing was changed."
    assert reply["reply_markup"] == {"remove_keyboard": True}


async def test_mysubs_lists_the_channels_and_groups_the_person_manages(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef
) -> None:
    alice = fake.private_chat(ALICE)
    alone = await fake.say(alice, ALICE, "/mysubs")
    assert "reply_markup" not in alone  # no group or channel follows anything yet
    fake.post(channel, "/subscribe tabarak")
    await said(fake, channel, "now follows")
    group = fake.group(-1002000000002, title="Zharkent watchers")
    fake.set_member(group, BOB, "administrator")
    fake.set_member(group, ALICE, "member")
    await fake.say(group, BOB, "/subscribe musakhan-alimuly")

    async def managed_by(user: UserRef) -> str:
        """What the button under /mysubs lists, asked of Telegram only when pressed."""
        private = fake.private_chat(user)
        listing = await fake.say(private, user, "/mysubs")
        assert inline(listing) == ["mine"]
        before = len(fake.calls_to("getChatMember"))
        await fake.click(private, user, listing, "mine")
        answer = await said(fake, private, "Channels and groups you manage")
        assert len(fake.calls_to("getChatMember")) - before == 2  # one question per chat
        return str(answer["text"])

    mine = await managed_by(ALICE)
    assert "📢 Qazaq Defenders: tabarak" in mine
    assert "Zharkent watchers" not in mine  # Alice only reads that group
    bobs = await managed_by(BOB)
    assert "👥 Zharkent watchers: musakhan-alimuly" in bobs
    assert "Qazaq Defenders" not in bobs


async def test_the_bot_muted_or_removed_pauses_the_channel_and_restored_resumes_it(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef
) -> None:
    fake.post(channel, "/subscribe tabarak")
    await said(fake, channel, "now follows")

    async def reachable() -> bool | None:
        async with bot.bot_data.database.reading() as session:
            stored = await session.get(Chat, channel.id)
            return None if stored is None else stored.reachable

    fake.bot_status(channel, "administrator", can_post_messages=False)
    await until_async(reachable, False)
    assert channel.id in bot.bot_data.paused_chats
    await send_outcome(fake, "First outcome.")
    async with bot.bot_data.database.reading() as session:
        outcome = (
            await session.execute(
                select(Broadcast).where(col(Broadcast.kind) == BroadcastKind.OUTCOME)
            )
        ).scalar_one()
    assert outcome.total == 0  # paused: the channel was not even queued

    fake.bot_status(channel, "administrator")  # its right to post given back
    await until_async(reachable, True)
    assert channel.id not in bot.bot_data.paused_chats
    fake.bot_status(channel, "left")  # removed from the channel
    await until_async(reachable, False)
    assert await following(bot, channel.id) == {"tabarak"}  # paused, not forgotten


async def test_a_channels_administrators_can_make_the_bot_forget_it(
    bot: HearingWatchApp, fake: FakeBotApi, channel: ChatRef
) -> None:
    fake.post(channel, "/subscribe tabarak")
    await said(fake, channel, "now follows")
    fake.post(channel, "/forget")
    question = await said(fake, channel, "Erase everything")
    refused = await fake.click(channel, BOB, question, "forget:yes")  # a reader
    assert refused["show_alert"] in (True, "true")
    assert await following(bot, channel.id) == {"tabarak"}
    await fake.click(channel, ALICE, question, "forget:yes")
    await fake.wait_for(lambda: (channel.id, question["message_id"]) in fake.deleted)
    async with bot.bot_data.database.reading() as session:
        assert await session.get(Chat, channel.id) is None
    assert await following(bot, channel.id) == set()
