"""Staff, end to end: admins keep the schedule, moderators postpone, nobody else changes a thing."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.context import HearingWatchApp
from bot.staff_texts import ADMINS_ONLY, NOT_STAFF, NOT_YOURS_TO_CONFIRM, PRIVATE_ONLY
from storage import schedule
from storage.database import Database
from storage.models import Hearing
from tests.conftest import ADMIN_ID, Clock
from tests.fakebot import ChatRef, FakeBotApi, UserRef
from tests.snapshot import snapshot
from tests.staffing import asked_to_confirm, confirmed, grant, press_confirm

ADMIN = UserRef(ADMIN_ID)
MODERATOR = UserRef(777)
ALICE = UserRef(1001)
GROUP_ID = -1005550001


@pytest.fixture
def db(bot: HearingWatchApp) -> Database:
    """The running bot's own database."""
    return bot.bot_data.database


def hearing_id(reply: dict[str, object]) -> int:
    match = re.search(r"#(\d+)", str(reply["text"]))
    assert match, reply["text"]
    return int(match.group(1))


def button(message: dict[str, object], label_start: str) -> str:
    markup = message["reply_markup"]
    assert isinstance(markup, dict)
    for row in markup["inline_keyboard"]:
        for b in row:
            if b["text"].startswith(label_start):
                return str(b["callback_data"])
    raise AssertionError(f"no button {label_start!r} in {markup}")


async def received(fake: FakeBotApi, chat: ChatRef, fragment: str) -> str:
    """Wait for a message containing ``fragment`` in ``chat``."""
    return await fake.wait_for(
        lambda: next((m["text"] for m in fake.sent_to(chat.id) if fragment in m["text"]), None)
    )


