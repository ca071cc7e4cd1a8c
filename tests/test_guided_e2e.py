"""Guided staff commands end to end, as staff use them on a phone: the real bot on the fake Bot
API, buttons pressed and answers typed, mistakes, /cancel, expiry and a restart half-way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bot.context import HearingWatchApp
from bot.staff_texts import FLOW_CANCELLED, NOTHING_TO_CANCEL, RELAYED
from service.settings import Settings
from storage import flows
from storage.database import Database
from storage.models import Hearing, HearingStatus
from tests.conftest import ADMIN_ID, Clock, start_bot, stop_bot
from tests.fakebot import ChatRef, FakeBotApi, UserRef
from tests.fakebot.server import Json
from tests.snapshot import snapshot
from tests.staffing import buttons, confirm_button, grant, press_confirm

ADMIN = UserRef(ADMIN_ID)
MODERATOR = UserRef(777)
ALICE = UserRef(1001)


@pytest.fixture
def db(bot: HearingWatchApp) -> Database:
    return bot.bot_data.database


def label_of(message: Json, start: str) -> str:
    """The callback data of the button labelled ``start``, else of the first whose label
    starts with it."""
    if start in buttons(message):
        return buttons(message)[start]
    for label, data in buttons(message).items():
        if label.startswith(start):
            return data
    raise AssertionError(f"no button {start!r} in {list(buttons(message))}")


async def press(fake: FakeBotApi, chat: ChatRef, user: UserRef, message: Json, start: str) -> Json:
    """Press a button and return the bot's next message in the chat (the next question)."""
    before = len(fake.sent_to(chat.id))
    fake.press(chat, user, message, label_of(message, start))
    return await fake.wait_for(
        lambda: fake.sent_to(chat.id)[before] if len(fake.sent_to(chat.id)) > before else None
    )


async def add_hearing(fake: FakeBotApi, line: str = "2026-12-16 10:00") -> int:
    reply = await fake.say(
        fake.private_chat(ADMIN), ADMIN, f"/addhearing tabarak {line} Zharkent court; Zharkent"
    )
    assert "Added hearing #" in reply["text"], reply["text"]
    return int(reply["text"].split("#")[1].split()[0])


def notices(fake: FakeBotApi, chat: ChatRef, fragment: str) -> int:
    return sum(fragment in m["text"] for m in fake.sent_to(chat.id))


