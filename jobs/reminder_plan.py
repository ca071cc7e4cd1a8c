"""When reminders are due: plain rules over hearings and time, no Telegram and no scheduler.

A reminder is one (hearing, the hearing's scheduled instant, offset); its key names all three, so
a postponed or moved hearing gets fresh reminders and a sent one is never sent again.
``jobs.reminders`` turns a plan into APScheduler jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# Offsets this long or longer remind a date-only hearing the evening before; shorter ones on the
# morning of the day.
DAY_BEFORE_THRESHOLD = timedelta(hours=12)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class HearingTimes(Protocol):
    """What the planner needs of a hearing (a storage Hearing is one)."""

    @property
    def id(self) -> int | None: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def timezone(self) -> str: ...
    @property
    def time_tba(self) -> bool: ...


def parse_duration(text: str) -> timedelta:
    """'24h', '2h', '1d', '90m', '1d12h' as a timedelta; ValueError otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration; write it as 24h, 2h, 1d or 30m")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes)
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    return duration


def duration_name(duration: timedelta) -> str:
    """A canonical short name: 1d, 2h, 90m, 1d12h."""
    minutes = int(duration.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    name = (f"{days}d" if days else "") + (f"{hours}h" if hours else "")
    return name + (f"{minutes}m" if minutes else "")


@dataclass(frozen=True, slots=True)
class ReminderRules:
    """The operator's [reminders] settings."""

    offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))
    tba_day_before: time = time(18, 0)
    tba_on_the_day: time = time(8, 0)

    @property
    def offset_names(self) -> tuple[str, ...]:
        return tuple(duration_name(offset) for offset in self.offsets)


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder of one hearing."""

    hearing_id: int
    starts_at: datetime
    offset: str  # canonical name, e.g. "1d"
    due: datetime
    # Other offsets due at the same instant (two short ones of a date-only hearing both fall on
    # its morning): one reminder goes, to every chat that chose any of them.
    merged: tuple[str, ...] = ()

    @property
    def offsets(self) -> tuple[str, ...]:
        """Every offset this reminder stands for: a chat that chose one of them gets it."""
        return (self.offset, *self.merged)

    @property
    def key(self) -> str:
        """Unique for (hearing, scheduled instant, offset): what makes it once-only."""
        return f"{self.hearing_id}:{self.starts_at.astimezone(UTC):%Y%m%dT%H%M%SZ}:{self.offset}"

    @property
    def job_id(self) -> str:
        """One scheduler job per (hearing, offset), replaced in place when the hearing moves."""
        return f"reminder:{self.hearing_id}:{self.offset}"


def due_at(hearing: HearingTimes, offset: timedelta, rules: ReminderRules) -> datetime:
    """When the reminder ``offset`` before ``hearing`` is due, in UTC."""
    if not hearing.time_tba:
        return hearing.starts_at - offset
    zone = ZoneInfo(hearing.timezone)
    day = hearing.starts_at.astimezone(zone).date()
    if offset >= DAY_BEFORE_THRESHOLD:
        local = datetime.combine(day - timedelta(days=1), rules.tba_day_before, tzinfo=zone)
    else:
        local = datetime.combine(day, rules.tba_on_the_day, tzinfo=zone)
    return local.astimezone(UTC)


def has_begun(hearing: HearingTimes, now: datetime) -> bool:
    """A timed hearing has begun at its start; a date-only one when its local day is over."""
    if not hearing.time_tba:
        return now >= hearing.starts_at
    zone = ZoneInfo(hearing.timezone)
    return now.astimezone(zone).date() > hearing.starts_at.astimezone(zone).date()


def reminders_of(hearing: HearingTimes, rules: ReminderRules) -> list[Reminder]:
    """Every reminder of a hearing, earliest due first; one per due time, standing for every
    offset due then (the first one names it)."""
    assert hearing.id is not None
    by_due: dict[datetime, list[str]] = {}
    for offset, name in zip(rules.offsets, rules.offset_names, strict=True):
        by_due.setdefault(due_at(hearing, offset, rules), []).append(name)
    return [
        Reminder(hearing.id, hearing.starts_at, names[0], due, tuple(names[1:]))
        for due, names in sorted(by_due.items())
    ]


@dataclass
class Plan:
    """What to do about every reminder not yet handled."""

    schedule: list[Reminder] = field(default_factory=list)  # due later: a job each
    send_now: list[Reminder] = field(default_factory=list)  # overdue, hearing still ahead
    skipped: list[Reminder] = field(default_factory=list)  # overdue, a later one is sent instead
    dropped: list[Reminder] = field(default_factory=list)  # overdue, the hearing has begun


def plan(
    hearings: Iterable[HearingTimes], rules: ReminderRules, now: datetime, handled: set[str]
) -> Plan:
    """Sort the reminders of scheduled hearings that are not yet ``handled`` (by key).

    Of several overdue reminders of one hearing (the bot was down across them) only the latest is
    sent: supporters get one reminder, not a burst.
    """
    result = Plan()
    for hearing in hearings:
        pending = [r for r in reminders_of(hearing, rules) if r.key not in handled]
        overdue = [r for r in pending if r.due <= now]
        result.schedule += [r for r in pending if r.due > now]
        if not overdue:
            continue
        if has_begun(hearing, now):
            result.dropped += overdue
        else:
            result.send_now.append(overdue[-1])
            result.skipped += overdue[:-1]
    return result


def keys_of(hearings: Iterable[HearingTimes], rules: ReminderRules) -> set[str]:
    """Every reminder key of these hearings (to ask storage which are handled)."""
    return {r.key for hearing in hearings for r in reminders_of(hearing, rules)}
