"""Every control character and every kind of line break, at every entry point of text that
reaches a calendar or a message: refused with a line that names it, and the calendar writes
what is stored escaped, whatever it is."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from icalendar import Calendar

from bot import parsing
from bot.context import HearingWatchApp
from bot.guided import Env
from bot.guided_flows import FLOWS
from bot.parsing import UsageError
from storage import editing
from storage.calendar import case_calendar
from storage.database import Database
from storage.schedule_file import ScheduleFileError, read_schedule_file
from storage.text import code_point
from tests.conftest import ADMIN_ID
from tests.fakebot import FakeBotApi, UserRef
from tests.snapshot import snapshot

# C0, DEL, C1, and the Unicode line and paragraph separators.
CONTROLS = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)]
# What may stand inside multi-line text (a description, a reason, a message).
MULTILINE_ALLOWED = {"\n", "\t"}

# Each entry point with text a person wrote: the parser, a command line with {} where the
# character goes, and whether that field may run over several lines.
ENTRY_POINTS: list[tuple[str, Callable[[str], object], str, bool]] = [
    ("addcase title", parsing.parse_addcase, "kaster Kaster{}Musakhan", False),
    ("addcase description", parsing.parse_addcase, "kaster Kaster\nA long{}story", True),
    ("editcase title", parsing.parse_editcase, "tabarak title Tilek{}Tabarak", False),
    ("editcase description", parsing.parse_editcase, "tabarak description A{}story", True),
    (
        "addhearing court",
        parsing.parse_addhearing,
        "tabarak 2026-12-16 10:00 Zharkent{}court; Zharkent; Pushkin St 1",
        False,
    ),
    (
        "addhearing city",
        parsing.parse_addhearing,
        "tabarak 2026-12-16 10:00 Zharkent court; Zhar{}kent; Pushkin St 1",
        False,
    ),
    (
        "addhearing address",
        parsing.parse_addhearing,
        "tabarak 2026-12-16 10:00 Zharkent court; Zharkent; Pushkin{}St 1",
        False,
    ),
    ("edithearing court", parsing.parse_edithearing, "#3 court Panfilov{}court", False),
    ("edithearing city", parsing.parse_edithearing, "#3 city Zhar{}kent", False),
    ("edithearing address", parsing.parse_edithearing, "#3 address Pushkin{}St", False),
    ("postpone reason", parsing.parse_postpone, "#3 2026-12-21 tba the judge{}is ill", True),
    ("cancelhearing reason", parsing.parse_cancelhearing, "#3 the charges{}were dropped", True),
    ("outcome text", parsing.parse_outcome, "#3 The court{}ruled.", True),
    ("update text", parsing.parse_update, "tabarak The appeal{}is in March.", True),
]


@pytest.mark.parametrize(
    ("where", "parse", "template", "multiline"),
    ENTRY_POINTS,
    ids=[entry[0] for entry in ENTRY_POINTS],
)
def test_every_command_refuses_every_control_character(
    where: str, parse: Callable[[str], object], template: str, multiline: bool
) -> None:
    for character in CONTROLS:
        text = template.format(character)
        if where == "addcase title" and character == "\n":
            continue  # the line break that ends the title: what follows is the description
        if multiline and character in MULTILINE_ALLOWED:
            parse(text)  # a line break or a tab in a description, a reason or a message
            continue
        with pytest.raises(UsageError) as refused:
            parse(text)
        message = str(refused.value)
        assert code_point(character) in message, (where, code_point(character), message)
        assert ("one line" in message) or ("control character" in message)


def test_a_windows_line_break_in_multiline_text_is_a_line_break() -> None:
    request = parsing.parse_addcase("kaster Kaster Musakhan\r\nFirst line\r\nsecond line")
    assert request.description == "First line\nsecond line"


# --- the schedule file --------------------------------------------------------------------

FILE_FIELDS = [
    ("cases[0].title", False),
    ("cases[0].description", True),
    ("cases[0].hearings[0].court", False),
    ("cases[0].hearings[0].city", False),
    ("cases[0].hearings[0].address", False),
    ("cases[0].hearings[0].reason", True),
]


def schedule_with(field: str, value: str) -> str:
    """A schedule file with ``value`` (a TOML string written with escapes) in ``field``."""
    case = {"id": "kaster", "title": "Kaster", "description": "A story"}
    hearing = {
        "date": "2026-12-16",
        "time": "10:00",
        "court": "Zaisan court",
        "city": "Zaisan",
        "address": "Abai 5",
        "reason": "none",
    }
    name = field.rsplit(".", 1)[1]
    (hearing if ".hearings[0]." in field else case)[name] = value
    lines = ["[[cases]]"] + [f"{k} = {json.dumps(v)}" for k, v in case.items()]
    lines += ["[[cases.hearings]]"]
    lines += [f"{k} = {v}" if k == "date" else f"{k} = {json.dumps(v)}" for k, v in hearing.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("field", "multiline"), FILE_FIELDS)
def test_the_schedule_file_refuses_every_control_character(
    tmp_path: Path, field: str, multiline: bool
) -> None:
    path = tmp_path / "schedule.toml"
    for character in CONTROLS:
        path.write_text(schedule_with(field, f"A{character}B"), encoding="utf-8")
        if multiline and character in MULTILINE_ALLOWED:
            read_schedule_file(path)
            continue
        with pytest.raises(ScheduleFileError) as refused:
            read_schedule_file(path)
        [problem] = refused.value.problems
        assert problem.startswith(f"{field}: "), problem
        assert code_point(character) in problem


# --- the running bot: one of each kind, end to end ----------------------------------------

ADMIN = UserRef(ADMIN_ID)


@pytest.mark.parametrize(
    "command",
    [
        "/editcase tabarak title Tilek\nTabarak",
        "/editcase tabarak title Tilek\rTabarak",
        "/editcase tabarak title Tilek\u2028Tabarak",
        "/addcase kaster Kaster\x1bMusakhan",
        "/addhearing tabarak 2026-12-16 10:00 Zharkent\x85court; Zharkent",
        "/edithearing #1 court Zharkent\x0bcourt",
        "/update tabarak The appeal\ris in March.",
    ],
)
async def test_the_bot_answers_a_control_character_with_a_warning_and_changes_nothing(
    bot: HearingWatchApp, fake: FakeBotApi, command: str
) -> None:
    admin = fake.private_chat(ADMIN)
    before = await snapshot(bot.bot_data.database)
    reply = await fake.say(admin, ADMIN, command)
    assert reply["text"].startswith("⚠️")
    assert "U+" in reply["text"]
    assert await snapshot(bot.bot_data.database) == before


# --- the calendar ----------------------------------------------------------------------------


async def test_the_calendar_escapes_whatever_a_title_or_place_holds(database: Database) -> None:
    """Rows written before the entry points refused control characters still make a calendar
    that parses, with no line that a lenient parser could split."""
    # PostgreSQL stores no NUL in text at all; every other one may be in an older row.
    nasty = "".join(c for c in CONTROLS if c != "\x00") + ";,\\"
    async with database.writing() as session:
        await editing.add_case(
            session, actor=ADMIN_ID, case_id="kaster", title=f"Kaster{nasty}", description=""
        )
        await editing.add_hearing(
            session,
            actor=ADMIN_ID,
            case_id="kaster",
            day=dt.date(2026, 12, 16),
            at=dt.time(10, 0),
            court=f"Court{nasty}",
            city=f"City{nasty}",
            address=f"Street{nasty}",
            zone="Asia/Almaty",
            now=dt.datetime(2026, 11, 22, tzinfo=dt.UTC),
        )
    async with database.reading() as session:
        feed = await case_calendar(
            session, "kaster", now=dt.datetime(2026, 11, 22, tzinfo=dt.UTC), domain="x.org"
        )
    assert feed is not None
    # Every line ends with CRLF, and no other control character is anywhere in the file.
    assert feed.endswith(b"\r\n")
    for line in feed.decode().split("\r\n"):
        assert not any(c in CONTROLS and c != "\t" for c in line), repr(line)
    calendar = Calendar.from_ical(feed)
    assert str(calendar["x-wr-calname"]).startswith("Kaster")
    [event] = calendar.walk("VEVENT")
    assert str(event["summary"]).endswith(";,\\")
    assert str(event["location"]).startswith("Court")


# The guided commands' free-text questions: (command, step, the answers before it, multi-line).
GUIDED: list[tuple[str, str, dict[str, object], bool]] = [
    ("addcase", "title", {}, False),
    ("addcase", "description", {}, True),
    ("editcase", "value", {"field": "title"}, False),
    ("editcase", "value", {"field": "description"}, True),
    ("addhearing", "court", {}, False),
    ("addhearing", "city", {}, False),
    ("addhearing", "address", {}, False),
    ("edithearing", "value", {"field": "court"}, False),
    ("edithearing", "value", {"field": "city"}, False),
    ("edithearing", "value", {"field": "address"}, False),
    ("postpone", "reason", {}, True),
    ("cancelhearing", "reason", {}, True),
    ("outcome", "text", {}, True),
    ("update", "text", {}, True),
]


@pytest.mark.parametrize(
    ("command", "name", "before", "multiline"),
    GUIDED,
    ids=[f"{g[0]} {g[1]} {g[2].get('field', '')}".strip() for g in GUIDED],
)
async def test_every_guided_question_refuses_every_control_character(
    command: str, name: str, before: dict[str, object], multiline: bool
) -> None:
    """The answers typed to a guided command go through the same checks as its one-line form."""
    step = FLOWS[command].step(name)
    assert step is not None
    env = cast(Env, None)  # these questions read only what was typed
    for character in CONTROLS:
        text = f"Zharkent{character}court"
        if multiline and character in MULTILINE_ALLOWED:
            await step.take(env, dict(before), text)
            continue
        with pytest.raises(UsageError) as refused:
            await step.take(env, dict(before), text)
        assert code_point(character) in str(refused.value), (command, name, hex(ord(character)))
