"""Calendars: the schedule as an iCalendar feed, as a file from /calendar and at GET
/calendar/<case-id>.ics, read back with the icalendar package as a phone would."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar, Event, Timezone
from pydantic import ValidationError

from bot.context import HearingWatchApp
from service.settings import ServerSettings, Settings, bot_config
from storage import editing
from storage.calendar import case_calendar
from storage.database import Database
from storage.models import Hearing
from storage.schedule import hearing_instant
from storage.schedule_file import apply_schedule, read_schedule_file
from tests.conftest import ADMIN_ID, Clock, instance_of, make_settings, start_bot, stop_bot
from tests.fakebot import FakeBotApi, UploadedFile, UserRef

ALMATY = "Asia/Almaty"
DOMAIN = "bot.example.org"
NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
ALICE = UserRef(4101)


def events(feed: bytes | None) -> list[Event]:
    assert feed is not None
    return [e for e in Calendar.from_ical(feed).walk("VEVENT") if isinstance(e, Event)]


def sequence(event: Event) -> int:
    value = event.decoded("sequence")
    assert isinstance(value, int)
    return value


async def add_case(database: Database, case_id: str = "kaster") -> None:
    async with database.writing() as session:
        await editing.add_case(
            session, actor=ADMIN_ID, case_id=case_id, title="Kaster Musakhan", description=""
        )


async def add_hearing(
    database: Database,
    day: dt.date,
    at: dt.time | None,
    *,
    case_id: str = "kaster",
    address: str | None = "Abai street 5",
) -> int:
    async with database.writing() as session:
        hearing = await editing.add_hearing(
            session,
            actor=ADMIN_ID,
            case_id=case_id,
            day=day,
            at=at,
            court="Zaisan district court",
            city="Zaisan",
            address=address,
            zone=ALMATY,
            now=NOW,
        )
    assert hearing.id is not None
    return hearing.id


async def calendar_of(
    database: Database, case_id: str = "kaster", now: dt.datetime = NOW
) -> list[Event]:
    async with database.reading() as session:
        return events(await case_calendar(session, case_id, now=now, domain=DOMAIN))


# --- storage/calendar.py ------------------------------------------------------------------


async def test_a_hearing_with_an_hour_is_a_two_hour_event_in_the_courts_zone(
    database: Database,
) -> None:
    await add_case(database)
    hearing_id = await add_hearing(database, dt.date(2027, 1, 16), dt.time(10, 0))
    [event] = await calendar_of(database)
    start = event.decoded("dtstart")
    assert start == dt.datetime(2027, 1, 16, 10, 0, tzinfo=ZoneInfo(ALMATY))
    assert str(start.tzinfo) == ALMATY  # written with TZID, not in UTC
    assert event.decoded("dtend") - start == dt.timedelta(hours=2)
    assert str(event["uid"]) == f"hearing-{hearing_id}@{DOMAIN}"
    assert sequence(event) == 0
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["summary"]) == "Hearing: Kaster Musakhan"
    location = str(event["location"])
    for part in ("Zaisan district court", "Abai street 5", "Zaisan"):
        assert part in location


async def test_a_hearing_whose_hour_is_not_announced_is_an_all_day_event(
    database: Database,
) -> None:
    await add_case(database)
    await add_hearing(database, dt.date(2027, 1, 21), None, address=None)
    [event] = await calendar_of(database)
    assert event.decoded("dtstart") == dt.date(2027, 1, 21)
    assert not isinstance(event.decoded("dtstart"), dt.datetime)
    assert event.decoded("dtend") == dt.date(2027, 1, 22)  # exclusive: the one day
    assert "not announced" in str(event["description"])
    assert str(event["location"]) == "Zaisan district court, Zaisan"


async def test_the_same_instant_across_almatys_2024_change_of_offset(
    database: Database,
) -> None:
    """10:00 in Almaty was 04:00 UTC in January 2020 (UTC+6) and is 05:00 UTC in 2025 (UTC+5),
    whether the reader knows the zone by name (Apple, Google) or only by the file's VTIMEZONE
    (Outlook)."""
    await add_case(database)
    async with database.writing() as session:
        for day in (dt.date(2020, 1, 16), dt.date(2025, 1, 16)):
            session.add(
                Hearing(
                    case_id="kaster",
                    court="Zharkent court",
                    city="Zharkent",
                    timezone=ALMATY,
                    starts_at=hearing_instant(day, dt.time(10, 0), ALMATY),
                )
            )
    now = dt.datetime(2019, 12, 1, tzinfo=dt.UTC)
    async with database.reading() as session:
        feed = await case_calendar(session, "kaster", now=now, domain=DOMAIN)
    assert feed is not None
    starts = [event.decoded("dtstart") for event in events(feed)]
    assert [start.astimezone(dt.UTC) for start in starts] == [
        dt.datetime(2020, 1, 16, 4, 0, tzinfo=dt.UTC),
        dt.datetime(2025, 1, 16, 5, 0, tzinfo=dt.UTC),
    ]
    [vtimezone] = Calendar.from_ical(feed).walk("VTIMEZONE")
    assert isinstance(vtimezone, Timezone)
    assert str(vtimezone["tzid"]) == ALMATY
    from_vtimezone = vtimezone.to_tz()
    for local, utc_hour in ((dt.datetime(2020, 1, 16, 10), 4), (dt.datetime(2025, 1, 16, 10), 5)):
        assert local.replace(tzinfo=from_vtimezone).astimezone(dt.UTC).hour == utc_hour


async def test_a_postponement_keeps_the_uid_and_raises_the_sequence(database: Database) -> None:
    await add_case(database)
    first = await add_hearing(database, dt.date(2027, 1, 6), None)
    [before] = await calendar_of(database)
    async with database.writing() as session:
        _, new = await editing.postpone(
            session,
            actor=ADMIN_ID,
            hearing_id=first,
            day=dt.date(2027, 1, 21),
            at=dt.time(11, 30),
            reason="the interpreter did not come",
            now=NOW,
        )
    [after] = await calendar_of(database)
    assert after["uid"] == before["uid"] == f"hearing-{first}@{DOMAIN}"
    assert sequence(after) > sequence(before)
    assert after.decoded("dtstart") == dt.datetime(2027, 1, 21, 11, 30, tzinfo=ZoneInfo(ALMATY))
    assert "Postponed from 2027-01-06" in str(after["description"])

    # Postponed again: still the first hearing's UID, a higher SEQUENCE again.
    async with database.writing() as session:
        assert new.id is not None
        await editing.postpone(
            session,
            actor=ADMIN_ID,
            hearing_id=new.id,
            day=dt.date(2027, 2, 3),
            at=None,
            reason=None,
            now=NOW,
        )
    [again] = await calendar_of(database)
    assert again["uid"] == before["uid"]
    assert sequence(again) > sequence(after)
    assert again.decoded("dtstart") == dt.date(2027, 2, 3)


async def test_every_edit_raises_the_sequence(database: Database) -> None:
    await add_case(database)
    hearing_id = await add_hearing(database, dt.date(2027, 1, 16), dt.time(10, 0))
    sequences = [sequence((await calendar_of(database))[0])]
    edits: list[tuple[editing.HearingField, str | None]] = [
        ("court", "Almaty regional court"),
        ("address", None),
        ("zone", "Asia/Qostanay"),
        ("zone", "Asia/Qostanay"),  # no change: nothing for a phone to take
    ]
    for field, value in edits:
        async with database.writing() as session:
            await editing.edit_hearing(
                session, actor=ADMIN_ID, hearing_id=hearing_id, field=field, value=value
            )
        sequences.append(sequence((await calendar_of(database))[0]))
    assert sequences == [0, 1, 2, 3, 3]
    [event] = await calendar_of(database)
    assert "Almaty regional court" in str(event["location"])
    assert event.decoded("dtstart") == dt.datetime(
        2027, 1, 16, 10, 0, tzinfo=ZoneInfo("Asia/Qostanay")
    )


async def test_a_cancelled_hearing_still_ahead_is_kept_as_cancelled(database: Database) -> None:
    await add_case(database)
    hearing_id = await add_hearing(database, dt.date(2027, 1, 16), dt.time(10, 0))
    [before] = await calendar_of(database)
    async with database.writing() as session:
        await editing.cancel_hearing(
            session, actor=ADMIN_ID, hearing_id=hearing_id, reason="charges dropped"
        )
    [after] = await calendar_of(database)
    assert str(after["status"]) == "CANCELLED"
    assert after["uid"] == before["uid"]
    assert sequence(after) > sequence(before)
    assert "charges dropped" in str(after["description"])
    # Once its time has passed it leaves the calendar, like any past hearing.
    assert await calendar_of(database, now=dt.datetime(2027, 2, 1, tzinfo=dt.UTC)) == []


async def test_only_hearings_that_have_not_ended_are_in_it(database: Database) -> None:
    await add_case(database)
    await add_hearing(database, dt.date(2027, 1, 16), dt.time(10, 0))  # 05:00 to 07:00 UTC
    await add_hearing(database, dt.date(2027, 1, 20), None)
    during = dt.datetime(2027, 1, 16, 6, 0, tzinfo=dt.UTC)
    assert len(await calendar_of(database, now=during)) == 2
    after = dt.datetime(2027, 1, 16, 7, 0, tzinfo=dt.UTC)
    assert len(await calendar_of(database, now=after)) == 1
    # An all-day event stays all its local day (23:00 UTC on the 20th is the 21st in Almaty).
    late = dt.datetime(2027, 1, 20, 18, 0, tzinfo=dt.UTC)
    assert len(await calendar_of(database, now=late)) == 1
    assert await calendar_of(database, now=dt.datetime(2027, 1, 20, 19, 1, tzinfo=dt.UTC)) == []


async def test_an_unknown_case_has_no_calendar_and_a_closed_one_an_empty_one(
    database: Database,
) -> None:
    async with database.reading() as session:
        assert await case_calendar(session, "nobody", now=NOW, domain=DOMAIN) is None
    await add_case(database)
    async with database.writing() as session:
        await editing.close_case(session, actor=ADMIN_ID, case_id="kaster")
    assert await calendar_of(database) == []


async def test_an_import_that_changes_a_hearing_raises_the_sequence(
    database: Database, tmp_path: Path
) -> None:
    schedule = tmp_path / "schedule.toml"
    text = """
