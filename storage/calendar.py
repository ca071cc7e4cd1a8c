"""The schedule as an iCalendar feed: one case's hearings still ahead, for a phone's calendar.

The same bytes go out as a file (/calendar) and as a feed calendar apps subscribe to
(GET /calendar/<case-id>.ics), so both follow the same rules:

- **One event per postponement chain.** A postponement makes a new hearing and points the old one
  at it; the event is the chain's latest hearing, under the UID of its first
  (``hearing-<first id>@<domain>``), so a phone moves the event it has instead of adding one.
- **SEQUENCE** = the sum of the chain's revisions + the number of postponements in it. Every change
  a phone shows raises one of the two (``Hearing.revision`` grows with each edit of court, city,
  address, zone or time, with a cancellation and with an import that changes the hearing), so it
  never goes down and a phone always takes the newer version.
- **Still ahead**: an event stays until it ends (a timed hearing 2 hours after its start, an
  all-day one at the end of its local day). A cancelled hearing still ahead is kept with
  STATUS:CANCELLED, so a phone that has it removes or strikes it; a held or past one leaves.
- **Time zones.** Timed events are written in the court's zone (``DTSTART;TZID=Asia/Almaty``) with
  a VTIMEZONE built from the zone database. Apple's and Google's calendars read the IANA name;
  Outlook reads the VTIMEZONE; all show the court's local hour even on a phone in another zone,
  and it stays 10:00 in Almaty whatever Kazakhstan does to its offset (it moved from UTC+6 to
  UTC+5 on 1 March 2024). UTC would be as exact today but would hide which zone the court is in.
  A hearing whose hour is not announced is an all-day event (DTSTART;VALUE=DATE).

Only the public schedule is in it: nothing about subscribers or chats.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from icalendar import Calendar, Event, vText
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Case, Hearing, HearingStatus
from storage.schedule import get_case, hearings_of, local_start
from storage.text import for_calendar

PRODID = "-//Hearing Watch//Court hearings//EN"
# How long a hearing with a known hour is shown: courts announce a start, never an end.
HEARING_LENGTH = dt.timedelta(hours=2)
# Asked of subscribing apps (Apple's and Outlook's read one or the other): postponements are
# announced days ahead, so an hour is often enough without hammering the server.
REFRESH_INTERVAL = dt.timedelta(hours=1)
SUMMARY = "Hearing: {title}"
TIME_NOT_ANNOUNCED = "The hour is not announced yet."
POSTPONED_FROM = "Postponed from {dates}."


@dataclass(frozen=True, slots=True)
class Chain:
    """A hearing and the ones it was postponed from, first to latest."""

    hearings: tuple[Hearing, ...]

    @property
    def first(self) -> Hearing:
        return self.hearings[0]

    @property
    def latest(self) -> Hearing:
        return self.hearings[-1]

    @property
    def sequence(self) -> int:
        """Never goes down: every change raises a revision or adds a postponement."""
        return sum(h.revision for h in self.hearings) + len(self.hearings) - 1


def event_uid(first: Hearing, domain: str) -> str:
    """The UID of the event of a postponement chain: from its first hearing, so it never moves."""
    return f"hearing-{first.id}@{domain}"


def postponement_chains(hearings: list[Hearing]) -> list[Chain]:
    """The case's hearings grouped by postponement, each chain in order; earliest first."""
    by_id = {h.id: h for h in hearings}
    pointed_at = {h.postponed_to_id for h in hearings if h.postponed_to_id in by_id}
    chains = []
    for first in hearings:
        if first.id in pointed_at:
            continue  # not the start of a chain
        chain = [first]
        seen = {first.id}
        while (following := by_id.get(chain[-1].postponed_to_id)) is not None:
            if following.id in seen:  # a loop (only a hand-written import could make one)
                break
            chain.append(following)
            seen.add(following.id)
        chains.append(Chain(tuple(chain)))
    return sorted(chains, key=lambda c: (c.latest.starts_at, c.first.id or 0))


def is_shown(hearing: Hearing, now: dt.datetime) -> bool:
    """Whether a chain's latest hearing is in the calendar: scheduled or cancelled, not ended."""
    if hearing.status not in (HearingStatus.SCHEDULED, HearingStatus.CANCELLED):
        return False
    if hearing.time_tba:
        return local_start(hearing).date() >= now.astimezone(local_start(hearing).tzinfo).date()
    return hearing.starts_at + HEARING_LENGTH > now


