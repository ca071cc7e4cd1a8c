"""Changes to the schedule by staff: each checks its input against the schedule, changes it,
and records itself in the audit trail, all in the caller's transaction. (The reads are in
``storage.schedule``.)"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import ScheduleError
from storage.models import Case, CaseStatus, Hearing, HearingStatus
from storage.schedule import (
    active_case,
    get_hearing,
    hearing_instant,
    hearings_of,
    local_slot,
    local_start,
)
from storage.staff import record

CaseField = Literal["title", "description"]
HearingField = Literal["court", "city", "address", "zone", "time", "date"]
CASE_FIELDS: tuple[CaseField, ...] = ("title", "description")
HEARING_FIELDS: tuple[HearingField, ...] = ("court", "city", "address", "zone", "time", "date")
# The fields that correct when a hearing takes place: subscribers are told, reminders move.
WHEN_FIELDS: tuple[HearingField, ...] = ("time", "date")


def case_snapshot(case: Case) -> dict[str, Any]:
    return {"title": case.title, "description": case.description, "status": str(case.status)}


def hearing_snapshot(hearing: Hearing) -> dict[str, Any]:
    start = local_start(hearing)
    return {
        "case": hearing.case_id,
        "date": start.date().isoformat(),
        "time": "tba" if hearing.time_tba else start.strftime("%H:%M"),
        "zone": hearing.timezone,
        "court": hearing.court,
        "city": hearing.city,
        "address": hearing.address,
        "status": str(hearing.status),
        "reason": hearing.reason,
    }


def _changed(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [key for key in after if before.get(key) != after[key]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _future_instant(day: dt.date, at: dt.time | None, zone: str, now: dt.datetime) -> dt.datetime:
    """The hearing's instant, or ScheduleError when it is in the past."""
    instant = hearing_instant(day, at, zone)
    today = now.astimezone(ZoneInfo(zone)).date()
    if day < today or (at is not None and instant <= now):
        raise ScheduleError(
            "{when} is in the past in {zone}; give a date from {today} on.",
            when=f"{day.isoformat()} {at.strftime('%H:%M') if at else ''}".strip(),
            zone=zone,
            today=today.isoformat(),
        )
    return instant


async def _check_free(
    session: AsyncSession,
    case_id: str,
    day: dt.date,
    at: dt.time | None,
    *,
    besides: int | None = None,
) -> None:
    """ScheduleError when another hearing of the case is at this local date and hour.

    A schedule file knows an unkeyed hearing by its date and time, so two at the same ones
    would not survive an export and an import.
    """
    for other in await hearings_of(session, case_id):
        if other.id != besides and local_slot(other) == (day, at):
            raise ScheduleError(
                "Hearing #{number} of this case is on {when} already; two hearings of a case"
                " cannot share a date and time.",
                number=other.id,
                when=f"{day.isoformat()} {at.strftime('%H:%M') if at else 'tba'}",
            )


async def add_case(
    session: AsyncSession, *, actor: int, case_id: str, title: str, description: str
) -> Case:
    """A new active case."""
    if await session.get(Case, case_id) is not None:
        raise ScheduleError(
            "A case with the id {case_id} exists already; /editcase changes it.", case_id=case_id
        )
    case = Case(id=case_id, title=title, description=description)
    session.add(case)
    await record(
        session, actor=actor, action="addcase", subject=f"case {case_id}", after=case_snapshot(case)
    )
    return case


async def edit_case(
    session: AsyncSession, *, actor: int, case_id: str, field: CaseField, value: str
) -> Case:
    """Change a case's title or description."""
    case = await active_case(session, case_id)
    before = case_snapshot(case)
    setattr(case, field, value)
    changed_before, changed_after = _changed(before, case_snapshot(case))
    await record(
        session,
        actor=actor,
        action="editcase",
        subject=f"case {case_id}",
        before=changed_before,
        after=changed_after,
    )
    return case


async def close_case(session: AsyncSession, *, actor: int, case_id: str) -> Case | None:
    """Close a case (it leaves /cases and keeps its history); None when it was closed already."""
    case = await session.get(Case, case_id)
    if case is None:
        raise ScheduleError("There is no case “{case_id}”. /cases lists them.", case_id=case_id)
    if case.status == CaseStatus.CLOSED:
        return None
    case.status = CaseStatus.CLOSED
    await record(
        session,
        actor=actor,
        action="closecase",
        subject=f"case {case_id}",
        before={"status": "active"},
        after={"status": "closed"},
    )
    return case


async def add_hearing(
    session: AsyncSession,
    *,
    actor: int,
    case_id: str,
    day: dt.date,
    at: dt.time | None,
    court: str,
    city: str,
    address: str | None,
    zone: str,
    now: dt.datetime,
) -> Hearing:
    """A new scheduled hearing; dates in the past are refused."""
    await active_case(session, case_id)
    starts_at = _future_instant(day, at, zone, now)
    await _check_free(session, case_id, day, at)
    hearing = Hearing(
        case_id=case_id,
        court=court,
        city=city,
        address=address,
        timezone=zone,
        time_tba=at is None,
        starts_at=starts_at,
    )
    session.add(hearing)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="addhearing",
        subject=f"hearing #{hearing.id}",
        after=hearing_snapshot(hearing),
    )
    return hearing


