"""Roles, the audit trail, and confirmations that act once."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.errors import StaffError
from storage.models import AuditEntry, PendingAction, PendingKind, Role, StaffMember, utcnow


async def role_of(session: AsyncSession, user_id: int, admins: Collection[int]) -> Role | None:
    """The user's role: admin from the config, moderator from the database, else None."""
    if user_id in admins:
        return Role.ADMIN
    member = await session.get(StaffMember, user_id)
    return Role(member.role) if member else None


async def is_moderator(session: AsyncSession, user_id: int, admins: Collection[int]) -> bool:
    """Whether ``user_id`` is a moderator already; StaffError when they are an admin (whom
    /grant cannot make anything)."""
    if user_id in admins:
        raise StaffError(
            "{user_id} is an admin already (admins are set in the config).", user_id=user_id
        )
    return await session.get(StaffMember, user_id) is not None


async def grant(
    session: AsyncSession, *, actor: int, user_id: int, admins: Collection[int]
) -> bool:
    """Make ``user_id`` a moderator; False when they already are one."""
    if await is_moderator(session, user_id, admins):
        return False
    session.add(StaffMember(user_id=user_id, role=Role.MODERATOR, granted_by=actor))
    await record(
        session, actor=actor, action="grant", subject=f"user {user_id}", after={"role": "moderator"}
    )
    return True


async def revoke(
    session: AsyncSession, *, actor: int, user_id: int, admins: Collection[int]
) -> bool:
    """Take the moderator role away; False when ``user_id`` was not a moderator."""
    if user_id in admins:
        raise StaffError(
            "{user_id} is an admin; admins are removed in the config, not by command.",
            user_id=user_id,
        )
    member = await session.get(StaffMember, user_id)
    if member is None:
        return False
    await session.delete(member)
    await record(
        session,
        actor=actor,
        action="revoke",
        subject=f"user {user_id}",
        before={"role": "moderator"},
    )
    return True


async def staff_members(session: AsyncSession, admins: Collection[int]) -> list[tuple[int, Role]]:
    """Every admin and moderator, admins first, each by user id."""
    moderators = (await session.execute(select(StaffMember.user_id))).scalars()
    return [(user_id, Role.ADMIN) for user_id in sorted(admins)] + [
        (user_id, Role.MODERATOR) for user_id in sorted(moderators) if user_id not in admins
    ]


async def record(
    session: AsyncSession,
    *,
    actor: int | None,
    action: str,
    subject: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add one entry to the audit trail, in the caller's transaction."""
    session.add(
        AuditEntry(actor_id=actor, action=action, subject=subject, before=before, after=after)
    )


async def latest_audit(session: AsyncSession, limit: int) -> list[AuditEntry]:
    """The newest entries first."""
    result = await session.execute(
        select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    )
    return list(result.scalars())


@dataclass(frozen=True, slots=True)
class ClosingCase:
    """/closecase waiting for its Confirm button."""

    case_id: str


@dataclass(frozen=True, slots=True)
class CancellingHearing:
    """/cancelhearing waiting for its Confirm button; ``revision`` is the hearing's as the
    preview showed it (None: asked before previews kept it)."""

    hearing_id: int
    reason: str | None
    revision: int | None = None


@dataclass(frozen=True, slots=True)
class PostponingHearing:
    """/postpone waiting for its Confirm button: the new date (ISO) and hour ("HH:MM", None
    when not announced), and the hearing's revision as the preview showed it."""

    hearing_id: int
    day: str
    at: str | None
    reason: str | None
    revision: int


@dataclass(frozen=True, slots=True)
class CorrectingHearing:
    """/edithearing time or date waiting for its Confirm button."""

    hearing_id: int
    field: str  # "time" or "date"
    value: str
    revision: int


@dataclass(frozen=True, slots=True)
class Granting:
    """/grant waiting for its Confirm button (the person's name, if Telegram gave it, is shown
    once and not kept)."""

    user_id: int


PendingRequest = ClosingCase | CancellingHearing | PostponingHearing | CorrectingHearing | Granting
_PENDING_KINDS: dict[PendingKind, type[PendingRequest]] = {
    PendingKind.CLOSE_CASE: ClosingCase,
    PendingKind.CANCEL_HEARING: CancellingHearing,
    PendingKind.POSTPONE: PostponingHearing,
    PendingKind.CORRECT_HEARING: CorrectingHearing,
    PendingKind.GRANT: Granting,
}
# A confirmation older than this is refused: what it showed was checked against the schedule
# of then (as a broadcast's preview, storage.broadcasts.DRAFT_LIFETIME).
CONFIRMATION_LIFETIME = timedelta(days=1)


def request_of(pending: PendingAction) -> PendingRequest:
    """What a stored confirmation asks for, typed."""
    shape = _PENDING_KINDS[PendingKind(pending.kind)]
    fields = shape.__dataclass_fields__
    return shape(**{key: value for key, value in pending.payload.items() if key in fields})


async def create_pending(
    session: AsyncSession, *, actor: int, request: PendingRequest, now: datetime | None = None
) -> int:
    """Store an action that waits for its Confirm button; its id goes into the button."""
    kind = next(kind for kind, shape in _PENDING_KINDS.items() if isinstance(request, shape))
    pending = PendingAction(actor_id=actor, kind=kind, payload=asdict(request))
    if now is not None:  # the bot's clock, which decides when a confirmation expires
        pending.created_at = now
    session.add(pending)
    await session.flush()
    assert pending.id is not None
    return pending.id


async def claim_pending(
    session: AsyncSession,
    *,
    pending_id: int,
    actor: int,
    now: datetime | None = None,
    for_anyone: bool = False,
) -> PendingAction | None:
    """Mark a pending action done and return it, once: a second press, from any device, gets
    None. Only its author may, unless ``for_anyone`` (an admin: the rule of Send); a press by
    anyone else gets None, and so does one made after CONFIRMATION_LIFETIME (``expired`` says
    which)."""
    now = now or utcnow()
    conditions = [
        col(PendingAction.id) == pending_id,
        col(PendingAction.done_at).is_(None),
        col(PendingAction.created_at) >= now - CONFIRMATION_LIFETIME,
    ]
    if not for_anyone:
        conditions.append(col(PendingAction.actor_id) == actor)
    result = await session.execute(update(PendingAction).where(*conditions).values(done_at=now))
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return await session.get(PendingAction, pending_id)


async def get_pending(session: AsyncSession, pending_id: int) -> PendingAction | None:
    """A confirmation as stored, done or not."""
    return await session.get(PendingAction, pending_id, populate_existing=True)


def expired(pending: PendingAction, now: datetime) -> bool:
    """Whether a confirmation is too old to act on."""
    return now - pending.created_at > CONFIRMATION_LIFETIME


async def close_pending(session: AsyncSession, *, pending_id: int, now: datetime) -> None:
    """Mark a confirmation done without acting (its action was refused: it cannot be retried)."""
    await session.execute(
        update(PendingAction)
        .where(col(PendingAction.id) == pending_id, col(PendingAction.done_at).is_(None))
        .values(done_at=now)
    )