def _words(hearing: Hearing, language: str | None) -> tuple[str, str, str]:
    """(court, city, address) in ``language``, else as first given (the plain columns)."""
    if language is None:
        return hearing.court, hearing.city, hearing.address or ""
    court, city, address = (hearing.worded(f, language) for f in ("court", "city", "address"))
    return court, city, address


def _place(hearing: Hearing, language: str | None) -> str:
    court, city, address = _words(hearing, language)
    return ", ".join(part for part in (court, address, city) if part)


def _title(case: Case, language: str | None) -> str:
    return case.title if language is None else case.worded("title", language)


def _text(value: str, *, multiline: bool = False) -> vText:
    """Text a person wrote, as an escaped TEXT value: the library escapes the properties it
    knows but writes an unknown one (X-WR-CALNAME) as given, and no property may hold a
    control character (RFC 5545), which older rows may still have."""
    from icalendar import vText  # as in _event

    return vText(for_calendar(value, multiline=multiline))


def _event(
    case: Case, chain: Chain, *, now: dt.datetime, domain: str, language: str | None
) -> Event:
    from icalendar import Event  # imported when a calendar is asked for: 8 MiB otherwise idle

    hearing = chain.latest
    start = local_start(hearing)
    event = Event()
    event.add("uid", event_uid(chain.first, domain))
    event.add("sequence", chain.sequence)
    event.add("dtstamp", now.astimezone(dt.UTC))
    event.add("summary", _text(SUMMARY.format(title=_title(case, language))))
    event.add("location", _text(_place(hearing, language)))
    if hearing.time_tba:
        # DTEND of an all-day event is the next day (exclusive, RFC 5545).
        event.add("dtstart", start.date())
        event.add("dtend", start.date() + dt.timedelta(days=1))
        event.add("transp", "TRANSPARENT")
    else:
        event.add("dtstart", start)
        event.add("dtend", start + HEARING_LENGTH)
    court, city, address = _words(hearing, language)
    lines = [court, city]
    if address:
        lines.append(address)
    if hearing.time_tba:
        lines.append(TIME_NOT_ANNOUNCED)
    if len(chain.hearings) > 1:
        dates = ", ".join(local_start(h).date().isoformat() for h in chain.hearings[:-1])
        lines.append(POSTPONED_FROM.format(dates=dates))
    if hearing.status == HearingStatus.CANCELLED:
        event.add("status", "CANCELLED")
        if hearing.reason:
            lines.append(hearing.reason)
    else:
        event.add("status", "CONFIRMED")
    event.add("description", _text("\n".join(lines), multiline=True))
    return event


def build_calendar(
    case: Case,
    hearings: list[Hearing],
    *,
    now: dt.datetime,
    domain: str,
    language: str | None = None,
) -> Calendar:
    """The calendar of one case: an event for each postponement chain whose hearing is ahead.
    The schedule's words are in ``language`` where it has them; None (a feed, which has no
    reader's language): as first given."""
    from icalendar import Calendar, vDuration  # as in _event

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    # The name a subscribing app shows, and how often it should look again.
    calendar.add("x-wr-calname", _text(_title(case, language)))
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH_INTERVAL))
    for chain in postponement_chains(hearings):
        if is_shown(chain.latest, now):
            calendar.add_component(_event(case, chain, now=now, domain=domain, language=language))
    calendar.add_missing_timezones()
    return calendar


async def case_calendar(
    session: AsyncSession,
    case_id: str,
    *,
    now: dt.datetime,
    domain: str,
    language: str | None = None,
) -> bytes | None:
    """The case's hearings still ahead as an .ics file; None when there is no such case.

    A closed case is served too, by the same rules: its past hearings are history, so its
    calendar normally has no events, and a subscribed app empties it rather than failing.
    """
    case = await get_case(session, case_id)
    if case is None:
        return None
    hearings = await hearings_of(session, case_id)
    feed: bytes = build_calendar(
        case, hearings, now=now, domain=domain, language=language
    ).to_ical()
    return feed


async def case_ids(session: AsyncSession) -> set[str]:
    """The ids of every case, open or closed: those that have a calendar."""
    return set((await session.execute(select(col(Case.id)))).scalars())
