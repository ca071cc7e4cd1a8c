"""Reminders are sent once: a reminder broadcast is stored under a unique key of its hearing,
the hearing's scheduled instant and its offset, and whoever stores it first sends it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import broadcasts, payloads
from storage.models import Broadcast, BroadcastKind, BroadcastStatus, Case, Hearing
from storage.payloads import ReminderPayload


async def handled_reminders(session: AsyncSession, keys: Collection[str]) -> set[str]:
    """Which of these reminder keys were sent, are being sent, or were skipped."""
    if not keys:
        return set()
    result = await session.execute(
        select(Broadcast.reminder_key).where(col(Broadcast.reminder_key).in_(list(keys)))
    )
    return {key for key in result.scalars() if key is not None}


async def _claim(session: AsyncSession, broadcast: Broadcast) -> bool:
    """Store a reminder broadcast unless its key exists: the once-only guard."""
    try:
        async with session.begin_nested():
            session.add(broadcast)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def start_reminder(
    session: AsyncSession,
    *,
    key: str,
    case: Case,
    hearing: Hearing,
    offset: str,
    due: datetime,
    text: str,
    now: datetime,
    texts: dict[str, str] | None = None,
    merged: Sequence[str] = (),
) -> Broadcast | None:
    """Queue a reminder for the chats that want it (``offset`` or one ``merged`` into it);
    None when this key was handled already."""
    payload = ReminderPayload.of(case, hearing, offset=offset, merged=tuple(merged), due=due)
    draft = Broadcast(
        kind=BroadcastKind.REMINDER,
        priority=broadcasts.URGENT,
        case_id=case.id,
        text=text,
        texts=texts or {},
        payload=payloads.to_json(payload),
        reminder_key=key,
    )
    if not await _claim(session, draft):
        return None
    assert draft.id is not None
    return await broadcasts.start(session, broadcast_id=draft.id, now=now)


async def skip_reminder(session: AsyncSession, *, key: str, case_id: str, now: datetime) -> None:
    """Record a reminder that will not be sent (superseded, or too late), so it stays handled."""
    await _claim(
        session,
        Broadcast(
            kind=BroadcastKind.REMINDER,
            case_id=case_id,
            text="",
            status=BroadcastStatus.DONE,
            reminder_key=key,
            started_at=now,
            finished_at=now,
            reported=True,
        ),
    )
