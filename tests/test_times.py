"""Hearing times: zone names, not offsets; date-only hearings; how they read."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.i18n import format_offset, translator
from bot.texts import format_when
from storage.models import Hearing, HearingStatus
from storage.schedule import hearing_instant, is_upcoming, local_start, pick_hearing

EN = translator("en")


def hearing(
    starts_at: datetime,
    *,
    zone: str = "Asia/Almaty",
    tba: bool = False,
    status: HearingStatus = HearingStatus.SCHEDULED,
    hearing_id: int = 1,
) -> Hearing:
    return Hearing(
        id=hearing_id,
        case_id="c",
        court="Court",
        city="City",
        starts_at=starts_at,
        timezone=zone,
        time_tba=tba,
        status=status,
    )


def test_almaty_was_utc_plus_6_in_2020() -> None:
    assert hearing_instant(date(2020, 1, 21), time(10, 0), "Asia/Almaty") == datetime(
        2020, 1, 21, 4, 0, tzinfo=UTC
    )


def test_almaty_is_utc_plus_5_since_march_2024() -> None:
    """Kazakhstan's 1 March 2024 change: the same local 10:00 is an hour later in UTC."""
    before = hearing_instant(date(2024, 2, 29), time(10, 0), "Asia/Almaty")
    after = hearing_instant(date(2024, 3, 1), time(10, 0), "Asia/Almaty")
    assert before == datetime(2024, 2, 29, 4, 0, tzinfo=UTC)
    assert after == datetime(2024, 3, 1, 5, 0, tzinfo=UTC)


def test_local_time_survives_the_round_trip_across_the_change() -> None:
    for day in (date(2024, 2, 29), date(2024, 3, 1), date(2026, 1, 16)):
        h = hearing(hearing_instant(day, time(10, 0), "Asia/Almaty"))
        assert (local_start(h).date(), local_start(h).time()) == (day, time(10, 0))


def test_date_only_hearing_is_local_midnight() -> None:
    instant = hearing_instant(date(2020, 1, 16), None, "Asia/Almaty")
    assert instant == datetime(2020, 1, 15, 18, 0, tzinfo=UTC)
    assert local_start(hearing(instant, tba=True)).date() == date(2020, 1, 16)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(360, "UTC+6"), (300, "UTC+5"), (330, "UTC+5:30"), (-180, "UTC-3"), (0, "UTC")],
)
def test_offsets_read_naturally(minutes: int, expected: str) -> None:
    assert format_offset(timedelta(minutes=minutes)) == expected


def test_when_with_hour_names_zone_and_offset() -> None:
    h = hearing(hearing_instant(date(2020, 1, 21), time(10, 0), "Asia/Almaty"))
    assert format_when(EN, h) == "21 January 2020, 10:00 (Almaty time, UTC+6)"
    h = hearing(hearing_instant(date(2025, 1, 21), time(10, 0), "Asia/Almaty"))
    assert format_when(EN, h) == "21 January 2025, 10:00 (Almaty time, UTC+5)"


def test_when_date_only() -> None:
    h = hearing(hearing_instant(date(2020, 1, 21), None, "Asia/Almaty"), tba=True)
    assert format_when(EN, h) == "21 January 2020, time not announced"


def test_daylight_saving_zone() -> None:
    vilnius = "Europe/Vilnius"
    winter = hearing(hearing_instant(date(2026, 1, 10), time(9, 30), vilnius), zone=vilnius)
    summer = hearing(hearing_instant(date(2026, 7, 10), time(9, 30), vilnius), zone=vilnius)
    assert format_when(EN, winter) == "10 January 2026, 09:30 (Vilnius time, UTC+2)"
    assert format_when(EN, summer) == "10 July 2026, 09:30 (Vilnius time, UTC+3)"


def test_timed_hearing_is_upcoming_until_it_starts() -> None:
    start = datetime(2026, 1, 16, 4, 0, tzinfo=UTC)
    assert is_upcoming(hearing(start), start - timedelta(minutes=1))
    assert is_upcoming(hearing(start), start)
    assert not is_upcoming(hearing(start), start + timedelta(minutes=1))


def test_date_only_hearing_is_upcoming_all_its_local_day() -> None:
    h = hearing(hearing_instant(date(2026, 1, 16), None, "Asia/Almaty"), tba=True)
    late_that_day = datetime(2026, 1, 16, 18, 59, tzinfo=UTC)  # 23:59 in Almaty
    next_day = datetime(2026, 1, 16, 19, 0, tzinfo=UTC)  # 00:00 on the 17th
    assert is_upcoming(h, late_that_day)
    assert not is_upcoming(h, next_day)


def test_only_scheduled_hearings_are_upcoming() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for status in (HearingStatus.POSTPONED, HearingStatus.CANCELLED, HearingStatus.HELD):
        assert not is_upcoming(hearing(start, status=status), now)


def test_pick_next_else_last() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    past = hearing(datetime(2026, 1, 1, tzinfo=UTC), hearing_id=1)
    soon = hearing(datetime(2026, 7, 1, tzinfo=UTC), hearing_id=2)
    later = hearing(datetime(2026, 9, 1, tzinfo=UTC), hearing_id=3)
    assert pick_hearing([later, past, soon], now) == (soon, True)
    assert pick_hearing([past], now) == (past, False)
    assert pick_hearing([], now) == (None, False)
