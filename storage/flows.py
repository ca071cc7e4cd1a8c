"""Guided staff commands half-way through: one row per staff member, read and written on every
answer (the questions and steps themselves are the bot's, ``bot.guided``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import StaffFlow

# A question left unanswered this long is dropped: by then the staff member has moved on, and
# what the flow checked (a hearing's state, a free date) may no longer hold.
FLOW_LIFETIME = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class FlowState:
    """Where a staff member is in a guided command."""

    id: int
    user_id: int
    command: str
    step: str
    answers: dict[str, Any]
    offered: list[str]
    reply_keyboard: bool
    updated_at: datetime

    def expired(self, now: datetime) -> bool:
        return now - self.updated_at > FLOW_LIFETIME


def _state(row: StaffFlow) -> FlowState:
    assert row.id is not None
    return FlowState(
        id=row.id,
        user_id=row.user_id,
        command=row.command,
        step=row.step,
        answers=dict(row.answers),
        offered=list(row.offered),
        reply_keyboard=row.reply_keyboard,
        updated_at=row.updated_at,
    )


async def current(session: AsyncSession, *, user_id: int) -> FlowState | None:
    """The staff member's flow, expired or not."""
    result = await session.execute(select(StaffFlow).where(col(StaffFlow.user_id) == user_id))
    row = result.scalars().first()
    return None if row is None else _state(row)


async def end(session: AsyncSession, *, user_id: int) -> FlowState | None:
    """End the staff member's flow, if any; what it was."""
    found = await current(session, user_id=user_id)
    if found is not None:
        await session.execute(delete(StaffFlow).where(col(StaffFlow.id) == found.id))
    return found


async def begin(
    session: AsyncSession,
    *,
    user_id: int,
    command: str,
    step: str,
    answers: dict[str, Any],
    offered: list[str],
    reply_keyboard: bool,
    now: datetime,
) -> int:
    """Start a flow (a flow of the same staff member ends: one at a time); its id, which its
    buttons carry, so that a button of an earlier flow answers nothing."""
    await end(session, user_id=user_id)
    row = StaffFlow(
        # Random, not the next number: SQLite gives a deleted row's id to the next row, and a
        # button of the flow just replaced would then answer this one.
        id=secrets.randbelow(2**31 - 1) + 1,
        user_id=user_id,
        command=command,
        step=step,
        answers=answers,
        offered=offered,
        reply_keyboard=reply_keyboard,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    return row.id


async def advance(
    session: AsyncSession,
    *,
    flow: FlowState,
    step: str,
    answers: dict[str, Any],
    offered: list[str],
    reply_keyboard: bool,
    now: datetime,
) -> bool:
    """Record an answer and the next question; False when the flow moved on meanwhile (the same
    question answered twice at once, from two devices or two instances) or ended."""
    result = await session.execute(
        update(StaffFlow)
        .where(col(StaffFlow.id) == flow.id, col(StaffFlow.step) == flow.step)
        .values(
            step=step,
            answers=answers,
            offered=offered,
            reply_keyboard=reply_keyboard,
            updated_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def finish(session: AsyncSession, *, flow: FlowState) -> bool:
    """End a flow whose last answer came; False when it had moved on or ended meanwhile."""
    result = await session.execute(
        delete(StaffFlow).where(col(StaffFlow.id) == flow.id, col(StaffFlow.step) == flow.step)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete flows nobody answered in time (what staff typed into them goes with them)."""
    result = await session.execute(
        delete(StaffFlow).where(col(StaffFlow.updated_at) < now - FLOW_LIFETIME)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
