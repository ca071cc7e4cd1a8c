"""Changes to the schedule by staff: each checks its input against the schedule, changes it,
and records itself in the audit trail, all in the caller's transaction. (The reads are in
``storage.schedule``.)

Two staff may act on one hearing at the same moment, and PostgreSQL runs READ COMMITTED: a
hearing read, checked and written back would let both succeed, and subscribers would get two
notices. So a hearing is changed by a conditional update (``WHERE status = 'scheduled' AND
revision = :seen``) whose row count says whether it was still as its reader saw it; the second
one waits for the first one's row lock, finds the row changed and is refused with what happened
(``_overtaken``). A new or moved hearing goes in under a savepoint, because the partial unique
index ``ix_hearings_live_slot`` may refuse it when another staff member put a hearing at the
same date and time a moment before; the refusal names that hearing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import wording
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
    given = wording.stored(case.translations)
    return {
        "title": wording.typed(case.title, given.get("title")),
        "description": wording.typed(case.description, given.get("description")),
        "status": str(case.status),
    }


def hearing_snapshot(hearing: Hearing) -> dict[str, Any]:
    start = local_start(hearing)
    given = wording.stored(hearing.translations)
    return {
        "case": hearing.case_id,
        "date": start.date().isoformat(),
        "time": "tba" if hearing.time_tba else start.strftime("%H:%M"),
        "zone": hearing.timezone,
        "court": wording.typed(hearing.court, given.get("court")),
        "city": wording.typed(hearing.city, given.get("city")),
        "address": wording.typed(hearing.address, given.get("address")),
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
                when=slot_text(day, at),
            )


def _translations(**fields: wording.Versions) -> wording.Translations:
    """A row's translations column from each field's versions (none: one text for everyone)."""
    return {field: given for field, given in fields.items() if given}


def copy_of(hearing: Hearing, **changes: Any) -> Hearing:
    """A copy of a hearing with some values changed, not stored: what a preview shows."""
    values = {name: getattr(hearing, name) for name in Hearing.model_fields} | changes
    return Hearing(**values)


def slot_text(day: dt.date, at: dt.time | None) -> str:
    """'2026-12-16 10:00' or '2026-12-16 tba', as staff type it and errors show it."""
    return f"{day.isoformat()} {at.strftime('%H:%M') if at else 'tba'}"


async def fresh_hearing(session: AsyncSession, hearing_id: int) -> Hearing:
    """The hearing as the database has it now, not as this session read it before."""
    hearing = await session.get(Hearing, hearing_id, populate_existing=True)
    if hearing is None:
        return await get_hearing(session, hearing_id)  # its ScheduleError
    return hearing


async def _overtaken(session: AsyncSession, hearing_id: int) -> ScheduleError:
    """What another staff member did to a hearing since it was read: the refusal of the
    change that came second."""
    hearing = await fresh_hearing(session, hearing_id)
    if hearing.status == HearingStatus.POSTPONED and hearing.postponed_to_id is not None:
        new = await fresh_hearing(session, hearing.postponed_to_id)
        return ScheduleError(
            "Hearing #{number} was postponed meanwhile by another staff member, to {when}"
            " (#{new}); nothing of yours was changed or sent.",
            number=hearing_id,
            when=slot_text(*local_slot(new)),
            new=new.id,
        )
    if hearing.status == HearingStatus.CANCELLED:
        return ScheduleError(
            "Hearing #{number} was cancelled meanwhile by another staff member; nothing of"
            " yours was changed or sent.",
            number=hearing_id,
        )
    if hearing.status == HearingStatus.HELD:
        return ScheduleError(
            "The outcome of hearing #{number} was posted meanwhile by another staff member;"
            " nothing of yours was changed or sent.",
            number=hearing_id,
        )
    return ScheduleError(
        "Hearing #{number} was changed meanwhile by another staff member: it is now on {when},"
        " {court}, {city}. Nothing of yours was changed or sent; look at it again.",
        number=hearing_id,
        when=slot_text(*local_slot(hearing)),
        court=hearing.court,
        city=hearing.city,
    )


async def _check_seen(session: AsyncSession, hearing: Hearing, seen: int | None) -> None:
    """The refusal of a preview the hearing has changed since (``seen``: its revision then)."""
    if seen is not None and (hearing.revision != seen or hearing.status != HearingStatus.SCHEDULED):
        assert hearing.id is not None
        raise await _overtaken(session, hearing.id)


async def _change(
    session: AsyncSession,
    hearing: Hearing,
    seen: int,
    values: dict[str, Any],
    *,
    scheduled_only: bool = True,
) -> None:
    """Write ``values`` to the hearing if it is still at revision ``seen`` (and scheduled);
    otherwise refuse with what changed it. ``hearing`` is refreshed from the row."""
    assert hearing.id is not None
    conditions = [col(Hearing.id) == hearing.id, col(Hearing.revision) == seen]
    if scheduled_only:
        conditions.append(col(Hearing.status) == HearingStatus.SCHEDULED)
    statement = update(Hearing).where(*conditions).values(**values)
    if "starts_at" in values:  # a new date or hour may meet ix_hearings_live_slot
        zone = ZoneInfo(values.get("timezone", hearing.timezone))
        local = values["starts_at"].astimezone(zone)
        day, at = local.date(), None if values.get("time_tba", hearing.time_tba) else local.time()
        try:
            async with session.begin_nested():
                result = await session.execute(statement)
        except IntegrityError:
            raise await _clash(session, hearing.case_id, day, at) from None
    else:
        result = await session.execute(statement)
    if not result.rowcount:  # type: ignore[attr-defined]
        raise await _overtaken(session, hearing.id)
    await session.refresh(hearing)


async def _clash(
    session: AsyncSession, case_id: str, day: dt.date, at: dt.time | None
) -> ScheduleError:
    """The refusal of a hearing that the unique index found at another's date and time."""
    try:
        await _check_free(session, case_id, day, at)
    except ScheduleError as error:
        return error
    return ScheduleError(  # the other one went again before this could be read
        "Another hearing of this case was put on {when} a moment ago; two hearings of a case"
        " cannot share a date and time.",
        when=slot_text(day, at),
    )