async def test_admin_and_moderator_journey(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    admin = fake.private_chat(ADMIN)
    moderator = fake.private_chat(MODERATOR)
    alice = fake.private_chat(ALICE)
    group = fake.group(GROUP_ID)
    fake.set_member(group, ALICE, "administrator")

    added = await fake.say(
        admin, ADMIN, "/addcase free-ali Ali Free\nA refugee facing deportation."
    )
    assert "Added the case free-ali" in added["text"]
    reply = await fake.say(
        admin, ADMIN, "/addhearing free-ali 2026-12-16 10:00 Zharkent court; Zharkent; Main St 1"
    )
    first = hearing_id(reply)
    assert "16 December 2026, 10:00 (Almaty time, UTC+5)" in reply["text"]
    reply = await fake.say(admin, ADMIN, f"/edithearing #{first} court Panfilov district court")
    assert "Panfilov district court, Zharkent, Main St 1" in reply["text"]

    await fake.say(alice, ALICE, "/subscribe free-ali")
    await fake.say(group, ALICE, "/subscribe free-ali")

    prompt = await asked_to_confirm(
        fake, admin, ADMIN, f"/postpone #{first} 2026-12-21 tba the judge is ill"
    )
    assert "Postpone this hearing? A notice goes to 2 subscribed chats." in prompt["text"]
    assert "Now: 21 December 2026, time not announced" in prompt["text"]  # the notice itself
    assert not any("Hearing postponed" in m["text"] for m in fake.sent_to(alice.id))
    await press_confirm(fake, admin, ADMIN, prompt)
    reply = fake.messages[(admin.id, prompt["message_id"])]
    await fake.wait_for(lambda: "Sending this to 2 subscribed chats" in reply["text"])
    assert "Hearing postponed" in reply["text"]
    for chat in (alice, group):
        notice = await received(fake, chat, "Hearing postponed")
        assert "Was: 16 December 2026, 10:00 (Almaty time, UTC+5)" in notice
        assert "Now: 21 December 2026, time not announced" in notice
        assert "Reason: the judge is ill" in notice
    case = (await fake.say(alice, ALICE, "/case free-ali"))["text"]
    assert "16 December 2026, 10:00" in case
    assert "Postponed to 21 December 2026" in case
    assert "21 December 2026, time not announced" in case

    second = hearing_id(
        await fake.say(admin, ADMIN, "/addhearing free-ali 2027-01-10 tba Zharkent court; Zharkent")
    )
    prompt = await fake.say(admin, ADMIN, f"/cancelhearing #{second} the lawyer is ill")
    assert "Cancel this hearing? A notice goes to 2 subscribed chats." in prompt["text"]
    confirm = button(prompt, "Cancel the hearing")
    await fake.click(admin, ADMIN, prompt, confirm)
    for chat in (alice, group):
        notice = await received(fake, chat, "Hearing cancelled")
        assert "10 January 2027, time not announced" in notice
        assert "Reason: the lawyer is ill" in notice
    again = await fake.click(admin, ADMIN, prompt, confirm)  # a second press, or a second device
    assert again["text"] == "This was done already; nothing changed."
    assert sum("Hearing cancelled" in m["text"] for m in fake.sent_to(alice.id)) == 1

    prompt = await asked_to_confirm(fake, admin, ADMIN, f"/grant {MODERATOR.id}")
    assert prompt["text"].startswith(f"Make {MODERATOR.id} a moderator?")
    await press_confirm(fake, admin, ADMIN, prompt)
    shown = fake.messages[(admin.id, prompt["message_id"])]
    await fake.wait_for(lambda: "now a moderator" in shown["text"])
    third = hearing_id(
        await fake.say(
            admin, ADMIN, "/addhearing free-ali 2027-02-01 09:30 Zharkent court; Zharkent"
        )
    )
    # The moderator confirms their own postponement.
    reply = await confirmed(fake, moderator, MODERATOR, f"/postpone #{third} 2027-02-08 09:30")
    assert "Hearing postponed" in reply["text"]
    listed = await fake.say(moderator, MODERATOR, "/hearings free-ali")
    assert "8 February 2027, 09:30" in listed["text"]
    refused = await fake.say(moderator, MODERATOR, f"/cancelhearing #{third}")
    assert refused["text"] == ADMINS_ONLY
    assert (
        "no longer a moderator" in (await fake.say(admin, ADMIN, f"/revoke {MODERATOR.id}"))["text"]
    )
    refused = await fake.say(moderator, MODERATOR, f"/postpone #{third} 2027-03-01 tba")
    assert refused["text"] == NOT_STAFF

    audit = (await fake.say(admin, ADMIN, "/audit"))["text"]
    for action in (
        "addcase",
        "addhearing",
        "edithearing",
        "postpone",
        "cancelhearing",
        "grant",
        "revoke",
    ):
        assert action in audit
    assert f"user {MODERATOR.id} · postpone" in audit
    assert '"court": "Panfilov district court"' in audit  # values after, and before
    assert '"court": "Zharkent court"' in audit


async def test_close_case_asks_first_and_tells_subscribers(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    admin = fake.private_chat(ADMIN)
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    prompt = await fake.say(admin, ADMIN, "/closecase tabarak")
    assert "a notice goes to 1 subscribed chat." in prompt["text"]
    assert "No longer followed: Tilek Tabarak" in prompt["text"]  # the notice, before it goes
    keep = await fake.click(admin, ADMIN, prompt, button(prompt, "Keep it"))
    assert keep["callback_query_id"]
    assert "tabarak" in (await fake.say(alice, ALICE, "/cases"))["text"]

    prompt = await fake.say(admin, ADMIN, "/closecase tabarak")
    await fake.click(admin, ADMIN, prompt, button(prompt, "Close the case"))
    assert "No longer followed" in await received(fake, alice, "No longer followed")
    assert "tabarak" not in (await fake.say(alice, ALICE, "/cases"))["text"]
    assert "This case is closed" in (await fake.say(alice, ALICE, "/case tabarak"))["text"]


STAFF_COMMANDS = [
    "/addcase new-case New case",
    "/editcase tabarak title Changed",
    "/closecase tabarak",
    "/addhearing tabarak 2027-01-01 10:00 Court; City",
    "/edithearing #4 court Changed",
    "/postpone #4 2027-01-01 tba",
    "/cancelhearing #4",
    "/hearings",
    "/staff",
    "/grant 4242",
    "/revoke 4242",
    "/audit",
    "/outcome #4 The court released him.",
    "/update tabarak News.",
    "/broadcasts",
]


@pytest.mark.parametrize("command", STAFF_COMMANDS)
@pytest.mark.parametrize(
    "sender", ["plain user", "revoked moderator", "admin in a group", "anonymous admin"]
)
async def test_refusals_change_nothing_and_say_why(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database, command: str, sender: str
) -> None:
    admin = fake.private_chat(ADMIN)
    await grant(fake, ADMIN, MODERATOR)
    await fake.say(admin, ADMIN, f"/revoke {MODERATOR.id}")
    before = await snapshot(db)
    group = fake.group(GROUP_ID)
    fake.set_member(group, ADMIN, "administrator")
    if sender == "plain user":
        reply = await fake.say(fake.private_chat(ALICE), ALICE, command)
        expected = NOT_STAFF
    elif sender == "revoked moderator":
        reply = await fake.say(fake.private_chat(MODERATOR), MODERATOR, command)
        expected = NOT_STAFF
    elif sender == "admin in a group":
        reply = await fake.say(group, ADMIN, command)
        expected = PRIVATE_ONLY
    else:
        reply = await fake.say(group, None, command, as_chat=True)
        expected = PRIVATE_ONLY  # in a group, the same answer for everyone
    assert reply["text"] == expected
    assert await snapshot(db) == before


async def test_a_moderator_cannot_press_an_admins_confirm_button(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    admin = fake.private_chat(ADMIN)
    await grant(fake, ADMIN, MODERATOR)
    prompt = await fake.say(admin, ADMIN, "/closecase tabarak")
    before = await snapshot(db)
    moderator = fake.private_chat(MODERATOR)
    answer = await fake.click(moderator, MODERATOR, prompt, button(prompt, "Close the case"))
    assert answer["text"] == NOT_YOURS_TO_CONFIRM
    answer = await fake.click(moderator, MODERATOR, prompt, button(prompt, "Keep it"))
    assert answer["text"] == NOT_YOURS_TO_CONFIRM  # nor cancel it
    assert await snapshot(db) == before
    # A plain user learns nothing more than a moderator would.
    answer = await fake.click(fake.private_chat(ALICE), ALICE, prompt, button(prompt, "Close"))
    assert answer["text"] == NOT_STAFF


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/addcase Bad_Id Title", "is not a case id"),
        ("/addcase tabarak Again", "exists already"),
        ("/addhearing tabarak 2026-13-01 10:00 C; Z", "is not a date; write it as YYYY-MM-DD"),
        ("/addhearing tabarak 2027-01-01 25:00 C; Z", "is not a time"),
        ("/addhearing tabarak 2027-01-01 10:00 Court only", "separated by “;”"),
        ("/addhearing tabarak 2027-01-01 10:00 C; Z tz=Mars/Base", "is not a time zone"),
        # A folder of the zone database, not a zone: an OSError inside ZoneInfo.
        ("/addhearing tabarak 2027-01-01 10:00 C; Z tz=Asia", "“Asia” is not a time zone"),
        ("/edithearing #4 zone America", "“America” is not a time zone"),
        ("/addhearing tabarak 2026-11-01 10:00 C; Z", "is in the past"),
        ("/addhearing nope 2027-01-01 10:00 C; Z", "There is no case “nope”"),
        ("/edithearing #999 court X", "There is no hearing #999"),
        ("/edithearing #4 colour red", "is not a field of a hearing"),
        ("/edithearing #4 time 10:00", "is in the past in Asia/Almaty"),  # 16 January 2020
        ("/edithearing #4 date 2019-12-31", "is in the past in Asia/Almaty"),
        ("/edithearing #4 time tba", "Give the hour as HH:MM"),
        ("/edithearing #4 date 2027-02-30", "is not a date"),
        ("/edithearing #3 time 10:00", "only a scheduled one's date or time can be changed"),
        ("/postpone #1 2027-01-01 tba", "Hearing #1 is postponed; only a scheduled one moves."),
        ("/cancelhearing #1", "Hearing #1 is postponed; it cannot be cancelled."),
        ("/postpone four 2027-01-01 tba", "write it as #N"),
        ("/grant bob", "numeric Telegram user id"),
        (f"/revoke {ADMIN_ID}", "admins are removed in the config"),
        ("/audit 1000", "from 1 to 100"),
    ],
)
async def test_mistakes_say_what_was_expected_and_change_nothing(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database, command: str, expected: str
) -> None:
    admin = fake.private_chat(ADMIN)
    before = await snapshot(db)
    reply = await fake.say(admin, ADMIN, command)
    assert reply["text"].startswith("⚠️")
    assert expected in reply["text"]
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("day", "utc_hour", "offset"), [("2024-02-29", 4, "UTC+6"), ("2024-03-01", 5, "UTC+5")]
)
async def test_almaty_hearings_across_the_2024_change(
    bot: HearingWatchApp,
    fake: FakeBotApi,
    db: Database,
    clock: Clock,
    day: str,
    utc_hour: int,
    offset: str,
) -> None:
    """Entered as 10:00 in Asia/Almaty: shown as 10:00, stored as the right UTC instant."""
    clock.now = datetime(2024, 1, 1, tzinfo=UTC)
    admin = fake.private_chat(ADMIN)
    reply = await fake.say(
        admin, ADMIN, f"/addhearing tabarak {day} 10:00 Zharkent court; Zharkent"
    )
    async with db.reading() as session:
        hearing = await session.get(Hearing, hearing_id(reply))
    assert hearing is not None
    assert hearing.starts_at == datetime.fromisoformat(day).replace(hour=utc_hour, tzinfo=UTC)
    shown = (await fake.say(fake.private_chat(ALICE), ALICE, "/case tabarak"))["text"]
    assert f"10:00 (Almaty time, {offset})" in shown


