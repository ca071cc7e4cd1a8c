"""Supporters, end to end: the real Application polling the fake Bot API over HTTP."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.context import HearingWatchApp
from bot.texts import APOLOGY, ONLY_GROUP_ADMINS
from service.settings import Settings
from storage import chats
from storage.models import Case, Chat, Hearing, HearingStatus
from tests.conftest import Clock, start_bot, stop_bot
from tests.fakebot import ApiError, ChatRef, FakeBotApi, Fault, UserRef

ALICE = UserRef(1001)
BOB = UserRef(1002)
GROUP_ID = -1001234567890


def buttons(message: dict[str, object]) -> list[str]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    assert isinstance(markup, dict)
    return [button["callback_data"] for row in markup["inline_keyboard"] for button in row]


async def followed(fake: FakeBotApi, chat: ChatRef, user: UserRef | None = None) -> str:
    """What /mysubs says, which also proves every earlier update was handled."""
    return str((await fake.say(chat, user or ALICE, "/mysubs"))["text"])


async def test_start_greets_and_help_lists_commands(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chat = fake.private_chat(ALICE)
    greeting = await fake.say(chat, ALICE, "/start")
    assert "Hearing Watch" in greeting["text"]
    assert "/cases" in greeting["text"]
    help_text = (await fake.say(chat, ALICE, "/help"))["text"]
    for command in ("/cases", "/case", "/subscribe", "/unsubscribe", "/mysubs", "/help"):
        assert command in help_text


async def test_commands_are_registered_for_the_menu(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    menu = fake.commands[json.dumps({"type": "default"})]
    assert {c["command"] for c in menu} >= {"cases", "case", "subscribe", "unsubscribe", "mysubs"}


async def test_cases_lists_both_seeded_hearings(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chat = fake.private_chat(ALICE)
    listing = await fake.say(chat, ALICE, "/cases")
    text = listing["text"]
    assert "musakhan-alimuly" in text
    assert "tabarak" in text
    assert "21 January 2020, time not announced" in text
    assert "16 January 2020, time not announced" in text
    assert "Zaisan district court, Zaisan" in text
    assert "Zharkent" in text
    assert buttons(listing) == ["sub:musakhan-alimuly", "sub:tabarak"]


async def test_case_shows_the_postponement_history(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chat = fake.private_chat(ALICE)
    text = (await fake.say(chat, ALICE, "/case musakhan-alimuly"))["text"]
    assert "6 January 2020, time not announced" in text
    assert "Postponed to 21 January 2020" in text
    assert "21 January 2020, time not announced" in text
    assert "Shilikti" in text
    assert "Lyazzat Akhatova" in text


async def test_a_long_case_is_split_between_hearings_under_the_limit(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    """A long description, long outcomes and many hearings: several messages, each within
    Telegram's 4,096 characters (the fake refuses longer ones), every hearing in one piece."""
    first = datetime(2024, 3, 4, 5, 0, tzinfo=UTC)
    async with bot.bot_data.database.writing() as session:
        session.add(Case(id="long-trial", title="A long trial", description="Background. " * 250))
        await session.flush()
        for week in range(12):
            session.add(
                Hearing(
                    case_id="long-trial",
                    court=f"Court {week}",
                    city="Almaty",
                    starts_at=first + timedelta(weeks=week),
                    timezone="Asia/Almaty",
                    status=HearingStatus.HELD,
                    # One outcome as long as a broadcast may be: it alone fills a message.
                    outcome=("Ruling & reasons. " * (240 if week == 5 else 100)).strip(),
                )
            )
    chat = fake.private_chat(ALICE)
    await fake.say(chat, ALICE, "/case long-trial")
    # Past a short burst the parts keep the chat's pace of about one a second.
    replies = await fake.wait_for(
        lambda: (sent := fake.sent_to(chat.id)) and "reply_markup" in sent[-1] and sent,
        seconds=30,
    )
    texts = [reply["text"] for reply in replies]
    assert len(texts) >= 3
    assert APOLOGY not in texts
    assert texts[0].startswith("A long trial · long-trial")
    every = "\n".join(texts)
    for week in range(12):
        assert every.count(f"Court {week}, Almaty") == 1
    for text in texts[1:]:
        assert text.startswith("• ")  # a message begins with a hearing, never inside one
    # The button under the end of the case, and in a private chat the way to a channel or group.
    assert buttons(replies[-1]) == ["sub:long-trial", "pick:sub:long-trial"]