async def _insert(session: AsyncSession, hearing: Hearing) -> None:
    """Add a new hearing, or refuse it naming the one at its date and time."""
    try:
        async with session.begin_nested():
            session.add(hearing)
            await session.flush()
    except IntegrityError:
        raise await _clash(session, hearing.case_id, *local_slot(hearing)) from None


async def check_slot(
    session: AsyncSession,
    *,
    case_id: str,
    day: dt.date,
    at: dt.time | None,
    zone: str,
    now: dt.datetime,
) -> None:
    """ScheduleError when a new hearing of the case cannot be at this local date and hour: it
    is in the past, or another hearing of the case is then."""
    _future_instant(day, at, zone, now)
    await _check_free(session, case_id, day, at)


async def add_case(
    session: AsyncSession, *, actor: int, case_id: str, title: str, description: str
) -> Case:
    """A new active case."""
    if await session.get(Case, case_id) is not None:
        raise ScheduleError(
            "A case with the id {case_id} exists already; /editcase changes it.", case_id=case_id
        )
    title, titles = wording.split(title)
    description, descriptions = wording.split(description)
    case = Case(
        id=case_id,
        title=title,
        description=description,
        translations=_translations(title=titles, description=descriptions),
    )
    session.add(case)
    await record(
        session, actor=actor, action="addcase", subject=f"case {case_id}", after=case_snapshot(case)
    )
    return case


async def edit_case(
    session: AsyncSession, *, actor: int, case_id: str, field: CaseField, value: str
) -> Case:
    """Change a case's title or description (given once for everyone, or in blocks per
    language: storage.wording)."""
    case = await active_case(session, case_id)
    before = case_snapshot(case)
    plain, given = wording.split(value)
    setattr(case, field, plain)
    case.translations = wording.with_field(case.translations, field, given)
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
    """Close a case (it leaves /cases and keeps its history); None when it was closed already,
    by this staff member or another a moment before (the update is conditional)."""
    case = await session.get(Case, case_id)
    if case is None:
        raise ScheduleError("There is no case “{case_id}”. /cases lists them.", case_id=case_id)
    closed = await session.execute(
        update(Case)
        .where(col(Case.id) == case_id, col(Case.status) == CaseStatus.ACTIVE)
        .values(status=CaseStatus.CLOSED)
    )
    if not closed.rowcount:  # type: ignore[attr-defined]
        return None
    await session.refresh(case)
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
    """A new scheduled hearing; dates in the past are refused. The court, city and address
    are each given once for everyone or in blocks per language (storage.wording)."""
    await active_case(session, case_id)
    starts_at = _future_instant(day, at, zone, now)
    await _check_free(session, case_id, day, at)
    court, courts = wording.split(court)
    city, cities = wording.split(city)
    address, addresses = wording.split(address) if address else (None, {})
    hearing = Hearing(
        case_id=case_id,
        court=court,
        city=city,
        address=address,
        translations=_translations(court=courts, city=cities, address=addresses),
        timezone=zone,
        time_tba=at is None,
        starts_at=starts_at,
    )
    await _insert(session, hearing)
    await record(
        session,
        actor=actor,
        action="addhearing",
        subject=f"hearing #{hearing.id}",
        after=hearing_snapshot(hearing),
    )
    return hearing


async def _corrected_start(
    session: AsyncSession, hearing: Hearing, field: HearingField, value: str, now: dt.datetime
) -> tuple[dt.datetime, bool]:
    """(the new instant, whether the hour is not announced) of a scheduled hearing given its
    announced hour or its corrected date, in its own zone; ScheduleError when that cannot be."""
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
    return starts_at, at is None


async def plan_correction(
    session: AsyncSession,
    *,
    hearing_id: int,
    field: HearingField,
    value: str,
    now: dt.datetime,
    seen: int | None = None,
) -> tuple[Hearing, Hearing]:
    """(the hearing, a copy of it as the correction of its hour or date would make it), checked
    but changing nothing: what a preview shows."""
    hearing = await fresh_hearing(session, hearing_id)
    await _check_seen(session, hearing, seen)
    starts_at, tba = await _corrected_start(session, hearing, field, value, now)
    return hearing, copy_of(hearing, starts_at=starts_at, time_tba=tba)


