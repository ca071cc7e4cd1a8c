"""Staff actions that tell subscribers something, as plain functions: the proposal a preview
shows (checked against the schedule, nothing changed, nothing queued), and on Confirm the change
with its notice, in one transaction.

No Telegram here: ``bot.handlers.staff`` shows the preview and takes the press; the tests of
two staff acting at once call these with two database connections.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff_texts as say
from bot.i18n import Translator
from storage import broadcasts, editing, schedule, staff
from storage.errors import ScheduleError
from storage.models import Broadcast, BroadcastKind, Case, Hearing
from storage.schedule import local_start

Render = Callable[[Translator], str]


@dataclass(frozen=True, slots=True)
class Proposal:
    """A change waiting for Confirm: what to store, whose subscribers are told, and what they
    read (in each language)."""

    request: staff.PendingRequest
    case_id: str
    notice: Render


async def _case_of(session: AsyncSession, hearing: Hearing) -> Case:
    case = await schedule.get_case(session, hearing.case_id)
    assert case is not None  # a hearing's case is never deleted
    return case


async def propose_postpone(
    session: AsyncSession,
    *,
    hearing_id: int,
    day: dt.date,
    at: dt.time | None,
    reason: str | None,
    now: dt.datetime,
) -> Proposal:
    """A postponement checked as Confirm will check it, with the notice it sends."""
    old, new = await editing.plan_postpone(session, hearing_id=hearing_id, day=day, at=at, now=now)
    case = await _case_of(session, old)
    was = editing.copy_of(old, reason=reason)
    request = staff.PostponingHearing(
        hearing_id,
        day.isoformat(),
        None if at is None else at.strftime("%H:%M"),
        reason,
        old.revision,
    )
    return Proposal(request, case.id, lambda t: say.postponed_notice(t, case, was, new))


async def propose_correction(
    session: AsyncSession,
    *,
    hearing_id: int,
    field: editing.HearingField,
    value: str,
    now: dt.datetime,
) -> Proposal:
    """A hearing's hour announced or corrected, or its date corrected, with its notice."""
    hearing, corrected = await editing.plan_correction(
        session, hearing_id=hearing_id, field=field, value=value, now=now
    )
    case = await _case_of(session, hearing)
    was, was_tba = local_start(hearing), hearing.time_tba
    request = staff.CorrectingHearing(hearing_id, field, value, hearing.revision)
    return Proposal(
        request, case.id, lambda t: say.corrected_notice(t, case, corrected, was, was_tba)
    )


async def propose_cancel(session: AsyncSession, *, hearing_id: int, reason: str | None) -> Proposal:
    """A cancellation, with its notice."""
    hearing = await editing.fresh_hearing(session, hearing_id)
    editing.check_cancellable(hearing)
    await schedule.active_case(session, hearing.case_id)
    case = await _case_of(session, hearing)
    cancelled = editing.copy_of(hearing, reason=reason)
    request = staff.CancellingHearing(hearing_id, reason, hearing.revision)
    return Proposal(request, case.id, lambda t: say.cancelled_notice(t, case, cancelled))


async def propose_close(session: AsyncSession, *, case_id: str) -> Proposal:
    """A case closed, with its notice."""
    case = await schedule.active_case(session, case_id)
    return Proposal(staff.ClosingCase(case_id), case_id, lambda t: say.case_closed_notice(t, case))


async def queue_notice(
    session: AsyncSession,
    *,
    case_id: str,
    render: Render,
    actor: int,
    now: dt.datetime,
    default_language: str,
) -> Broadcast:
    """Queue a notice to a case's subscribers, each in their language, in the caller's
    transaction, so that the change and its notice are stored together (or neither); the
    delivery engine sends it once committed."""
    text, texts = say.in_every_language(render, default_language)
    return await broadcasts.start_now(
        session,
        kind=BroadcastKind.NOTICE,
        case_id=case_id,
        text=text,
        texts=texts,
        created_by=actor,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Done:
    """What a confirmed action did: what the staff member reads, the notice it queued, and the
    person it made a moderator."""

    says: Render
    broadcast: Broadcast | None = None
    granted: int | None = None

    @property
    def schedule_changed(self) -> bool:
        return self.broadcast is not None


async def carry_out(
    session: AsyncSession,
    *,
    request: staff.PendingRequest,
    actor: int,
    now: dt.datetime,
    default_language: str,
    admins: frozenset[int],
) -> Done:
    """Do a confirmed action and queue its notice, in the transaction that claimed it.

    The hearing must be as the preview showed it (its revision): one another staff member
    changed meanwhile is refused with what happened (a ScheduleError), and then nothing is
    changed or queued.
    """
    case: Case
    notice: Render
    match request:
        case staff.Granting(user_id):
            made = await staff.grant(session, actor=actor, user_id=user_id, admins=admins)
            return Done(
                lambda t: say.granted(t, user_id, new=made), granted=user_id if made else None
            )
        case staff.ClosingCase(case_id):
            closed = await editing.close_case(session, actor=actor, case_id=case_id)
            if closed is None:
                raise ScheduleError(
                    "The case {case_id} was closed meanwhile by another staff member; nothing"
                    " of yours was sent.",
                    case_id=case_id,
                )
            case = closed
            notice = lambda t: say.case_closed_notice(t, closed)  # noqa: E731
        case staff.CancellingHearing(hearing_id, reason, revision):
            hearing = await editing.cancel_hearing(
                session, actor=actor, hearing_id=hearing_id, reason=reason, seen=revision
            )
            case = await _case_of(session, hearing)
            found = case
            notice = lambda t: say.cancelled_notice(t, found, hearing)  # noqa: E731
        case staff.PostponingHearing(hearing_id, day, at, reason, revision):
            old, new = await editing.postpone(
                session,
                actor=actor,
                hearing_id=hearing_id,
                day=dt.date.fromisoformat(day),
                at=None if at is None else dt.time.fromisoformat(at),
                reason=reason,
                now=now,
                seen=revision,
            )
            case = await _case_of(session, old)
            moved = case
            notice = lambda t: say.postponed_notice(t, moved, old, new)  # noqa: E731
        case staff.CorrectingHearing(hearing_id, field, value, revision):
            before = await editing.fresh_hearing(session, hearing_id)
            was, was_tba = local_start(before), before.time_tba
            hearing_field: editing.HearingField = "time" if field == "time" else "date"
            corrected = await editing.edit_hearing(
                session,
                actor=actor,
                hearing_id=hearing_id,
                field=hearing_field,
                value=value,
                now=now,
                seen=revision,
            )
            case = await _case_of(session, corrected)
            found = case
            notice = lambda t: say.corrected_notice(t, found, corrected, was, was_tba)  # noqa: E731
    broadcast = await queue_notice(
        session,
        case_id=case.id,
        render=notice,
        actor=actor,
        now=now,
        default_language=default_language,
    )
    return Done(lambda t: say.notice_sent(t, notice(t), broadcast.total), broadcast)
