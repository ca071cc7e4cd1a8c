"""The delivery queue: one row per chat and broadcast, worked through by the delivery engine.

The engine reads pending deliveries page by page and claims each page for a while (a lease), so
that an instance taking over from another leaves alone what the other may still be sending; it
writes results back in batches, and a broadcast with nothing left pending is done.
``DeliveryQueue`` is what the engine sees of the database: each call is one short transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import broadcasts, chats, payloads, privacy, topics
from storage.database import Database
from storage.models import Broadcast, BroadcastStatus, Chat, Delivery, DeliveryStatus
from storage.payloads import ReminderPayload
from storage.topics import TopicNotice


@dataclass(frozen=True, slots=True)
class SendingBroadcast:
    """A broadcast being sent, as the engine needs it."""

    id: int
    text: str  # for chats whose language has no version in texts
    texts: dict[str, str]
    priority: int
    reminder: ReminderPayload | None  # set on reminders: rendered again as each chat's turn comes


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """One chat still to be sent a broadcast."""

    id: int
    broadcast_id: int
    chat_id: int
    attempts: int
    language: str | None = None  # the chat's, when the broadcast has a text per language
    thread_id: int | None = None  # the forum topic it goes to (None: the chat itself)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What the engine learnt of one delivery."""

    delivery_id: int
    chat_id: int
    status: DeliveryStatus
    attempts: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """The queue at a glance, for health and metrics."""

    pending: int
    oldest_started_at: datetime | None


def _pending_of(broadcast_id: int) -> Any:
    return (col(Delivery.broadcast_id) == broadcast_id) & (
        col(Delivery.status) == DeliveryStatus.PENDING
    )


async def claim_page(
    session: AsyncSession,
    *,
    broadcast_id: int,
    after: int,
    limit: int,
    holder: str,
    now: datetime,
    lease: timedelta,
    with_languages: bool = False,
    take_expired: bool = True,
) -> list[PendingDelivery]:
    """Claim the next pending deliveries of a broadcast, by id after ``after``, for ``holder``.

    Deliveries another instance claimed are skipped until their lease runs out, so that two
    engines (one taking over from the other) never send the same delivery at once; with
    ``take_expired`` False even an expired claim of another's is left alone. With
    ``with_languages`` each comes with its chat's language.
    """
    free = or_(
        col(Delivery.lease_until).is_(None),
        col(Delivery.leased_by) == holder,
        *([col(Delivery.lease_until) < now] if take_expired else []),
    )
    ids = (
        select(Delivery.id)
        .where(_pending_of(broadcast_id), col(Delivery.id) > after, free)
        .order_by(col(Delivery.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    result = await session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(ids.scalar_subquery()))
        .values(leased_by=holder, lease_until=now + lease)
        .returning(
            col(Delivery.id),
            col(Delivery.chat_id),
            col(Delivery.attempts),
            col(Delivery.message_thread_id),
        )
    )
    rows = sorted((int(row[0] or 0), int(row[1]), int(row[2]), row[3]) for row in result.all())
    languages = (
        await chats.languages_of(session, {row[1] for row in rows})
        if with_languages and rows
        else {}
    )
    return [
        PendingDelivery(
            row[0], broadcast_id, row[1], row[2], languages.get(row[1]), thread_id=row[3]
        )
        for row in rows
    ]


async def renew_leases(
    session: AsyncSession,
    *,
    broadcast_ids: Collection[int],
    holder: str,
    now: datetime,
    lease: timedelta,
) -> None:
    """Extend the leases ``holder`` has on the pending deliveries of these broadcasts."""
    if not broadcast_ids:
        return
    await session.execute(
        update(Delivery)
        .where(
            col(Delivery.broadcast_id).in_(list(broadcast_ids)),
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.leased_by) == holder,
        )
        .values(lease_until=now + lease)
    )


async def release_leases(session: AsyncSession, *, holder: str) -> None:
    """Give up every claim of ``holder`` (a clean stop), so that a standby may send at once."""
    await session.execute(
        update(Delivery)
        .where(
            col(Delivery.leased_by) == holder,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(leased_by=None, lease_until=None)
    )


async def record_results(
    session: AsyncSession, results: Sequence[DeliveryResult], *, now: datetime
) -> None:
    """Write what the engine learnt, many deliveries per statement."""
    sent = [r.delivery_id for r in results if r.status == DeliveryStatus.SENT]
    if sent:
        await session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(sent))
            .values(status=DeliveryStatus.SENT, sent_at=now, attempts=Delivery.attempts + 1)
        )
    for result in results:
        if result.status == DeliveryStatus.SENT:
            continue
        await session.execute(
            update(Delivery)
            .where(col(Delivery.id) == result.delivery_id)
            .values(
                status=result.status,
                attempts=result.attempts,
                last_error=(result.error or "")[:200],
            )
        )
    unreachable = {r.chat_id for r in results if r.status == DeliveryStatus.UNREACHABLE}
    if unreachable:
        # Paused, not deleted: the chat's subscriptions resume when it writes to the bot again.
        await session.execute(
            update(Chat).where(col(Chat.id).in_(unreachable)).values(reachable=False)
        )