async def test_case_shows_upcoming_hearing_as_next(
    bot: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    clock.now = clock.now.replace(year=2020, month=1, day=10)
    chat = fake.private_chat(ALICE)
    text = (await fake.say(chat, ALICE, "/cases"))["text"]
    assert "Next hearing: 16 January 2020" in text


async def test_subscribe_by_command_twice_then_unsubscribe(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chat = fake.private_chat(ALICE)
    assert "now follows" in (await fake.say(chat, ALICE, "/subscribe tabarak"))["text"]
    assert "already follows" in (await fake.say(chat, ALICE, "/subscribe Tabarak"))["text"]
    assert "tabarak" in await followed(fake, chat)
    assert "no longer follows" in (await fake.say(chat, ALICE, "/unsubscribe tabarak"))["text"]
    assert "was not following" in (await fake.say(chat, ALICE, "/unsubscribe tabarak"))["text"]
    assert "follows no case" in await followed(fake, chat)


async def test_a_deep_link_shows_the_case_and_subscribes_only_when_pressed(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    """Opening t.me/<bot>?start=<case> stores nothing: it shows the case with its Subscribe
    button, and only the press subscribes the chat."""
    chat = fake.private_chat(ALICE)
    fake.send_text(chat, ALICE, "/start musakhan-alimuly")
    shown = await fake.wait_for(
        lambda: next((m for m in fake.sent_to(chat.id) if "reply_markup" in m), None)
    )
    assert "Musakhan" in fake.sent_to(chat.id)[0]["text"]
    assert "Postponed to 21 January 2020" in "\n".join(m["text"] for m in fake.sent_to(chat.id))
    assert buttons(shown)[0] == "sub:musakhan-alimuly"
    async with bot.bot_data.database.reading() as session:
        assert await chats.chosen_language(session, chat_id=chat.id) is None
        assert (await session.execute(select(func.count()).select_from(Chat))).scalar_one() == 0
    assert "follows no case" in await followed(fake, chat)
    answer = await fake.click(chat, ALICE, shown, "sub:musakhan-alimuly")
    assert answer["text"] == "Subscribed to musakhan-alimuly."
    assert "musakhan-alimuly" in await followed(fake, chat)


async def test_subscribe_and_unsubscribe_by_button(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chat = fake.private_chat(ALICE)
    listing = await fake.say(chat, ALICE, "/cases")
    answer = await fake.click(chat, ALICE, listing, "sub:tabarak")
    assert answer["text"] == "Subscribed to tabarak."
    shown = fake.messages[(chat.id, listing["message_id"])]
    await fake.wait_for(lambda: buttons(shown) == ["sub:musakhan-alimuly", "unsub:tabarak"])
    # A second press of the old button acts once and leaves the buttons as they are.
    again = await fake.click(chat, ALICE, listing, "sub:tabarak")
    assert again["text"] == "Already subscribed to tabarak."
    assert "tabarak" in await followed(fake, chat)
    await fake.click(chat, ALICE, shown, "unsub:tabarak")
    await fake.wait_for(lambda: buttons(shown) == ["sub:musakhan-alimuly", "sub:tabarak"])
    assert "follows no case" in await followed(fake, chat)


async def test_unsubscribe_all(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chat = fake.private_chat(ALICE)
    await fake.say(chat, ALICE, "/subscribe tabarak")
    await fake.say(chat, ALICE, "/subscribe musakhan-alimuly")
    text = (await fake.say(chat, ALICE, "/unsubscribe all"))["text"]
    assert "no longer follows any case" in text
    assert "tabarak" in text
    assert "follows no case" in await followed(fake, chat)


@pytest.mark.parametrize("command", ["/case", "/subscribe", "/unsubscribe"])
async def test_missing_argument_gets_the_usage_line(
    bot: HearingWatchApp, fake: FakeBotApi, command: str
) -> None:
    chat = fake.private_chat(ALICE)
    text = (await fake.say(chat, ALICE, command))["text"]
    assert f"{command} tabarak" in text


@pytest.mark.parametrize("command", ["/case", "/subscribe", "/unsubscribe"])
async def test_unknown_id_suggests_the_closest(
    bot: HearingWatchApp, fake: FakeBotApi, command: str
) -> None:
    chat = fake.private_chat(ALICE)
    text = (await fake.say(chat, ALICE, f"{command} tabarek"))["text"]
    assert "There is no case “tabarek”" in text
    assert "Did you mean tabarak?" in text
    assert "follows no case" in await followed(fake, chat)


async def test_hostile_input_is_shown_literally(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    """Markup in what a user typed cannot break the bot's HTML (the fake parses it strictly)."""
    chat = fake.private_chat(ALICE)
    text = (await fake.say(chat, ALICE, "/case <b>&amp;x</b>"))["text"]
    assert "There is no case “<b>&amp;x</b>”" in text


async def test_unknown_command_in_private_chat(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chat = fake.private_chat(ALICE)
    assert "/help" in (await fake.say(chat, ALICE, "/frobnicate"))["text"]


async def test_group_admin_subscribes_the_group_and_member_cannot(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    group = fake.group(GROUP_ID)
    fake.set_member(group, ALICE, "administrator")
    fake.set_member(group, BOB, "member")
    refused = await fake.say(group, BOB, "/subscribe tabarak")
    assert refused["text"] == ONLY_GROUP_ADMINS
    assert "follows no case" in await followed(fake, group, BOB)  # anyone may read
    assert "now follows" in (await fake.say(group, ALICE, "/subscribe tabarak"))["text"]
    assert "tabarak" in await followed(fake, group, BOB)
    # The subscription belongs to the group, not to Alice's private chat.
    assert "follows no case" in await followed(fake, fake.private_chat(ALICE))
    refused = await fake.say(group, BOB, "/unsubscribe all")
    assert refused["text"] == ONLY_GROUP_ADMINS
    assert "tabarak" in await followed(fake, group, BOB)


async def test_group_member_cannot_press_subscribe(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    group = fake.group(GROUP_ID)
    fake.set_member(group, BOB, "member")
    listing = await fake.say(group, BOB, "/cases")
    answer = await fake.click(group, BOB, listing, "sub:tabarak")
    assert answer["text"] == ONLY_GROUP_ADMINS
    assert answer["show_alert"] in (True, "true")
    assert "follows no case" in await followed(fake, group, BOB)


async def test_group_creator_and_anonymous_admin_may_subscribe(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    group = fake.group(GROUP_ID, kind="group")
    fake.set_member(group, ALICE, "creator")
    assert "now follows" in (await fake.say(group, ALICE, "/subscribe tabarak"))["text"]
    reply = await fake.say(group, None, "/subscribe musakhan-alimuly", as_chat=True)
    assert "now follows" in reply["text"]


async def test_subscriptions_survive_a_restart(
    fake: FakeBotApi, settings: Settings, clock: Clock
) -> None:
    chat = fake.private_chat(ALICE)
    first = await start_bot(settings, clock)
    try:
        await fake.say(chat, ALICE, "/subscribe tabarak")
    finally:
        await stop_bot(first)
    second = await start_bot(settings, clock)
    try:
        assert "tabarak" in await followed(fake, chat)
    finally:
        await stop_bot(second)


async def test_rejected_command_menu_costs_a_warning_not_the_start(
    fake: FakeBotApi, settings: Settings, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.faults.append(Fault(method="setMyCommands", error=ApiError(404, "Not Found")))
    with caplog.at_level(logging.WARNING):
        app = await start_bot(settings, clock)
    try:
        chat = fake.private_chat(ALICE)
        assert "Hearing Watch" in (await fake.say(chat, ALICE, "/start"))["text"]
    finally:
        await stop_bot(app)
    assert any("command menu" in r.getMessage() for r in caplog.records)


async def test_a_failing_handler_apologises_and_logs_once(
    bot: HearingWatchApp, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    group = fake.group(GROUP_ID)
    fake.faults.append(
        Fault(method="getChatMember", error=ApiError(500, "Internal Server Error"), times=1)
    )
    with caplog.at_level(logging.ERROR):
        reply = await fake.say(group, ALICE, "/subscribe tabarak")
    assert reply["text"] == APOLOGY
    failures = [r for r in caplog.records if r.name == "bot.handlers.common"]
    assert len(failures) == 1
    assert "/subscribe" in failures[0].getMessage()
    assert "tabarak" not in failures[0].getMessage()  # the command, never the user's words
    # The bot lives on.
    assert (
        "now follows" in (await fake.say(group, None, "/subscribe tabarak", as_chat=True))["text"]
    )


async def test_an_apology_that_fails_too_is_only_a_warning(
    bot: HearingWatchApp, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    """When Telegram refuses the apology as well, the error handler logs and lives on."""
    chat = fake.private_chat(ALICE)
    fake.faults.append(Fault(method="sendMessage", error=ApiError(500, "Internal"), times=2))
    with caplog.at_level(logging.WARNING):
        fake.send_text(chat, ALICE, "/help")
        await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) >= 2)
        assert "/help" in (await fake.say(chat, ALICE, "/start"))["text"]
    assert [r.levelname for r in caplog.records if r.name == "bot.handlers.common"] == [
        "ERROR",
        "WARNING",
    ]
    assert not [r for r in caplog.records if r.name == "telegram.ext.Application"]
