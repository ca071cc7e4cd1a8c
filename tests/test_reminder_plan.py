"""When reminders are due: pure rules, no Telegram, no scheduler."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.i18n import translator
from bot.texts import duration
from jobs.reminder_plan import (
    Plan,
    ReminderRules,
    duration_name,
    has_begun,
    parse_duration,
    plan,
    reminders_of,
)
from storage.schedule import hearing_instant

RULES = ReminderRules()  # 24h and 2h; date-only at 18:00 the day before and 08:00 on the day


@dataclass(frozen=True)
class H:
    id: int | None
    starts_at: datetime
    timezone: str
    time_tba: bool = False


def hearing(day: date, at: time | None, zone: str = "Asia/Almaty", hearing_id: int = 1) -> H:
    return H(hearing_id, hearing_instant(day, at, zone), zone, at is None)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24h", "1d"), ("2h", "2h"), ("1d12h", "1d12h"), ("90m", "1h30m"), ("10m", "10m")],
)
def test_durations(text: str, expected: str) -> None:
    assert duration_name(parse_duration(text)) == expected


@pytest.mark.parametrize("bad", ["", "2", "h", "-2h", "0m", "2 hours", "2s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_almaty_before_and_after_the_2024_change() -> None:
    """10:00 in Almaty is 04:00 UTC while it was UTC+6 and 05:00 UTC since 1 March 2024."""
    before = hearing(date(2024, 2, 29), time(10, 0))
    after = hearing(date(2024, 3, 2), time(10, 0))
    assert [r.due for r in reminders_of(before, RULES)] == [
        utc(2024, 2, 28, 4),
        utc(2024, 2, 29, 2),
    ]
    assert [r.due for r in reminders_of(after, RULES)] == [utc(2024, 3, 1, 5), utc(2024, 3, 2, 3)]


def test_date_only_hearing_across_the_change() -> None:
    """18:00 the evening before (UTC+6 on 29 February) and 08:00 on the day (UTC+5 on 1 March)."""
    h = hearing(date(2024, 3, 1), None)
    assert [r.due for r in reminders_of(h, RULES)] == [utc(2024, 2, 29, 12), utc(2024, 3, 1, 3)]


def test_vilnius_across_daylight_saving() -> None:
    """24 hours before is 24 real hours, even across the spring change (29 March 2026)."""
    h = hearing(date(2026, 3, 29), time(10, 0), "Europe/Vilnius")  # 10:00 EEST = 07:00 UTC
    first, second = reminders_of(h, RULES)
    assert first.due == utc(2026, 3, 28, 7)  # 09:00 EET the day before
    assert second.due == utc(2026, 3, 29, 5)
    tba = hearing(date(2026, 10, 25), None, "Europe/Vilnius")  # the autumn change that night
    evening, morning = reminders_of(tba, RULES)
    assert evening.due == utc(2026, 10, 24, 15)  # 18:00 EEST (UTC+3)
    assert morning.due == utc(2026, 10, 25, 6)  # 08:00 EET (UTC+2)


def test_keys_name_the_hearing_its_instant_and_offset() -> None:
    h = hearing(date(2026, 12, 16), time(10, 0))
    first, second = reminders_of(h, RULES)
    assert first.key == "1:20261216T050000Z:1d"
    assert second.key == "1:20261216T050000Z:2h"
    assert first.job_id == "reminder:1:1d"
    moved = hearing(date(2026, 12, 16), time(9, 0))
    assert reminders_of(moved, RULES)[0].key != first.key  # a moved hearing gets fresh ones
    assert reminders_of(moved, RULES)[0].job_id == first.job_id  # and its job is replaced


def test_plan_schedules_future_reminders() -> None:
    h = hearing(date(2026, 12, 16), time(10, 0))
    result = plan([h], RULES, utc(2026, 12, 1), handled=set())
    assert [r.offset for r in result.schedule] == ["1d", "2h"]
    assert not result.send_now


def test_handled_reminders_are_never_planned_again() -> None:
    h = hearing(date(2026, 12, 16), time(10, 0))
    keys = {r.key for r in reminders_of(h, RULES)}
    result = plan([h], RULES, utc(2026, 12, 16, 4), handled=keys)
    assert result == Plan()


def test_down_across_a_due_time_sends_it_once_at_start() -> None:
    h = hearing(date(2026, 12, 16), time(10, 0))  # 05:00 UTC
    result = plan([h], RULES, utc(2026, 12, 15, 6), handled=set())  # 1d was due at 05:00
    assert [r.offset for r in result.send_now] == ["1d"]
    assert [r.offset for r in result.schedule] == ["2h"]


def test_down_across_both_sends_only_the_latest() -> None:
    h = hearing(date(2026, 12, 16), time(10, 0))
    result = plan([h], RULES, utc(2026, 12, 16, 4), handled=set())
    assert [r.offset for r in result.send_now] == ["2h"]
    assert [r.offset for r in result.skipped] == ["1d"]


def test_started_after_the_hearing_sends_none() -> None:
    h = hearing(date(2026, 12, 16), time(10, 0))
    result = plan([h], RULES, utc(2026, 12, 16, 5, 1), handled=set())
    assert not result.send_now
    assert len(result.dropped) == 2


def test_a_date_only_hearing_has_begun_when_its_day_is_over() -> None:
    h = hearing(date(2026, 12, 16), None)
    assert not has_begun(h, utc(2026, 12, 16, 18, 59))  # 23:59 in Almaty
    assert has_begun(h, utc(2026, 12, 16, 19, 0))
    result = plan([h], RULES, utc(2026, 12, 16, 10), handled=set())  # 15:00 on the day
    assert [r.offset for r in result.send_now] == ["2h"]


def test_offsets_in_minutes() -> None:
    rules = ReminderRules(offsets=(timedelta(minutes=10), timedelta(minutes=2)))
    h = hearing(date(2026, 12, 16), time(10, 0))
    assert [r.due for r in reminders_of(h, rules)] == [
        utc(2026, 12, 16, 4, 50),
        utc(2026, 12, 16, 4, 58),
    ]


def test_date_only_reminders_of_short_offsets_share_the_morning() -> None:
    """Two short offsets of a date-only hearing would both be 08:00: one reminder, not two."""
    rules = ReminderRules(offsets=(timedelta(hours=2), timedelta(minutes=30)))
    [morning] = reminders_of(hearing(date(2026, 12, 16), None), rules)
    assert morning.offsets == ("2h", "30m")  # it stands for both: a chat that chose 30m gets it


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (0, "0 minutes"),
        (45, "45 minutes"),
        (120, "2 hours"),
        (1500, "1 day and 1 hour"),
        (61, "1 hour and 1 minute"),
        (1 * 24 * 60 + 3 * 60 + 5, "1 day and 3 hours"),  # at most two units
    ],
)
def test_durations_read_as_people_say_them(minutes: int, expected: str) -> None:
    assert duration(translator("en"), timedelta(minutes=minutes)) == expected