async def edit_hearing(
    session: AsyncSession,
    *,
    actor: int,
    hearing_id: int,
    field: HearingField,
    value: str | None,
    now: dt.datetime | None = None,
    seen: int | None = None,
) -> Hearing:
    """Change a hearing's court, city, address (None clears it), zone, time or date.

    A new zone keeps the local date and hour, which is what the court announced. A time
    (HH:MM) or a date (YYYY-MM-DD) corrects when a scheduled hearing takes place without
    postponing it: refused before ``now`` and at another hearing's date and time. ``seen`` is
    the revision a preview showed: a hearing changed since is refused.
    """
    hearing = await fresh_hearing(session, hearing_id)
    await _check_seen(session, hearing, seen)
    before = hearing_snapshot(hearing)
    values: dict[str, Any]
    if field in WHEN_FIELDS:
        if value is None or now is None:
            raise ValueError(f"a new {field} needs its value and the current time")
        starts_at, tba = await _corrected_start(session, hearing, field, value, now)
        values = {"starts_at": starts_at, "time_tba": tba}
    elif field == "zone":
        assert value is not None
        start = local_start(hearing)
        values = {
            "starts_at": hearing_instant(
                start.date(), None if hearing.time_tba else start.time(), value
            ),
            "timezone": value,
        }
    elif field == "address" and value is None:
        values = {
            "address": None,
            "translations": wording.with_field(hearing.translations, field, {}),
        }
    else:
        if not value:
            raise ScheduleError("The {field} cannot be empty.", field=field)
        plain, given = wording.split(value)
        values = {
            field: plain,
            "translations": wording.with_field(hearing.translations, field, given),
        }
    if any(getattr(hearing, name) != value for name, value in values.items()):
        # Only a scheduled hearing's date or hour changes; a court's name can be mended later.
        await _change(
            session,
            hearing,
            hearing.revision if seen is None else seen,
            values | {"revision": Hearing.revision + 1},  # calendars take the new version
            scheduled_only=field in WHEN_FIELDS,
        )
    changed_before, changed_after = _changed(before, hearing_snapshot(hearing))
    await record(
        session,
        actor=actor,
        action="edithearing",
        subject=f"hearing #{hearing_id}",
        before=changed_before,
        after=changed_after,
    )
    return hearing


async def plan_postpone(
    session: AsyncSession,
    *,
    hearing_id: int,
    day: dt.date,
    at: dt.time | None,
    now: dt.datetime,
    seen: int | None = None,
) -> tuple[Hearing, Hearing]:
    """(the hearing, the new one it would be postponed to, not stored), checked but changing
    nothing: what a preview shows."""
    old = await fresh_hearing(session, hearing_id)
    await _check_seen(session, old, seen)
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
        translations=wording.stored(old.translations),
        timezone=old.timezone,
        time_tba=at is None,
        starts_at=_future_instant(day, at, old.timezone, now),
    )
    if new.starts_at == old.starts_at and new.time_tba == old.time_tba:
        raise ScheduleError(
            "Hearing #{number} is on that date and time already.", number=hearing_id
        )
    await _check_free(session, old.case_id, day, at)
    return old, new


async def postpone(
    session: AsyncSession,
    *,
    actor: int,
    hearing_id: int,
    day: dt.date,
    at: dt.time | None,
    reason: str | None,
    now: dt.datetime,
    seen: int | None = None,
) -> tuple[Hearing, Hearing]:
    """The hearing becomes postponed and points at a new one on the new date: (old, new).

    ``seen`` is the revision the preview showed; a hearing changed, postponed or cancelled
    since is refused, saying what happened to it.
    """
    old, new = await plan_postpone(
        session, hearing_id=hearing_id, day=day, at=at, now=now, seen=seen
    )
    await _change(
        session,
        old,
        old.revision if seen is None else seen,
        {"status": HearingStatus.POSTPONED, "reason": reason},
    )
    await _insert(session, new)
    await session.execute(
        update(Hearing).where(col(Hearing.id) == hearing_id).values(postponed_to_id=new.id)
    )
    await session.refresh(old)
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
    session: AsyncSession,
    *,
    actor: int,
    hearing_id: int,
    reason: str | None,
    seen: int | None = None,
) -> Hearing:
    """Cancel a scheduled hearing; ``seen`` as for postpone."""
    hearing = await fresh_hearing(session, hearing_id)
    await _check_seen(session, hearing, seen)
    check_cancellable(hearing)
    await _change(
        session,
        hearing,
        hearing.revision if seen is None else seen,
        {
            "status": HearingStatus.CANCELLED,
            "reason": reason,
            "revision": Hearing.revision + 1,
        },
    )
    await record(
        session,
        actor=actor,
        action="cancelhearing",
        subject=f"hearing #{hearing_id}",
        before={"status": "scheduled"},
        after={"status": "cancelled", "reason": reason},
    )
    return hearing