async def unfinished(session: AsyncSession, broadcast_ids: Collection[int]) -> set[int]:
    """Which of these broadcasts still have pending deliveries."""
    result = await session.execute(
        select(Delivery.broadcast_id)
        .where(
            col(Delivery.broadcast_id).in_(list(broadcast_ids)),
            Delivery.status == DeliveryStatus.PENDING,
        )
        .distinct()
    )
    return set(result.scalars())


async def queue_figures(session: AsyncSession) -> QueueFigures:
    """How many deliveries wait, and when the broadcast of the oldest one started."""
    row = (
        await session.execute(
            select(func.count(col(Delivery.id)), func.min(Broadcast.started_at))
            .select_from(Delivery)
            .join(Broadcast)
            .where(
                col(Broadcast.status) == BroadcastStatus.SENDING,
                col(Delivery.status) == DeliveryStatus.PENDING,
            )
        )
    ).one()
    return QueueFigures(pending=int(row[0] or 0), oldest_started_at=row[1])


class DeliveryQueue:
    """The delivery queue in the database, one short transaction per call (the delivery
    engine's storage; see ``jobs.delivery.DeliveryStore``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def sending(self) -> list[SendingBroadcast]:
        """Broadcasts being sent, most urgent first."""
        async with self.database.reading() as session:
            result = await session.execute(
                select(Broadcast)
                .where(Broadcast.status == BroadcastStatus.SENDING)
                .order_by(col(Broadcast.priority).desc(), col(Broadcast.id))
            )
            rows = list(result.scalars())
        found = []
        for row in rows:
            assert row.id is not None
            payload = payloads.payload_of(row)
            reminder = payload if isinstance(payload, ReminderPayload) else None
            found.append(
                SendingBroadcast(row.id, row.text, dict(row.texts), row.priority, reminder)
            )
        return found

    async def claim(
        self,
        broadcast_id: int,
        *,
        after: int,
        limit: int,
        holder: str,
        now: datetime,
        lease: timedelta,
        with_languages: bool,
        take_expired: bool,
    ) -> list[PendingDelivery]:
        """Claim the next page of a broadcast's pending deliveries (see claim_page)."""
        async with self.database.writing() as session:
            return await claim_page(
                session,
                broadcast_id=broadcast_id,
                after=after,
                limit=limit,
                holder=holder,
                now=now,
                lease=lease,
                with_languages=with_languages,
                take_expired=take_expired,
            )

    async def renew(
        self, broadcast_ids: Collection[int], *, holder: str, now: datetime, lease: timedelta
    ) -> None:
        async with self.database.writing() as session:
            await renew_leases(
                session, broadcast_ids=broadcast_ids, holder=holder, now=now, lease=lease
            )

    async def release(self, holder: str) -> None:
        async with self.database.writing() as session:
            await release_leases(session, holder=holder)

    async def record(self, results: Sequence[DeliveryResult], *, now: datetime) -> None:
        async with self.database.writing() as session:
            await record_results(session, results, now=now)

    async def finish(self, broadcast_ids: Collection[int], *, now: datetime) -> set[int]:
        """Mark done those of these broadcasts with nothing pending; which were."""
        async with self.database.writing() as session:
            done = set(broadcast_ids) - await unfinished(session, broadcast_ids)
            for broadcast_id in done:
                await broadcasts.finish(session, broadcast_id=broadcast_id, now=now)
            if done:
                # A closed case's subscriptions were kept only for its closing notice.
                await privacy.release_closed_cases(session)
        return done

    async def migrate_chat(self, old_id: int, new_id: int) -> None:
        async with self.database.writing() as session:
            await chats.migrate_chat(session, old_id=old_id, new_id=new_id)

    async def move_to_general(
        self,
        chat_id: int,
        thread_id: int,
        *,
        broadcast_id: int,
        notice: TopicNotice | None,
        now: datetime,
    ) -> bool:
        """A forum topic is gone: its subscriptions and deliveries go to General (see
        storage.topics.move_to_general)."""
        async with self.database.writing() as session:
            return await topics.move_to_general(
                session,
                chat_id=chat_id,
                thread_id=thread_id,
                broadcast_id=broadcast_id,
                notice=notice,
                now=now,
            )

    async def figures(self) -> QueueFigures:
        async with self.database.reading() as session:
            return await queue_figures(session)