async def _correct_when(
    session: AsyncSession, hearing: Hearing, field: HearingField, value: str, now: dt.datetime
) -> None:
    """Give a scheduled hearing its announced hour or its corrected date, in its own zone."""
    if hearing.status != HearingStatus.SCHEDULED:
        raise ScheduleError(
            "Hearing #{number} is {status}; only a scheduled one's date or time can be changed.",
            number=hearing.id,
            status=hearing.status,
        )
    await active_case(session, hearing.case_id)
    day, at = local_slot(hearing)
    if field == "time":
        at = dt.time.fromisoformat(value)
    else:
        day = dt.date.fromisoformat(value)
    if (day, at) == local_slot(hearing):
        raise ScheduleError(
            "Hearing #{number} is on that date and time already.", number=hearing.id
        )
    starts_at = _future_instant(day, at, hearing.timezone, now)
    await _check_free(session, hearing.case_id, day, at, besides=hearing.id)
    hearing.starts_at = starts_at
    hearing.time_tba = at is None


async def edit_hearing(
    session: AsyncSession,
    *,
    actor: int,
    hearing_id: int,
    field: HearingField,
    value: str | None,
    now: dt.datetime | None = None,
) -> Hearing:
    """Change a hearing's court, city, address (None clears it), zone, time or date.

    A new zone keeps the local date and hour, which is what the court announced. A time
    (HH:MM) or a date (YYYY-MM-DD) corrects when a scheduled hearing takes place without
    postponing it: refused before ``now`` and at another hearing's date and time.
    """
    hearing = await get_hearing(session, hearing_id)
    before = hearing_snapshot(hearing)
    if field in WHEN_FIELDS:
        if value is None or now is None:
            raise ValueError(f"a new {field} needs its value and the current time")
        await _correct_when(session, hearing, field, value, now)
    elif field == "zone":
        assert value is not None
        start = local_start(hearing)
        hearing.starts_at = hearing_instant(
            start.date(), None if hearing.time_tba else start.time(), value
        )
        hearing.timezone = value
    elif field == "address":
        hearing.address = value
    else:
        if not value:
            raise ScheduleError("The {field} cannot be empty.", field=field)
        setattr(hearing, field, value)
    changed_before, changed_after = _changed(before, hearing_snapshot(hearing))
    if changed_after:
        hearing.revision += 1  # calendars take the new version of the event
    await record(
        session,
        actor=actor,
        action="edithearing",
        subject=f"hearing #{hearing_id}",
        before=changed_before,
        after=changed_after,
    )
    return hearing


async def postpone(
    session: AsyncSession,
    *,
    actor: int,
    hearing_id: int,
    day: dt.date,
    at: dt.time | None,
    reason: str | None,
    now: dt.datetime,
) -> tuple[Hearing, Hearing]:
    """The hearing becomes postponed and points at a new one on the new date: (old, new)."""
    old = await get_hearing(session, hearing_id)
    if old.status != HearingStatus.SCHEDULED:
        raise ScheduleError(
            "Hearing #{number} is {status}; only a scheduled one moves.",
            number=hearing_id,
            status=old.status,
        )
    await active_case(session, old.case_id)
    new = Hearing(
        case_id=old.case_id,
        court=old.court,
        city=old.city,
        address=old.address,
        timezone=old.timezone,
        time_tba=at is None,
        starts_at=_future_instant(day, at, old.timezone, now),
    )
    if new.starts_at == old.starts_at and new.time_tba == old.time_tba:
        raise ScheduleError(
            "Hearing #{number} is on that date and time already.", number=hearing_id
        )
    await _check_free(session, old.case_id, day, at)
    session.add(new)
    await session.flush()
    old.status = HearingStatus.POSTPONED
    old.postponed_to_id = new.id
    old.reason = reason
    await record(
        session,
        actor=actor,
        action="postpone",
        subject=f"hearing #{hearing_id}",
        before={"status": "scheduled"},
        after={"status": "postponed", "postponed_to": f"#{new.id}", "reason": reason}
        | {"new": hearing_snapshot(new)},
    )
    return old, new


def check_cancellable(hearing: Hearing) -> None:
    """ScheduleError unless the hearing is scheduled (the only state that can be cancelled)."""
    if hearing.status != HearingStatus.SCHEDULED:
        raise ScheduleError(
            "Hearing #{number} is {status}; it cannot be cancelled.",
            number=hearing.id,
            status=hearing.status,
        )


async def cancel_hearing(
    session: AsyncSession, *, actor: int, hearing_id: int, reason: str | None
) -> Hearing | None:
    """Cancel a scheduled hearing; None when it was cancelled already."""
    hearing = await get_hearing(session, hearing_id)
    if hearing.status == HearingStatus.CANCELLED:
        return None
    check_cancellable(hearing)
    hearing.status = HearingStatus.CANCELLED
    hearing.reason = reason
    hearing.revision += 1
    await record(
        session,
        actor=actor,
        action="cancelhearing",
        subject=f"hearing #{hearing_id}",
        before={"status": "scheduled"},
        after={"status": "cancelled", "reason": reason},
    )
    return hearing
