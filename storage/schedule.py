"""The schedule: time rules of hearings and the queries supporters' commands need."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.errors import ScheduleError
from storage.models import Case, CaseStatus, Hearing, HearingStatus, Subscription


def is_zone_name(name: str) -> bool:
    """Whether ``name`` is an IANA time zone such as Asia/Almaty (every check of user input)."""
    try:
        ZoneInfo(name)
    # A folder of the zone database ("Asia") raises IsADirectoryError or PermissionError (an
    # OSError, not ZoneInfoNotFoundError) on some Pythons and platforms; a path outside it, or
    # a file that is no zone, ValueError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def hearing_instant(day: date, at: time | None, zone: str) -> datetime:
    """The UTC instant of a hearing held on ``day`` at local ``at`` (None: hour not announced).

    A hearing whose hour is not announced is stored at local midnight, so its local date is
    exact whatever the zone's offset is.
    """
    local = datetime.combine(day, at or time(0), tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


def local_start(hearing: Hearing) -> datetime:
    """The hearing's start in its court's zone."""
    return hearing.starts_at.astimezone(ZoneInfo(hearing.timezone))


def local_slot(hearing: Hearing) -> tuple[date, time | None]:
    """The local date and hour (None: not announced) that no other hearing of its case may have."""
    start = local_start(hearing)
    return start.date(), None if hearing.time_tba else start.time()


def is_upcoming(hearing: Hearing, now: datetime) -> bool:
    """Whether a scheduled hearing is still ahead (a date-only hearing stays so all its day)."""
    if hearing.status != HearingStatus.SCHEDULED:
        return False
    if hearing.time_tba:
        return local_start(hearing).date() >= now.astimezone(ZoneInfo(hearing.timezone)).date()
    return hearing.starts_at >= now


def normalise_case_id(text: str) -> str:
    """What a supporter typed, as a case id: case and surrounding space do not matter."""
    return text.strip().lower()


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """An active case with the hearing to show beside it: the next one, else the last."""

    case: Case
    hearing: Hearing | None
    upcoming: bool


def pick_hearing(hearings: list[Hearing], now: datetime) -> tuple[Hearing | None, bool]:
    """The next upcoming hearing, else the latest one; and whether it is upcoming."""
    ahead = [h for h in hearings if is_upcoming(h, now)]
    if ahead:
        return min(ahead, key=lambda h: h.starts_at), True
    if hearings:
        return max(hearings, key=lambda h: (h.starts_at, h.id or 0)), False
    return None, False


async def get_case(session: AsyncSession, case_id: str) -> Case | None:
    """The case with this id, active or closed."""
    return await session.get(Case, case_id)


async def hearings_of(session: AsyncSession, case_id: str) -> list[Hearing]:
    """Every hearing of a case, earliest first, postponed ones included."""
    result = await session.execute(
        select(Hearing)
        .where(Hearing.case_id == case_id)
        .order_by(col(Hearing.starts_at), col(Hearing.id))
    )
    return list(result.scalars())


async def case_summaries(
    session: AsyncSession, now: datetime, *, followed_by: int | None = None
) -> list[CaseSummary]:
    """Cases with their next (else last) hearing, in id order.

    By default the active cases; with ``followed_by``, the cases that chat follows, closed or not.
    """
    query = select(Case).order_by(col(Case.id))
    if followed_by is None:
        query = query.where(Case.status == CaseStatus.ACTIVE)
    else:
        query = query.join(Subscription).where(Subscription.chat_id == followed_by)
    cases = list((await session.execute(query)).scalars())
    by_case: dict[str, list[Hearing]] = {case.id: [] for case in cases}
    hearings = await session.execute(
        select(Hearing).where(col(Hearing.case_id).in_(by_case.keys()))
    )
    for row in hearings.scalars():
        by_case[row.case_id].append(row)
    summaries = []
    for case in cases:
        hearing, upcoming = pick_hearing(by_case[case.id], now)
        summaries.append(CaseSummary(case=case, hearing=hearing, upcoming=upcoming))
    return summaries


async def closest_case_ids(session: AsyncSession, wanted: str, limit: int = 3) -> list[str]:
    """Active case ids that look like ``wanted``, best first, for 'did you mean'."""
    ids = (await session.execute(select(Case.id).where(Case.status == CaseStatus.ACTIVE))).scalars()
    return difflib.get_close_matches(normalise_case_id(wanted), list(ids), n=limit, cutoff=0.4)


async def active_case(session: AsyncSession, case_id: str) -> Case:
    """The case, or ScheduleError when it does not exist or is closed."""
    case = await session.get(Case, case_id)
    if case is None:
        raise ScheduleError("There is no case “{case_id}”. /cases lists them.", case_id=case_id)
    if case.status != CaseStatus.ACTIVE:
        raise ScheduleError("The case {case_id} is closed.", case_id=case_id)
    return case


async def get_hearing(session: AsyncSession, hearing_id: int) -> Hearing:
    """The hearing, or ScheduleError naming the id."""
    hearing = await session.get(Hearing, hearing_id)
    if hearing is None:
        raise ScheduleError(
            "There is no hearing #{number}. /hearings lists them with ids.", number=hearing_id
        )
    return hearing


async def upcoming_hearings(
    session: AsyncSession, now: dt.datetime, case_id: str | None = None
) -> list[Hearing]:
    """Scheduled hearings still ahead, soonest first, of active cases (or of one case)."""
    query = (
        select(Hearing)
        .join(Case)
        .where(Case.status == CaseStatus.ACTIVE, Hearing.status == HearingStatus.SCHEDULED)
        .order_by(col(Hearing.starts_at), col(Hearing.id))
    )
    if case_id is not None:
        query = query.where(Hearing.case_id == case_id)
    # A date-only hearing (stored at local midnight) stays upcoming for up to a day after.
    query = query.where(Hearing.starts_at >= now - dt.timedelta(hours=26))
    hearings = (await session.execute(query)).scalars()
    return [hearing for hearing in hearings if is_upcoming(hearing, now)]


async def scheduled_since(session: AsyncSession, since: dt.datetime) -> list[Hearing]:
    """Scheduled hearings of active cases starting at or after ``since``, soonest first."""
    query = (
        select(Hearing)
        .join(Case)
        .where(
            Case.status == CaseStatus.ACTIVE,
            Hearing.status == HearingStatus.SCHEDULED,
            col(Hearing.starts_at) >= since,
        )
        .order_by(col(Hearing.starts_at), col(Hearing.id))
    )
    return list((await session.execute(query)).scalars())


async def case_ids(session: AsyncSession) -> list[str]:
    """The id of every case, active or closed, in order."""
    return list((await session.execute(select(Case.id).order_by(col(Case.id)))).scalars())