[[cases]]
id = "kaster"
title = "Kaster Musakhan"

  [[cases.hearings]]
  date = 2027-01-16
  time = "10:00"
  court = "Zaisan district court"
  city = "Zaisan"
"""
    for contents in (text, text, text.replace('city = "Zaisan"', 'city = "Oskemen"')):
        schedule.write_text(contents, encoding="utf-8")
        async with database.writing() as session:
            await apply_schedule(session, read_schedule_file(schedule), default_zone=ALMATY)
        [event] = await calendar_of(database)
        last = sequence(event)
    assert last == 1  # the same file twice changed nothing; the new city is one change
    assert "Oskemen" in str(event["location"])


def test_public_url_is_an_http_url_kept_without_its_trailing_slash() -> None:
    server = ServerSettings(public_url="https://bot.example.org/")
    assert server.public_url == "https://bot.example.org"
    config = bot_config(Settings(server={"public_url": "https://bot.example.org/"}))
    assert config.calendar_url("tabarak") == "https://bot.example.org/calendar/tabarak.ics"
    assert server.calendar_domain == "bot.example.org"
    assert bot_config(Settings()).calendar_url("tabarak") is None
    for wrong in ("bot.example.org", "ftp://bot.example.org", "https://"):
        with pytest.raises(ValidationError):
            ServerSettings(public_url=wrong)


# --- end to end: /calendar and GET /calendar/<case-id>.ics -------------------------------


@pytest.fixture
async def public_bot(
    fake: FakeBotApi, database_url: str, clock: Clock
) -> AsyncIterator[HearingWatchApp]:
    """The bot with [server] public_url set, on 10 January 2020 (the seeded hearings ahead)."""
    clock.now = dt.datetime(2020, 1, 10, 6, 0, tzinfo=dt.UTC)
    settings = make_settings(fake, database_url, server={"public_url": "https://bot.example.org"})
    app = await start_bot(settings, clock)
    yield app
    await stop_bot(app)


def url(bot: HearingWatchApp, path: str) -> str:
    return f"http://127.0.0.1:{instance_of(bot).port}{path}"


async def test_calendar_sends_a_file_that_a_calendar_reads(
    public_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chat = fake.private_chat(ALICE)
    message = await fake.say(chat, ALICE, "/calendar Tabarak")
    upload = message["file"]
    assert isinstance(upload, UploadedFile)
    assert upload.filename == "tabarak.ics"
    assert message["document"]["file_name"] == "tabarak.ics"
    [event] = events(upload.data)
    # Postponed from 5 to 16 January 2020, hour not announced: one all-day event.
    assert event.decoded("dtstart") == dt.date(2020, 1, 16)
    assert sequence(event) == 1
    assert str(event["uid"]).endswith("@bot.example.org")
    assert "Zharkent court" in str(event["location"])
    assert "Tilek Tabarak" in message["caption"]
    assert "https://bot.example.org/calendar/tabarak.ics" in message["caption"]


async def test_the_feed_serves_the_same_events(
    public_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chat = fake.private_chat(ALICE)
    message = await fake.say(chat, ALICE, "/calendar tabarak")
    async with httpx.AsyncClient() as client:
        response = await client.get(url(public_bot, "/calendar/tabarak.ics"))
        missing = await client.get(url(public_bot, "/calendar/nobody.ics"))
        junk = await client.get(url(public_bot, "/calendar/..%2Fetc.ics"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    served = [(e["uid"], e["sequence"], e.decoded("dtstart")) for e in events(response.content)]
    sent = [(e["uid"], e["sequence"], e.decoded("dtstart")) for e in events(message["file"].data)]
    assert served == sent
    assert len(served) == 1
    assert missing.status_code == 404
    assert "No such case" in missing.text
    assert junk.status_code == 404


async def test_calendar_of_an_unknown_case_suggests_and_without_an_id_explains(
    public_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chat = fake.private_chat(ALICE)
    unknown = (await fake.say(chat, ALICE, "/calendar tabarek"))["text"]
    assert "There is no case" in unknown
    assert "tabarak" in unknown
    usage = (await fake.say(chat, ALICE, "/calendar"))["text"]
    assert "/calendar tabarak" in usage
    assert fake.calls_to("sendDocument") == []


async def test_calendar_without_hearings_ahead_says_so(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    """On the default clock (2026) the seeded hearings are history; no public_url, no link."""
    chat = fake.private_chat(ALICE)
    text = (await fake.say(chat, ALICE, "/calendar tabarak"))["text"]
    assert "No hearing of Tilek Tabarak is ahead" in text
    assert "https://" not in text