async def test_postpone_guided_as_on_a_phone(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    """The issue's trial: /postpone with nothing after it, the hearing by button, the date on
    the calendar, the hour typed, the reason skipped; the preview shows the notice and the
    count, and only Confirm sends it, once."""
    number = await add_hearing(fake)
    await grant(fake, ADMIN, MODERATOR)
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    phone = fake.private_chat(MODERATOR)

    question = await fake.say(phone, MODERATOR, "/postpone")
    assert question["text"].startswith("Which hearing?")
    calendar = await press(fake, phone, MODERATOR, question, f"#{number} ·")
    assert calendar["text"].startswith("To which date?")
    days = buttons(calendar)
    assert "November 2026" in days
    assert "22" not in days
    assert "23" in days
    assert "«" not in days  # no month before this one
    past = await fake.click(phone, MODERATOR, calendar, days["·"])
    assert past["text"] == "That day is past; choose a later one."
    await fake.click(phone, MODERATOR, calendar, days["»"])
    shown = fake.messages[(phone.id, calendar["message_id"])]
    await fake.wait_for(lambda: "December 2026" in buttons(shown))
    hours = await press(fake, phone, MODERATOR, shown, "21")
    assert hours["text"].startswith("At what time?")
    assert "Not announced" in buttons(hours)
    reason = await fake.say(phone, MODERATOR, "10:00")
    assert reason["text"].startswith("Why was it postponed?")
    preview = await press(fake, phone, MODERATOR, reason, "Skip")

    assert "Postpone this hearing? A notice goes to 1 subscribed chat." in preview["text"]
    assert "Nothing changes and nothing is sent before you confirm." in preview["text"]
    assert "Was: 16 December 2026, 10:00 (Almaty time, UTC+5)" in preview["text"]
    assert "Now: 21 December 2026, 10:00 (Almaty time, UTC+5)" in preview["text"]
    async with db.reading() as session:
        still = await session.get(Hearing, number)
    assert still is not None
    assert still.status == HearingStatus.SCHEDULED
    assert not notices(fake, alice, "Hearing postponed")

    data = confirm_button(preview)
    assert data is not None
    await press_confirm(fake, phone, MODERATOR, preview)
    await fake.wait_for(lambda: notices(fake, alice, "Hearing postponed"))
    second = await fake.click(phone, MODERATOR, preview, data)  # pressed again, or elsewhere
    assert second["text"] == "This was done already; nothing changed."
    await fake.say(alice, ALICE, "/mysubs")  # anything queued would be out by now
    assert notices(fake, alice, "Hearing postponed") == 1
    async with db.reading() as session:
        moved = await session.get(Hearing, number, populate_existing=True)
    assert moved is not None
    assert moved.status == HearingStatus.POSTPONED


async def test_addhearing_takes_presses_and_typing_and_asks_again_after_a_mistake(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    admin = fake.private_chat(ADMIN)
    question = await fake.say(admin, ADMIN, "/addhearing")
    assert question["text"].startswith("Which case?")
    calendar = await press(fake, admin, ADMIN, question, "Tilek Tabarak")
    wrong = await fake.say(admin, ADMIN, "2026-13-01")
    assert wrong["text"].startswith("⚠️ “2026-13-01” is not a date; write it as YYYY-MM-DD.")
    assert "For example" not in wrong["text"]  # the question says what it expects
    assert "On which date?" in wrong["text"]  # the same question again
    before = await snapshot(db)
    past = await fake.say(admin, ADMIN, "2026-11-01")
    assert "is in the past in Asia/Almaty" in past["text"]
    assert await snapshot(db) == before
    hours = await fake.say(admin, ADMIN, "2026-12-16")
    court = await press(fake, admin, ADMIN, hours, "10:00")
    assert court["text"].startswith("Which court?")
    city = await press(fake, admin, ADMIN, court, "Zharkent court")  # used by this case before
    address = await fake.say(admin, ADMIN, "Zharkent")
    assert "Skip" in buttons(address)
    added = await fake.say(admin, ADMIN, "12 Abay St")
    assert "Added hearing #5 to Tilek Tabarak" in added["text"]
    assert "16 December 2026, 10:00 (Almaty time, UTC+5)" in added["text"]
    assert "Zharkent court, Zharkent, 12 Abay St" in added["text"]
    assert calendar["text"].startswith("On which date?")
    assert "→ Tilek Tabarak" in fake.messages[(admin.id, question["message_id"])]["text"]
    assert city["text"].startswith("In which city?")


async def test_a_line_that_stops_early_asks_for_the_rest(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    number = await add_hearing(fake)
    admin = fake.private_chat(ADMIN)
    question = await fake.say(admin, ADMIN, f"/postpone #{number} 2026-12-21")
    assert question["text"].startswith("At what time?")
    question = await fake.say(admin, ADMIN, "/postpone #1")  # postponed long ago
    assert question["text"].startswith("⚠️ Hearing #1 is postponed; only a scheduled one moves.")
    assert "Which hearing?" in question["text"]


async def test_every_guided_command_reaches_its_end(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    """Each command with arguments works with none: asked, answered, done (or previewed)."""
    number = await add_hearing(fake)
    admin = fake.private_chat(ADMIN)

    q = await fake.say(admin, ADMIN, "/addcase")
    q = await fake.say(admin, ADMIN, "free-ali")
    q = await fake.say(admin, ADMIN, "Ali Free")
    done = await press(fake, admin, ADMIN, q, "Skip")
    assert "Added the case free-ali: Ali Free" in done["text"]

    q = await fake.say(admin, ADMIN, "/editcase")
    q = await press(fake, admin, ADMIN, q, "Ali Free")
    q = await press(fake, admin, ADMIN, q, "description")
    assert q["text"].startswith("What is the new description?")
    done = await fake.say(admin, ADMIN, "A refugee.\nFacing deportation.")
    assert "Changed the description of free-ali" in done["text"]

    q = await fake.say(admin, ADMIN, "/edithearing")
    q = await press(fake, admin, ADMIN, q, f"#{number} ·")
    q = await press(fake, admin, ADMIN, q, "court")
    done = await fake.say(admin, ADMIN, "Panfilov district court")
    assert "Changed the court of hearing" in done["text"]

    q = await fake.say(admin, ADMIN, "/edithearing")
    q = await press(fake, admin, ADMIN, q, f"#{number} ·")
    q = await press(fake, admin, ADMIN, q, "time")
    assert "Not announced" not in buttons(q)  # an hour only: /postpone makes it unknown
    preview = await press(fake, admin, ADMIN, q, "11:30")
    assert "Correct when this hearing takes place?" in preview["text"]
    assert "starts at 11:30 (Almaty time, UTC+5), not at 10:00" in preview["text"]
    assert confirm_button(preview)

    q = await fake.say(admin, ADMIN, "/cancelhearing")
    q = await press(fake, admin, ADMIN, q, f"#{number} ·")
    preview = await fake.say(admin, ADMIN, "the charges were dropped")
    assert "Cancel this hearing?" in preview["text"]
    assert "Reason: the charges were dropped" in preview["text"]

    q = await fake.say(admin, ADMIN, "/closecase")
    preview = await press(fake, admin, ADMIN, q, "Ali Free")
    assert "Close the case <b>" not in preview["text"]
    assert "Close the case Ali Free (free-ali)?" in preview["text"]

    q = await fake.say(admin, ADMIN, "/update")
    q = await press(fake, admin, ADMIN, q, "Tilek Tabarak")
    assert "kk:, ru: or en:" in q["text"]
    preview = await fake.say(admin, ADMIN, "The appeal is in March.")
    assert "News: Tilek Tabarak" in preview["text"]
    assert "Send to 0 chats" in buttons(preview)

    q = await fake.say(admin, ADMIN, "/outcome")
    q = await fake.say(admin, ADMIN, f"#{number}")
    preview = await fake.say(admin, ADMIN, "He was released.")
    assert "Outcome of the hearing: Tilek Tabarak" in preview["text"]

    q = await fake.say(admin, ADMIN, "/revoke")
    assert "Choose a person" in str(fake.reply_keyboard(admin.id))
    done = await fake.say(admin, ADMIN, "4242")
    assert "4242 was not a moderator." in done["text"]
    assert fake.reply_keyboard(admin.id) is None  # the picker went with the answer


async def test_grant_with_telegrams_person_picker(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    admin = fake.private_chat(ADMIN)
    question = await fake.say(admin, ADMIN, "/grant")
    keyboard = fake.reply_keyboard(admin.id)
    assert keyboard is not None
    [[picker]] = keyboard["keyboard"]
    assert picker["text"] == "Choose a person"
    request = picker["request_users"]
    assert (request["user_is_bot"], request["max_quantity"]) == (False, 1)
    assert "numeric Telegram user id" in question["text"]

    before = len(fake.sent_to(admin.id))
    fake.share_user(admin, ADMIN, request["request_id"], UserRef(4242, "Aigerim"))
    prompt = await fake.wait_for(
        lambda: next((m for m in fake.sent_to(admin.id)[before:] if confirm_button(m)), None)
    )
    assert prompt["text"].startswith("Make Aigerim (4242) a moderator?")
    assert fake.reply_keyboard(admin.id) is None
    await press_confirm(fake, admin, ADMIN, prompt)
    shown = fake.messages[(admin.id, prompt["message_id"])]
    await fake.wait_for(lambda: "4242 is now a moderator" in shown["text"])
    assert "Aigerim" not in shown["text"]  # shown once, in the question
    assert "Aigerim" not in str(await everything(db))  # and never stored


async def everything(database: Database) -> dict[str, list[Any]]:
    """Every row of every table."""
    async with database.reading() as session:
        names = await session.run_sync(
            lambda sync: sync.connection().dialect.get_table_names(sync.connection())
        )
        return {
            name: [tuple(row) for row in await session.execute(text(f'SELECT * FROM "{name}"'))]  # noqa: S608
            for name in names
        }


async def test_cancel_and_the_cancel_button_leave_changing_nothing(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    admin = fake.private_chat(ADMIN)
    before = await snapshot(db)
    await fake.say(admin, ADMIN, "/addcase")
    await fake.say(admin, ADMIN, "free-ali")
    assert (await fake.say(admin, ADMIN, "/cancel"))["text"] == FLOW_CANCELLED
    count = len(fake.sent_to(admin.id))
    await fake.say(admin, ADMIN, "/help")
    fake.send_text(admin, ADMIN, "Ali Free")  # no question is open: not an answer
    await fake.say(admin, ADMIN, "/help")
    assert len(fake.sent_to(admin.id)) == count + 2
    assert (await fake.say(admin, ADMIN, "/cancel"))["text"] == NOTHING_TO_CANCEL

    question = await fake.say(admin, ADMIN, "/closecase")
    tabarak = label_of(question, "Tilek Tabarak")
    answer = await fake.click(admin, ADMIN, question, label_of(question, "Cancel"))
    assert answer["callback_query_id"]
    shown = fake.messages[(admin.id, question["message_id"])]
    await fake.wait_for(lambda: shown["text"].endswith(FLOW_CANCELLED))
    assert "reply_markup" not in shown
    late = await fake.click(admin, ADMIN, question, tabarak)
    assert late["text"] == "This question is closed."
    assert await snapshot(db) == before
    async with db.reading() as session:
        assert await flows.current(session, user_id=ADMIN_ID) is None


async def test_a_new_command_replaces_the_flow_and_says_so(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    admin = fake.private_chat(ADMIN)
    old = await fake.say(admin, ADMIN, "/closecase")
    pick = label_of(old, "Tilek Tabarak")
    question = await fake.say(admin, ADMIN, "/addcase")
    assert question["text"].startswith("What is the new case's id?")
    await fake.wait_for(
        lambda: any(
            "The /closecase you had begun is dropped" in m["text"] for m in fake.sent_to(admin.id)
        )
    )
    late = await fake.click(admin, ADMIN, old, pick)
    assert late["text"] == "This question is closed."
    # A read-only command leaves the flow open: look something up half-way.
    await fake.say(admin, ADMIN, "/hearings")
    assert "What is its title" in (await fake.say(admin, ADMIN, "free-ali"))["text"]


async def test_a_flow_left_alone_expires_and_says_so(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database, clock: Clock
) -> None:
    number = await add_hearing(fake)
    admin = fake.private_chat(ADMIN)
    question = await fake.say(admin, ADMIN, "/postpone")
    pick = label_of(question, f"#{number}")
    await fake.say(admin, ADMIN, f"#{number}")
    before = await snapshot(db)
    clock.now += timedelta(minutes=16)
    late = await fake.say(admin, ADMIN, "2026-12-21")
    assert late["text"].startswith("That question expired")
    assert "Send /postpone to start again." in late["text"]
    pressed = await fake.click(admin, ADMIN, question, pick)
    assert pressed["text"] == "This question is closed."
    assert await snapshot(db) == before


async def test_a_forwarded_staff_command_does_nothing(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    number = await add_hearing(fake)
    admin = fake.private_chat(ADMIN)
    before = await snapshot(db)
    for origin in (ADMIN, None):  # forwarded, or sent through an inline bot
        count = len(fake.sent_to(admin.id))
        fake.forward_text(admin, ADMIN, f"/postpone #{number} 2026-12-21 10:00", origin=origin)
        await fake.wait_for(lambda: len(fake.sent_to(admin.id)) > count)  # noqa: B023
        assert fake.sent_to(admin.id)[count]["text"] == RELAYED
    # Nor is a forwarded message an answer to an open question.
    await fake.say(admin, ADMIN, "/postpone")
    count = len(fake.sent_to(admin.id))
    fake.forward_text(admin, ADMIN, f"#{number}", origin=UserRef(5))
    await fake.wait_for(lambda: len(fake.sent_to(admin.id)) > count)
    assert fake.sent_to(admin.id)[count]["text"] == RELAYED
    assert await snapshot(db) == before


async def test_a_restart_in_the_middle_continues_the_flow(
    settings: Settings, fake: FakeBotApi, clock: Clock
) -> None:
    """The flow is in the database: a restarted bot (or another instance) takes the next
    answer where the first one left it."""
    first = await start_bot(settings, clock)
    admin = fake.private_chat(ADMIN)
    await fake.say(admin, ADMIN, "/addcase")
    title = await fake.say(admin, ADMIN, "free-ali")
    assert title["text"].startswith("What is its title")
    await stop_bot(first)
    second = await start_bot(settings, clock)
    try:
        description = await fake.say(admin, ADMIN, "Ali Free")
        assert description["text"].startswith("A description")
        done = await press(fake, admin, ADMIN, description, "Skip")
        assert "Added the case free-ali: Ali Free" in done["text"]
    finally:
        await stop_bot(second)


@pytest.mark.parametrize(
    ("language", "questions", "month", "not_announced", "preview"),
    [
        (
            "ru",
            ("Какое заседание?", "На какое число?", "Во сколько?", "Почему заседание перенесли?"),
            "ноябрь 2026\u202fг.",  # CLDR's month and year
            "Не объявлено",
            "Перенести это заседание? Уведомление уйдёт в 2 подписанных чата.",
        ),
        (
            "kk",
            ("Қай отырыс?", "Қай күнге?", "Сағат нешеде?", "Отырыс неге кейінге қалдырылды?"),
            "2026\u202fж. қараша",
            "Хабарланбаған",
            "Бұл отырысты кейінге қалдырасыз ба? Хабарландыруды 2 жазылған чат алады.",
        ),
    ],
)
async def test_the_questions_and_the_preview_in_the_staff_members_language(
    bot: HearingWatchApp,
    fake: FakeBotApi,
    language: str,
    questions: tuple[str, ...],
    month: str,
    not_announced: str,
    preview: str,
) -> None:
    number = await add_hearing(fake)
    for reader, code in ((ALICE, "ru"), (UserRef(1002), "kk")):
        chat = fake.private_chat(reader)
        await fake.say(chat, reader, f"/language {code}")
        await fake.say(chat, reader, "/subscribe tabarak")
    staff = UserRef(ADMIN_ID, language_code=language)
    phone = fake.private_chat(staff)
    question = await fake.say(phone, staff, "/postpone")
    assert question["text"].startswith(questions[0])
    calendar = await press(fake, phone, staff, question, f"#{number} ·")
    assert calendar["text"].startswith(questions[1])
    assert month in buttons(calendar)
    hours = await press(fake, phone, staff, calendar, "30")
    assert hours["text"].startswith(questions[2])
    assert not_announced in buttons(hours)
    reason = await press(fake, phone, staff, hours, not_announced)
    assert reason["text"].startswith(questions[3])
    shown = await fake.say(phone, staff, "судья заболел")
    assert shown["text"].startswith(preview)
    # What each language's chats will read, and how many read it.
    assert "Қазақша — 1 чат" in shown["text"]
    assert "Русский — 1 чат" in shown["text"]
    assert "Заседание перенесено" in shown["text"]
    assert "Сот отырысы кейінге қалдырылды" in shown["text"]


class Thumb:
    """A staff member's thumb on a phone, counted: taps (a button, Send, the menu) and
    keystrokes (each character typed)."""

    def __init__(self, fake: FakeBotApi, chat: ChatRef, user: UserRef) -> None:
        self.fake, self.chat, self.user = fake, chat, user
        self.taps = 0
        self.keystrokes = 0

    async def menu(self, command: str) -> Json:
        """Open the command menu and pick a command: two taps, nothing typed."""
        self.taps += 2
        return await self.fake.say(self.chat, self.user, command)

    async def type(self, text: str) -> Json:
        """Type ``text`` and tap Send."""
        self.keystrokes += len(text)
        self.taps += 1
        return await self.fake.say(self.chat, self.user, text)

    async def press(self, message: Json, label: str) -> Json:
        self.taps += 1
        return await press(self.fake, self.chat, self.user, message, label)

    async def confirm(self, message: Json) -> None:
        self.taps += 1
        await press_confirm(self.fake, self.chat, self.user, message)


async def test_taps_and_keystrokes_to_postpone_a_hearing(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    """The figures the README quotes: guided from the menu (the hearing by button, the date on
    next month's calendar, the hour typed, no reason) against the typed line."""
    number = await add_hearing(fake)
    assert number == 5  # a one-digit id in the line below
    admin = fake.private_chat(ADMIN)
    guided = Thumb(fake, admin, ADMIN)
    question = await guided.menu("/postpone")
    calendar = await guided.press(question, f"#{number} ·")
    await fake.click(admin, ADMIN, calendar, label_of(calendar, "»"))  # next month
    guided.taps += 1
    shown = fake.messages[(admin.id, calendar["message_id"])]
    await fake.wait_for(lambda: "December 2026" in buttons(shown))
    hours = await guided.press(shown, "21")
    reason = await guided.type("10:00")
    preview = await guided.press(reason, "Skip")
    await guided.confirm(preview)
    assert (guided.taps, guided.keystrokes) == (8, 5)

    await add_hearing(fake, "2026-12-17 10:00")
    typed = Thumb(fake, admin, ADMIN)
    line = await typed.type("/postpone #6 2026-12-22 10:00")
    await typed.confirm(line)
    assert (typed.taps, typed.keystrokes) == (2, 29)
    assert hours["text"].startswith("At what time?")


async def test_the_person_picker_comes_and_goes_with_its_question(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    admin = fake.private_chat(ADMIN)

    async def asked(command: str, question: str) -> None:
        fake.send_text(admin, ADMIN, command)
        await fake.wait_for(
            lambda: any(m["text"].startswith(question) for m in fake.sent_to(admin.id)[-3:])
        )

    await asked("/grant", "Who should become a moderator?")
    await asked("/revoke", "Who should no longer be a moderator?")  # replaces /grant
    assert fake.reply_keyboard(admin.id) is not None
    await asked("/closecase", "Which case should be closed?")  # no picker for this one
    assert fake.reply_keyboard(admin.id) is None
    await asked("/grant", "Who should become a moderator?")
    assert fake.reply_keyboard(admin.id) is not None
    await asked("/cancel", FLOW_CANCELLED)
    assert fake.reply_keyboard(admin.id) is None
