"""Moderators' broadcasts end to end: preview, Send once, progress, final report."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.context import HearingWatchApp
from service.settings import Settings
from service.wiring import Parts
from storage.models import Chat, Subscription
from tests.conftest import ADMIN_ID, Clock, make_settings, start_bot, stop_bot
from tests.fakebot import FakeBotApi, UserRef
from tests.staffing import confirmed, grant

ADMIN = UserRef(ADMIN_ID)
MODERATOR = UserRef(777)
OTHER_MODERATOR = UserRef(778)
SUPPORTERS = [UserRef(5000 + i) for i in range(6)]
GROUP_ID = -1007770001


def fast_progress(parts: Parts) -> None:
    """Progress edits every few seconds in production; sooner in tests."""
    parts.progress.interval = 0.2


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[HearingWatchApp]:
    app = await start_bot(settings, clock, adjust=fast_progress)
    yield app
    await stop_bot(app)


def buttons(message: dict[str, object]) -> dict[str, str]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    assert isinstance(markup, dict)
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def subscribers(fake: FakeBotApi, case_id: str = "tabarak") -> list[int]:
    chats = []
    for user in SUPPORTERS:
        chat = fake.private_chat(user)
        await fake.say(chat, user, f"/subscribe {case_id}")
        chats.append(chat.id)
    group = fake.group(GROUP_ID)
    fake.set_member(group, SUPPORTERS[0], "administrator")
    await fake.say(group, SUPPORTERS[0], f"/subscribe {case_id}")
    return [*chats, GROUP_ID]


def got(fake: FakeBotApi, chat_id: int, fragment: str) -> int:
    return sum(fragment in m["text"] for m in fake.sent_to(chat_id))


async def test_outcome_preview_send_progress_and_report(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chats = await subscribers(fake)
    admin = fake.private_chat(ADMIN)
    await grant(fake, ADMIN, MODERATOR)
    moderator = fake.private_chat(MODERATOR)
    text = "The court ruled <b>against</b> deportation & released him.\nHe is free."
    preview = await fake.say(moderator, MODERATOR, f"/outcome #4 {text}")
    # Exactly what subscribers will see: the moderator's text as typed, line break included.
    assert "Outcome of the hearing: Tilek Tabarak" in preview["text"]
    assert text in preview["text"]
    assert set(buttons(preview)) == {"Send to 7 chats", "Cancel"}
    assert not any(got(fake, chat, "Outcome of the hearing") for chat in chats)  # not yet

    send = buttons(preview)["Send to 7 chats"]
    first = fake.click(moderator, MODERATOR, preview, send)
    second = fake.click(moderator, MODERATOR, preview, send)  # a double tap
    answers = {(await first)["text"], (await second)["text"]}
    assert answers == {"Sending to 7 chats.", "This broadcast was sent or cancelled already."}
    await fake.wait_for(lambda: all(got(fake, chat, "Outcome of the hearing") for chat in chats))
    shown = fake.messages[(moderator.id, preview["message_id"])]
    await fake.wait_for(
        lambda: shown["text"].startswith("Done: 7/7 sent · 0 unreachable · 0 failed")
    )
    assert all(got(fake, chat, "Outcome of the hearing") == 1 for chat in chats)

    case = (await fake.say(fake.private_chat(SUPPORTERS[1]), SUPPORTERS[1], "/case tabarak"))[
        "text"
    ]
    assert "Held" in case
    assert f"Outcome: {text}" in case
    listing = (await fake.say(moderator, MODERATOR, "/broadcasts"))["text"]
    assert re.search(r"outcome · tabarak .*\n.* done · 7/7 sent", listing)
    audit = (await fake.say(admin, ADMIN, "/audit 3"))["text"]
    assert f"user {MODERATOR.id} · outcome hearing #4" in audit


async def test_update_can_be_cancelled(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chats = await subscribers(fake, "musakhan-alimuly")
    admin = fake.private_chat(ADMIN)
    preview = await fake.say(admin, ADMIN, "/update musakhan-alimuly The appeal is in March.")
    assert "News: Kaster Musakhan and Murager Alimuly" in preview["text"]
    send = buttons(preview)["Send to 7 chats"]  # as a second device still shows it
    answer = await fake.click(admin, ADMIN, preview, buttons(preview)["Cancel"])
    assert answer["text"] == "Cancelled."
    shown = fake.messages[(admin.id, preview["message_id"])]
    await fake.wait_for(lambda: shown["text"].startswith("Cancelled: nothing was sent."))
    late = await fake.click(admin, ADMIN, preview, send)
    assert late["text"] == "This broadcast was sent or cancelled already."
    await fake.say(admin, ADMIN, "/help")
    assert not any(got(fake, chat, "News:") for chat in chats)


async def test_too_long_is_refused_at_preview_with_the_numbers(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    admin = fake.private_chat(ADMIN)
    reply = await fake.say(admin, ADMIN, "/update tabarak " + "x" * 4090)
    assert reply["text"].startswith("⚠️")
    assert "limit is 4,096" in reply["text"]
    assert "/broadcasts" not in reply["text"]
    assert "No broadcasts yet." in (await fake.say(admin, ADMIN, "/broadcasts"))["text"]


async def test_a_blocked_chat_comes_back_when_it_writes(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chats = await subscribers(fake)
    blocked = fake.chats[chats[2]]
    fake.block(blocked)
    admin = fake.private_chat(ADMIN)
    preview = await fake.say(admin, ADMIN, "/update tabarak First news.")
    await fake.click(admin, ADMIN, preview, buttons(preview)["Send to 7 chats"])
    shown = fake.messages[(admin.id, preview["message_id"])]
    await fake.wait_for(lambda: shown["text"].startswith("Done: 6/7 sent · 1 unreachable"))

    fake.faults.clear()  # the supporter unblocks the bot and writes to it
    await fake.say(blocked, SUPPORTERS[2], "/mysubs")
    preview = await fake.say(admin, ADMIN, "/update tabarak Second news.")
    assert "Send to 7 chats" in buttons(preview)
    await fake.click(admin, ADMIN, preview, buttons(preview)["Send to 7 chats"])
    await fake.wait_for(lambda: got(fake, blocked.id, "Second news.") == 1)


async def test_a_moderator_who_blocked_the_bot_is_not_edited_for_ever(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    await subscribers(fake)
    admin = fake.private_chat(ADMIN)
    await grant(fake, ADMIN, MODERATOR)
    moderator = fake.private_chat(MODERATOR)
    preview = await fake.say(moderator, MODERATOR, "/update tabarak First news.")
    await fake.click(moderator, MODERATOR, preview, buttons(preview)["Send to 7 chats"])
    shown = fake.messages[(moderator.id, preview["message_id"])]
    await fake.wait_for(lambda: "edit_date" in shown)  # Send showed the progress
    fake.block(moderator)

    def refused_edits() -> int:
        return sum(
            1
            for call in fake.calls_to("editMessageText")
            if int(call.params.get("chat_id", 0)) == moderator.id and call.error is not None
        )

    await fake.wait_for(refused_edits)
    # Another broadcast from preview to final report: the progress job ran several times.
    preview = await fake.say(admin, ADMIN, "/update tabarak Second news.")
    await fake.click(admin, ADMIN, preview, buttons(preview)["Send to 7 chats"])
    shown = fake.messages[(admin.id, preview["message_id"])]
    await fake.wait_for(lambda: shown["text"].startswith("Done: 7/7 sent"))
    await fake.say(admin, ADMIN, "/help")
    # At most one refusal where each edits (the Send button's own, the progress job), then none.
    assert refused_edits() <= 2


async def test_a_group_that_becomes_a_supergroup_keeps_everything_and_gets_news_once(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    admin_user = SUPPORTERS[0]
    group = fake.group(-5550001, kind="group")
    fake.set_member(group, admin_user, "administrator")
    await fake.say(group, admin_user, "/subscribe tabarak")
    menu = await fake.say(group, admin_user, "/remind")
    await fake.click(group, admin_user, menu, "remind:1d")
    await fake.say(group, admin_user, "/language ru")
    # The supergroup wrote (and subscribed) before the old group's service message came.
    supergroup = fake.group(-1005550001)
    fake.set_member(supergroup, admin_user, "administrator")
    await fake.say(supergroup, admin_user, "/subscribe tabarak")

    fake.upgrade(group, supergroup.id, admin_user)
    await fake.say(supergroup, admin_user, "/mysubs")  # updates are handled in order
    async with bot.bot_data.database.reading() as session:
        old = await session.get(Chat, group.id)
        new = await session.get(Chat, supergroup.id)
        followed = await session.get(Subscription, (supergroup.id, "tabarak"))
    assert old is None
    assert new is not None
    assert (new.reminder_offsets, new.language, new.language_chosen) == (",1d,", "ru", True)
    assert followed is not None

    admin = fake.private_chat(ADMIN)
    preview = await fake.say(admin, ADMIN, "/update tabarak News for the group.")
    await fake.click(admin, ADMIN, preview, buttons(preview)["Send to 1 chat"])
    shown = fake.messages[(admin.id, preview["message_id"])]
    await fake.wait_for(lambda: shown["text"].startswith("Done: 1/1 sent"))
    assert got(fake, supergroup.id, "News for the group.") == 1
    sends = fake.calls_to("sendMessage")
    assert not [c for c in sends if int(c.params["chat_id"]) == group.id and c.error is not None]


async def test_send_refuses_a_preview_the_schedule_overtook(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chats = await subscribers(fake)
    admin = fake.private_chat(ADMIN)
    await grant(fake, ADMIN, MODERATOR)
    moderator = fake.private_chat(MODERATOR)
    outcome = await fake.say(moderator, MODERATOR, "/outcome #4 He was released.")
    news = await fake.say(moderator, MODERATOR, "/update tabarak Come to the court.")

    await confirmed(fake, admin, ADMIN, "/postpone #4 2027-01-01 tba")
    answer = await fake.click(moderator, MODERATOR, outcome, buttons(outcome)["Send to 7 chats"])
    assert answer["text"] == "Hearing #4 is postponed now; nothing was sent."
    prompt = await fake.say(admin, ADMIN, "/closecase tabarak")
    close = next(data for label, data in buttons(prompt).items() if label.startswith("Close"))
    await fake.click(admin, ADMIN, prompt, close)
    answer = await fake.click(moderator, MODERATOR, news, buttons(news)["Send to 7 chats"])
    assert answer["text"] == (
        "Case tabarak was closed after this preview was made; nothing was sent."
    )
    await fake.say(moderator, MODERATOR, "/help")
    for chat in chats:
        assert not got(fake, chat, "He was released.")
        assert not got(fake, chat, "Come to the court.")


async def test_only_its_author_or_an_admin_sends_a_preview_within_a_day(
    bot: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    await subscribers(fake)
    admin = fake.private_chat(ADMIN)
    for user in (MODERATOR, OTHER_MODERATOR):
        await grant(fake, ADMIN, user)
    moderator, other = fake.private_chat(MODERATOR), fake.private_chat(OTHER_MODERATOR)
    preview = await fake.say(moderator, MODERATOR, "/update tabarak First news.")
    send = buttons(preview)["Send to 7 chats"]
    answer = await fake.click(other, OTHER_MODERATOR, preview, send)
    assert answer["text"] == "Only the moderator who made this preview, or an admin, can send it."
    assert (await fake.click(admin, ADMIN, preview, send))["text"] == "Sending to 7 chats."

    stale = await fake.say(moderator, MODERATOR, "/update tabarak Second news.")
    clock.now += timedelta(days=1, minutes=1)
    answer = await fake.click(moderator, MODERATOR, stale, buttons(stale)["Send to 7 chats"])
    assert answer["text"] == (
        "This preview is more than a day old; nothing was sent. Make a new one with /update."
    )


async def test_only_its_author_or_an_admin_cancels_a_preview(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    await subscribers(fake)
    for user in (MODERATOR, OTHER_MODERATOR):
        await grant(fake, ADMIN, user)
    moderator, other = fake.private_chat(MODERATOR), fake.private_chat(OTHER_MODERATOR)
    preview = await fake.say(moderator, MODERATOR, "/update tabarak First news.")
    cancel = buttons(preview)["Cancel"]
    answer = await fake.click(other, OTHER_MODERATOR, preview, cancel)
    assert answer["text"] == "Only the moderator who made this preview, or an admin, can cancel it."
    admin = fake.private_chat(ADMIN)
    assert (await fake.click(admin, ADMIN, preview, cancel))["text"] == "Cancelled."


@pytest.fixture
async def slow_bot(
    fake: FakeBotApi, database_url: str, clock: Clock
) -> AsyncIterator[HearingWatchApp]:
    """A bot that sends broadcasts at 2 messages a second: time to press Stop half-way."""
    settings = make_settings(fake, database_url, delivery={"messages_per_second": 2})
    app = await start_bot(settings, clock, adjust=fast_progress)
    yield app
    await stop_bot(app)


async def test_stop_a_broadcast_under_way(slow_bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chats = await subscribers(fake)
    await grant(fake, ADMIN, MODERATOR)
    moderator = fake.private_chat(MODERATOR)
    preview = await fake.say(moderator, MODERATOR, "/update tabarak Come to the court.")
    await fake.click(moderator, MODERATOR, preview, buttons(preview)["Send to 7 chats"])
    shown = fake.messages[(moderator.id, preview["message_id"])]
    await fake.wait_for(lambda: "Stop sending" in buttons(shown))
    await fake.wait_for(lambda: sum(got(fake, chat, "Come to the court.") for chat in chats) >= 1)

    stranger = fake.private_chat(OTHER_MODERATOR)
    await grant(fake, ADMIN, OTHER_MODERATOR)
    refused = await fake.click(stranger, OTHER_MODERATOR, shown, buttons(shown)["Stop sending"])
    assert refused["text"] == "Only the staff member who sent this, or an admin, can stop it."

    before = len(fake.sent_to(moderator.id))
    fake.press(moderator, MODERATOR, shown, buttons(shown)["Stop sending"])
    question = await fake.wait_for(
        lambda: (
            fake.sent_to(moderator.id)[before] if len(fake.sent_to(moderator.id)) > before else None
        )
    )
    assert question["text"].startswith("Stop broadcast #")
    assert "Chats that got it keep it." in question["text"]
    await fake.click(moderator, MODERATOR, question, buttons(question)["Stop the rest"])
    asked = fake.messages[(moderator.id, question["message_id"])]
    await fake.wait_for(lambda: "is stopped" in asked["text"])
    received = sum(got(fake, chat, "Come to the court.") for chat in chats)
    assert f"{received}/7 sent" in asked["text"] or f"{received - 1}/7 sent" in asked["text"]
    await fake.wait_for(lambda: shown["text"].startswith("Stopped: "))  # the final report
    assert "Stop sending" not in buttons(shown)
    listing = (await fake.say(moderator, MODERATOR, "/broadcasts"))["text"]
    assert re.search(r"news · tabarak .*\n.* stopped · \d/7 sent .* · \d stopped", listing), listing
    final = sum(got(fake, chat, "Come to the court.") for chat in chats)
    assert final < 7
    assert all(got(fake, chat, "Come to the court.") <= 1 for chat in chats)
