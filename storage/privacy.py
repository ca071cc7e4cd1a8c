"""Erasing what the bot holds about chats: /forget for one chat, and the daily purge.

The bot's users are supporters of people on trial: which chats follow which cases, and when they
were told what, is what a seized server or backup would give away. So a chat can erase itself
at once, and what the bot needs only for a while is deleted when that while is over.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import broadcasts, flows
from storage.database import SQLITE_BUSY_TIMEOUT_MS, Database
from storage.models import (
    Broadcast,
    BroadcastStatus,
    Case,
    CaseStatus,
    Chat,
    Delivery,
    DeliveryStatus,
    StaffFlow,
    Subscription,
)

# A chat that chose its language or reminders but follows nothing yet is kept this long, so
# that the purge does not undo a choice made a moment before subscribing.
ORPHAN_GRACE = timedelta(days=1)
# The tables /forget and the purge delete from or rewrite.
PURGED_TABLES = ("deliveries", "subscriptions", "chats", "broadcasts")
# SQLite's checkpoint cannot empty the write-ahead log while a reader still uses it: it is tried
# again, each try waiting briefly (it holds the process's write turn meanwhile) and the pauses
# between tries doubling, for about 15 seconds in all.
CHECKPOINT_TRIES = 12
CHECKPOINT_BUSY_MS = 200
CHECKPOINT_PAUSE = 0.05
CHECKPOINT_MAX_PAUSE = 2.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Erased:
    """What /forget removed of one chat."""

    subscriptions: int
    deliveries: int
    chat: bool


@dataclass(frozen=True, slots=True)
class Purged:
    """What one purge removed."""

    deliveries: int
    subscriptions: int
    chats: int


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def erase_chat(session: AsyncSession, *, chat_id: int) -> Erased:
    """Erase everything held about a chat, in the caller's transaction: its subscriptions, every
    delivery row, the chat row (with its reminder and language choices), and the chat as the
    place a staff member's broadcast preview is shown."""
    subscriptions = await session.execute(
        delete(Subscription).where(col(Subscription.chat_id) == chat_id)
    )
    sent = await session.execute(delete(Delivery).where(col(Delivery.chat_id) == chat_id))
    # A staff member's private chat: its previews are no longer edited with progress.
    await session.execute(
        update(Broadcast)
        .where(col(Broadcast.preview_chat_id) == chat_id)
        .values(preview_chat_id=None, preview_message_id=None)
    )
    # A staff member's private chat: a guided command they had begun goes too.
    await session.execute(delete(StaffFlow).where(col(StaffFlow.user_id) == chat_id))
    chat = await session.execute(delete(Chat).where(col(Chat.id) == chat_id))
    return Erased(_count(subscriptions), _count(sent), bool(_count(chat)))


async def release_closed_cases(session: AsyncSession) -> int:
    """Remove the subscriptions of closed cases whose closing notice went out (no broadcast of
    the case is being sent); how many were removed."""
    closed = select(col(Case.id)).where(col(Case.status) == CaseStatus.CLOSED)
    sending = exists().where(
        col(Broadcast.case_id) == Subscription.case_id,
        col(Broadcast.status) == BroadcastStatus.SENDING,
    )
    result = await session.execute(
        delete(Subscription).where(col(Subscription.case_id).in_(closed), ~sending)
    )
    return _count(result)


async def purge_rows(session: AsyncSession, *, now: datetime, keep: timedelta) -> Purged:
    """Delete, in the caller's transaction, what is no longer needed: the delivery rows of
    broadcasts finished before ``now - keep`` (their figures stay on the broadcast), the
    subscriptions of closed cases whose notice went out, and chats that follow nothing and
    wait for nothing."""
    old = select(col(Broadcast.id)).where(
        col(Broadcast.status).in_([BroadcastStatus.DONE, BroadcastStatus.STOPPED]),
        col(Broadcast.finished_at) < now - keep,
    )
    # Broadcasts finished before their figures were stored get them now, before the rows go.
    untallied = await session.execute(
        old.where(
            col(Broadcast.sent).is_(None),
            exists().where(col(Delivery.broadcast_id) == Broadcast.id),
        )
    )
    for broadcast_id in untallied.scalars():
        await broadcasts.store_totals(session, broadcast_id=int(broadcast_id or 0))
    removed = await session.execute(
        delete(Delivery).where(col(Delivery.broadcast_id).in_(old.scalar_subquery()))
    )
    released = await release_closed_cases(session)
    following = exists().where(col(Subscription.chat_id) == Chat.id)
    waiting = exists().where(
        col(Delivery.chat_id) == Chat.id, col(Delivery.status) == DeliveryStatus.PENDING
    )
    orphans = await session.execute(
        delete(Chat).where(~following, ~waiting, col(Chat.created_at) < now - ORPHAN_GRACE)
    )
    # Guided staff commands nobody finished: what staff typed into them goes too.
    await flows.purge_expired(session, now=now)
    return Purged(_count(removed), released, _count(orphans))


async def scrub(database: Database, *, tries: int = CHECKPOINT_TRIES) -> bool:
    """Make erased rows leave the database's files, as far as the database allows; whether
    it could.

    SQLite overwrites deleted rows itself (``secure_delete``); the old pages stay in the
    write-ahead log until a checkpoint empties it, which a reader still using the log prevents
    (the checkpoint then reports itself busy): it is tried again until the readers are done,
    and the log says so if it never could. PostgreSQL keeps deleted and updated rows in its
    tables until VACUUM, which this runs on the tables /forget and the purge change. Neither
    reaches backups, or what the disk keeps of freed blocks.
    """
    pause = CHECKPOINT_PAUSE
    for attempt in range(1, tries + 1):
        # Outside any transaction: VACUUM refuses to run in one, and a checkpoint in one waits.
        async with database.autocommit() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("VACUUM " + ", ".join(PURGED_TABLES)))
                return True
            # Briefly: the turn of every writer of the process waits on this one.
            await connection.execute(text(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}"))
            try:
                result = await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
                busy = result.one()[0]
            finally:
                await connection.execute(text(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"))
        if not busy:
            return True
        logger.debug("checkpoint busy (try %d of %d); trying again", attempt, tries)
        if attempt < tries:
            await asyncio.sleep(pause)
            pause = min(pause * 2, CHECKPOINT_MAX_PAUSE)
    logger.warning(
        "could not empty SQLite's write-ahead log after %d tries (a reader kept it busy):"
        " erased rows stay in the -wal file until the next purge or /forget",
        tries,
    )
    return False


async def purge(database: Database, *, now: datetime, keep: timedelta) -> Purged:
    """The daily purge: delete what is no longer needed in one transaction, then scrub."""
    async with database.writing() as session:
        purged = await purge_rows(session, now=now, keep=keep)
    await scrub(database)
    return purged