async def test_hearing_in_another_zone_and_zone_edit_keeps_local_time(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    admin = fake.private_chat(ADMIN)
    reply = await fake.say(
        admin,
        ADMIN,
        "/addhearing tabarak 2027-07-01 09:30 Vilnius court; Vilnius tz=Europe/Vilnius",
    )
    assert "1 July 2027, 09:30 (Vilnius time, UTC+3)" in reply["text"]
    number = hearing_id(reply)
    reply = await fake.say(admin, ADMIN, f"/edithearing #{number} zone Asia/Almaty")
    assert "1 July 2027, 09:30 (Almaty time, UTC+5)" in reply["text"]
    async with db.reading() as session:
        hearing = await session.get(Hearing, number)
    assert hearing is not None
    assert hearing.starts_at == datetime(2027, 7, 1, 4, 30, tzinfo=UTC)


async def test_staff_see_their_commands_in_the_menu(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    def scoped(user_id: int) -> list[str] | None:
        entry = fake.commands.get(json.dumps({"chat_id": user_id, "type": "chat"}, sort_keys=True))
        return None if entry is None else [c["command"] for c in entry]

    admin_menu = scoped(ADMIN_ID)
    assert admin_menu is not None
    assert {"cases", "addcase", "postpone", "audit"} <= set(admin_menu)
    admin = fake.private_chat(ADMIN)
    fake.private_chat(MODERATOR)
    await grant(fake, ADMIN, MODERATOR)
    moderator_menu = scoped(MODERATOR.id)
    assert moderator_menu is not None
    assert "postpone" in moderator_menu
    assert "addcase" not in moderator_menu
    await fake.say(admin, ADMIN, f"/revoke {MODERATOR.id}")
    assert scoped(MODERATOR.id) is None
    default = fake.commands[json.dumps({"type": "default"})]
    assert "addcase" not in [c["command"] for c in default]


async def test_a_staff_command_in_a_group_tells_nobody_who_is_staff(
    bot: HearingWatchApp, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Staff, non-staff and an anonymous admin get the same answer; the refusal logs no id."""
    await grant(fake, ADMIN, MODERATOR)
    group = fake.group(GROUP_ID)
    fake.set_member(group, ADMIN, "administrator")
    answers = {
        "admin": (await fake.say(group, ADMIN, "/hearings"))["text"],
        "moderator": (await fake.say(group, MODERATOR, "/hearings"))["text"],
        "plain user": (await fake.say(group, ALICE, "/hearings"))["text"],
        "anonymous admin": (await fake.say(group, None, "/hearings", as_chat=True))["text"],
    }
    assert set(answers.values()) == {PRIVATE_ONLY}
    assert not [r for r in caplog.records if str(ALICE.id) in r.getMessage()]


async def test_the_hour_of_a_hearing_is_announced_not_postponed(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    """Issue 10: a hearing whose hour was not announced gets it; its date can be corrected."""
    admin = fake.private_chat(ADMIN)
    alice = fake.private_chat(ALICE)
    number = hearing_id(
        await fake.say(admin, ADMIN, "/addhearing tabarak 2026-12-16 tba Zharkent court; Zharkent")
    )
    await fake.say(alice, ALICE, "/subscribe tabarak")

    prompt = await asked_to_confirm(fake, admin, ADMIN, f"/edithearing #{number} time 10:00")
    announced = (
        "The hour of the hearing on 16 December 2026 is announced: 10:00 (Almaty time, UTC+5)"
    )
    assert "Correct when this hearing takes place? It is not postponed" in prompt["text"]
    assert announced in prompt["text"]
    await press_confirm(fake, admin, ADMIN, prompt)
    reply = (await confirmed_text(fake, admin, prompt))["text"]
    assert "Hour announced" in reply
    assert announced in reply
    assert "Sending this to 1 subscribed chat" in reply
    notice = await received(fake, alice, "Hour announced")
    assert announced in notice
    assert "ostponed" not in notice
    case = (await fake.say(alice, ALICE, "/case tabarak"))["text"]
    assert "16 December 2026, 10:00 (Almaty time, UTC+5)" in case
    assert "16 December 2026, time not announced" not in case

    reply = (await confirmed(fake, admin, ADMIN, f"/edithearing #{number} time 11:30"))["text"]
    assert "starts at 11:30 (Almaty time, UTC+5), not at 10:00" in reply
    reply = (await confirmed(fake, admin, ADMIN, f"/edithearing #{number} date 2026-12-17"))["text"]
    assert "Date corrected" in reply
    notice = await received(fake, alice, "Date corrected")
    assert (
        "The hearing is on 17 December 2026, 11:30 (Almaty time, UTC+5) (it was given as"
        " 16 December 2026 by mistake)" in notice
    )
    assert "the hearing was not postponed" in notice
    case = (await fake.say(alice, ALICE, "/case tabarak"))["text"]
    assert "17 December 2026, 11:30" in case
    assert "16 December 2026" not in case
    assert case.count("Postponed to") == 1  # the seed's, as before

    async with db.reading() as session:
        hearing = await session.get(Hearing, number)
        count = len(await schedule.hearings_of(session, "tabarak"))
    assert hearing is not None
    assert (hearing.status, hearing.time_tba) == ("scheduled", False)
    assert hearing.starts_at == datetime(2026, 12, 17, 6, 30, tzinfo=UTC)
    assert hearing.revision == 3  # each correction is a new version for calendars
    assert count == 3  # the seed's two, and this one: no hearing was added
    audit = (await fake.say(admin, ADMIN, "/audit 3"))["text"]
    assert '"time": "tba"' in audit
    assert '"time": "10:00"' in audit
    assert '"date": "2026-12-17"' in audit


async def test_two_hearings_of_a_case_never_share_a_date_and_time(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    admin = fake.private_chat(ADMIN)
    first = hearing_id(
        await fake.say(
            admin, ADMIN, "/addhearing tabarak 2026-12-16 10:00 Zharkent court; Zharkent"
        )
    )
    second = hearing_id(
        await fake.say(admin, ADMIN, "/addhearing tabarak 2026-12-16 tba Zharkent court; Zharkent")
    )
    third = hearing_id(
        await fake.say(
            admin, ADMIN, "/addhearing tabarak 2026-12-18 10:00 Zharkent court; Zharkent"
        )
    )
    # Another case may have a hearing then.
    await fake.say(
        admin, ADMIN, "/addhearing musakhan-alimuly 2026-12-16 10:00 Zaisan court; Zaisan"
    )
    before = await snapshot(db)
    clash = f"Hearing #{first} of this case is on 2026-12-16 10:00 already"
    for command, expected in (
        ("/addhearing tabarak 2026-12-16 10:00 Other court; Zharkent", clash),
        (f"/edithearing #{second} time 10:00", clash),
        (f"/edithearing #{third} date 2026-12-16", clash),
        (f"/postpone #{third} 2026-12-16 10:00", clash),
        (
            f"/postpone #{first} 2026-12-16 tba",
            f"Hearing #{second} of this case is on 2026-12-16 tba",
        ),
        (
            f"/edithearing #{first} time 10:00",
            f"Hearing #{first} is on that date and time already.",
        ),
    ):
        reply = (await fake.say(admin, ADMIN, command))["text"]
        assert reply.startswith("⚠️"), command
        assert expected in reply, (command, reply)
    assert await snapshot(db) == before


async def confirmed_text(
    fake: FakeBotApi, chat: ChatRef, prompt: dict[str, object]
) -> dict[str, object]:
    """A confirmation once its Confirm was pressed and it shows what was done."""
    shown = fake.messages[(chat.id, int(str(prompt["message_id"])))]
    await fake.wait_for(lambda: "reply_markup" not in shown or "Sending" in shown["text"])
    return shown


async def test_a_confirmation_is_refused_after_a_day_or_once_the_hearing_changed(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database, clock: Clock
) -> None:
    admin = fake.private_chat(ADMIN)
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    number = hearing_id(
        await fake.say(
            admin, ADMIN, "/addhearing tabarak 2026-12-16 10:00 Zharkent court; Zharkent"
        )
    )
    stale = await asked_to_confirm(fake, admin, ADMIN, "/closecase tabarak")
    moved = await asked_to_confirm(fake, admin, ADMIN, f"/postpone #{number} 2026-12-21 10:00")
    await fake.say(admin, ADMIN, f"/edithearing #{number} court Panfilov district court")
    before = await snapshot(db)

    answer = await press_confirm(fake, admin, ADMIN, moved)
    assert answer["text"] == (
        f"Hearing #{number} was changed meanwhile by another staff member: it is now on"
        " 2026-12-16 10:00, Panfilov district court, Zharkent. Nothing of yours was changed or"
        " sent; look at it again."
    )
    shown = fake.messages[(admin.id, moved["message_id"])]
    await fake.wait_for(lambda: "⚠️ Hearing" in shown["text"])
    assert "reply_markup" not in shown  # this preview can never be right again

    clock.now += timedelta(days=1, minutes=1)
    answer = await press_confirm(fake, admin, ADMIN, stale)
    assert answer["text"] == (
        "This is more than a day old, so nothing was changed or sent. Send the command again."
    )
    await fake.say(alice, ALICE, "/mysubs")
    assert await snapshot(db) == before
    assert not [m for m in fake.sent_to(alice.id) if "No longer followed" in m["text"]]


async def test_two_moderators_postpone_one_hearing_at_once(
    bot: HearingWatchApp, fake: FakeBotApi, db: Database
) -> None:
    """Both see the hearing scheduled and confirm together (in two chats, handled at the same
    time): one postponement, one notice per chat, and the second is told what happened."""
    admin = fake.private_chat(ADMIN)
    others = [UserRef(778), UserRef(779)]
    for user in others:
        await grant(fake, ADMIN, user)
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    number = hearing_id(
        await fake.say(
            admin, ADMIN, "/addhearing tabarak 2026-12-16 10:00 Zharkent court; Zharkent"
        )
    )
    chats = [fake.private_chat(user) for user in others]
    prompts = [
        await asked_to_confirm(fake, chat, user, f"/postpone #{number} 2026-12-{day} 10:00")
        for chat, user, day in zip(chats, others, (21, 23), strict=True)
    ]
    answers = await asyncio.gather(
        *(
            press_confirm(fake, chat, user, prompt)
            for chat, user, prompt in zip(chats, others, prompts, strict=True)
        )
    )
    refused = [a["text"] for a in answers if a.get("text")]
    assert len(refused) == 1
    assert refused[0].startswith(f"Hearing #{number} was postponed meanwhile")
    await fake.wait_for(
        lambda: any("Hearing postponed" in m["text"] for m in fake.sent_to(alice.id))
    )
    await fake.say(alice, ALICE, "/mysubs")
    assert sum("Hearing postponed" in m["text"] for m in fake.sent_to(alice.id)) == 1
    async with db.reading() as session:
        hearings = await schedule.hearings_of(session, "tabarak")
    december = [h for h in hearings if h.starts_at.year == 2026 and h.status == "scheduled"]
    assert len(december) == 1  # the one it moved to; it was not moved twice
