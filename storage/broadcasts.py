"""Broadcasts from draft to done: a staff member's preview, Send (or Cancel), the deliveries it
queues, what it records besides sending, and its figures.

A broadcast is one message to every subscriber of a case. Queuing it creates one delivery row
per reachable subscriber in the same transaction (``start``); the delivery engine works through
those rows (``storage.queue``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, literal, or_, update
from sqlalchemy import select as select_rows  # SQLModel's select types four columns at most
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import payloads
from storage.errors import ScheduleError
from storage.models import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    Case,
    CaseStatus,
    Chat,
    Delivery,
    DeliveryStatus,
    Hearing,
    HearingStatus,
    Subscription,
)
from storage.payloads import NewsPayload, OutcomePayload, Payload, ReminderPayload
from storage.staff import record

URGENT = 4  # outcomes and reminders: they matter now
NORMAL = 1
# A preview older than this is not sent: what it says was checked against the schedule of then.
DRAFT_LIFETIME = timedelta(days=1)
# Broadcasts that went out, in whole or in part.
SENT_STATUSES = (BroadcastStatus.SENDING, BroadcastStatus.DONE, BroadcastStatus.STOPPED)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a broadcast stands."""

    total: int
    sent: int
    unreachable: int
    failed: int
    pending: int
    failure_reasons: dict[str, int]
    stopped: int = 0  # left unsent by a Stop


async def create_draft(
    session: AsyncSession,
    *,
    kind: BroadcastKind,
    case_id: str,
    text: str,
    created_by: int | None,
    priority: int = NORMAL,
    payload: Payload | None = None,
    texts: dict[str, str] | None = None,
    now: datetime | None = None,
    reminder_key: str | None = None,
) -> Broadcast:
    """A broadcast waiting for Send; nothing is queued yet. ``text`` goes to chats whose
    language has no version in ``texts``."""
    broadcast = Broadcast(
        kind=kind,
        case_id=case_id,
        text=text,
        texts=texts or {},
        created_by=created_by,
        priority=priority,
        payload=payloads.to_json(payload),
        reminder_key=reminder_key,
    )
    if now is not None:  # the bot's clock, which decides when a preview expires
        broadcast.created_at = now
    session.add(broadcast)
    await session.flush()
    return broadcast


async def start(session: AsyncSession, *, broadcast_id: int, now: datetime) -> Broadcast | None:
    """Queue a draft: one delivery per reachable subscriber, in this one transaction.

    None when the broadcast is not a draft any more (Send pressed twice, or cancelled); a
    ScheduleError, and nothing queued, when a staff member's preview is out of date.
    """
    draft = await session.get(Broadcast, broadcast_id)
    if draft is None or draft.status != BroadcastStatus.DRAFT:
        return None
    payload = payloads.payload_of(draft)
    if draft.kind in (BroadcastKind.OUTCOME, BroadcastKind.UPDATE):
        await _check_preview(session, draft, payload, now)
    claimed = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.DRAFT)
        .values(status=BroadcastStatus.SENDING, started_at=now)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return None
    broadcast = await session.get(Broadcast, broadcast_id)
    assert broadcast is not None
    await session.refresh(broadcast)
    targets = (
        select_rows(
            literal(broadcast_id),
            col(Subscription.chat_id),
            literal(str(DeliveryStatus.PENDING)),
            literal(0),
            # Each chat's topic goes with its delivery (a forum that follows in a topic).
            col(Subscription.message_thread_id),
        )
        .join(Chat)
        .where(col(Subscription.case_id) == broadcast.case_id, col(Chat.reachable).is_(True))
    )
    if isinstance(payload, ReminderPayload):
        # Only the chats that want this reminder: the default (all), or a choice naming it or
        # an offset merged into it (due at the same instant).
        targets = targets.where(
            or_(
                col(Chat.reminder_offsets).is_(None),
                *(col(Chat.reminder_offsets).contains(f",{o},") for o in payload.offsets),
            )
        )
    # Streamed inside the database: no subscriber list is held in memory.
    await session.execute(
        insert(Delivery).from_select(
            ["broadcast_id", "chat_id", "status", "attempts", "message_thread_id"], targets
        )
    )
    total = await session.execute(
        select(func.count()).select_from(Delivery).where(Delivery.broadcast_id == broadcast_id)
    )
    broadcast.total = int(total.scalar_one())
    await _apply(session, broadcast, payload)
    return broadcast


async def _check_preview(
    session: AsyncSession, draft: Broadcast, payload: Payload | None, now: datetime
) -> None:
    """A preview goes out as it was shown or not at all: refuse one the schedule overtook."""
    if now - draft.created_at > DRAFT_LIFETIME:
        raise ScheduleError(
            "This preview is more than a day old; nothing was sent."
            " Make a new one with /{command}.",
            command=str(draft.kind),
        )
    case = await session.get(Case, draft.case_id)
    if case is None or case.status != CaseStatus.ACTIVE:
        raise ScheduleError(
            "Case {case_id} was closed after this preview was made; nothing was sent.",
            case_id=draft.case_id,
        )
    if not isinstance(payload, OutcomePayload):
        return
    hearing = await session.get(Hearing, payload.hearing_id)
    assert hearing is not None  # hearings are never deleted
    if hearing.status not in (HearingStatus.SCHEDULED, HearingStatus.HELD):
        raise ScheduleError(
            "Hearing #{number} is {status} now; nothing was sent.",
            number=hearing.id,
            status=str(hearing.status),
        )
    # The preview shows the hearing's date and place: changed since, it would tell subscribers
    # something that no longer holds.
    if payload.revision is not None and hearing.revision != payload.revision:
        raise ScheduleError(
            "Hearing #{number} was changed after this preview was made; nothing was sent."
            " Send /outcome again.",
            number=hearing.id,
        )


async def _apply(session: AsyncSession, broadcast: Broadcast, payload: Payload | None) -> None:
    """What a broadcast records besides sending: an outcome on its hearing, and the audit."""
    if isinstance(payload, OutcomePayload):
        hearing = await session.get(Hearing, payload.hearing_id)
        assert hearing is not None
        hearing.status = HearingStatus.HELD
        hearing.outcome = payload.outcome
        await record(
            session,
            actor=broadcast.created_by,
            action="outcome",
            subject=f"hearing #{hearing.id}",
            after={"status": "held", "outcome": hearing.outcome, "broadcast": broadcast.id},
        )
    elif isinstance(payload, NewsPayload):
        await record(
            session,
            actor=broadcast.created_by,
            action="update",
            subject=f"case {broadcast.case_id}",
            after={"broadcast": broadcast.id, "text": payload.text},
        )


async def start_now(
    session: AsyncSession,
    *,
    kind: BroadcastKind,
    case_id: str,
    text: str,
    created_by: int | None,
    now: datetime,
    priority: int = NORMAL,
    texts: dict[str, str] | None = None,
) -> Broadcast:
    """Create and queue a broadcast at once (notices need no preview)."""
    draft = await create_draft(
        session,
        kind=kind,
        case_id=case_id,
        text=text,
        created_by=created_by,
        priority=priority,
        texts=texts,
        now=now,
    )
    assert draft.id is not None
    started = await start(session, broadcast_id=draft.id, now=now)
    assert started is not None
    return started


async def cancel_draft(session: AsyncSession, *, broadcast_id: int) -> bool:
    """Cancel a broadcast that was not sent; False when it was sent or cancelled already."""
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.DRAFT)
        .values(status=BroadcastStatus.CANCELLED)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def stop(
    session: AsyncSession, *, broadcast_id: int, actor: int, now: datetime
) -> Progress | None:
    """Stop a broadcast being sent: its pending deliveries are marked stopped and will not be
    sent (the engine drops them, also from a page it has read, when it next looks); chats that
    got it keep it. Its figures so far; None when it was not sending (done, or stopped already).

    A send under way at this moment still completes and is recorded as sent.
    """
    claimed = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.SENDING)
        .values(status=BroadcastStatus.STOPPED, finished_at=now)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return None
    await session.execute(
        update(Delivery)
        .where(
            col(Delivery.broadcast_id) == broadcast_id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.STOPPED, leased_by=None, lease_until=None)
    )
    figures = await _count(session, broadcast_id)
    await record(
        session,
        actor=actor,
        action="stop",
        subject=f"broadcast #{broadcast_id}",
        before={"status": "sending"},
        after={"status": "stopped", "sent": figures.sent, "stopped": figures.stopped},
    )
    return figures


async def set_preview(
    session: AsyncSession,
    *,
    broadcast_id: int,
    chat_id: int,
    message_id: int,
    language: str | None = None,
) -> None:
    """Remember the staff member's preview message (and the language they read), to edit it
    with progress."""
    await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id)
        .values(preview_chat_id=chat_id, preview_message_id=message_id, preview_language=language)
    )


async def finish(session: AsyncSession, *, broadcast_id: int, now: datetime) -> None:
    """Mark a broadcast done, with its figures stored on it (its delivery rows will go)."""
    figures = await _count(session, broadcast_id)
    await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.SENDING)
        .values(status=BroadcastStatus.DONE, finished_at=now, **_totals(figures))
    )


async def store_totals(session: AsyncSession, *, broadcast_id: int) -> None:
    """Store a finished broadcast's figures from its delivery rows, if it has none stored yet
    (it finished before they were kept)."""
    figures = await _count(session, broadcast_id)
    await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.sent).is_(None))
        .values(**_totals(figures))
    )


def _totals(figures: Progress) -> dict[str, Any]:
    return {
        "sent": figures.sent,
        "unreachable": figures.unreachable,
        "failed": figures.failed,
        "failure_reasons": figures.failure_reasons,
        "stopped": figures.stopped,
    }


def _stored(broadcast: Broadcast) -> Progress | None:
    """The figures stored on a finished broadcast, if any."""
    if broadcast.sent is None:
        return None
    unreachable, failed = broadcast.unreachable or 0, broadcast.failed or 0
    stopped = broadcast.stopped or 0
    return Progress(
        total=broadcast.sent + unreachable + failed + stopped,
        sent=broadcast.sent,
        unreachable=unreachable,
        failed=failed,
        pending=0,
        failure_reasons=dict(broadcast.failure_reasons or {}),
        stopped=stopped,
    )


async def progress(session: AsyncSession, *, broadcast_id: int) -> Progress:
    """Counts by status, and why deliveries failed: stored on the broadcast once it finished
    (its delivery rows may be purged), else counted from the rows."""
    broadcast = await session.get(Broadcast, broadcast_id)
    stored = _stored(broadcast) if broadcast is not None else None
    return stored if stored is not None else await _count(session, broadcast_id)


async def _count(session: AsyncSession, broadcast_id: int) -> Progress:
    """Counts by status from the delivery rows."""
    rows = await session.execute(
        select(Delivery.status, Delivery.last_error, func.count())
        .where(Delivery.broadcast_id == broadcast_id)
        .group_by(col(Delivery.status), col(Delivery.last_error))
    )
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for status, error, count in rows:
        counts[status] += count
        if status == DeliveryStatus.FAILED:
            reasons[error or "unknown"] += count
    return Progress(
        total=sum(counts.values()),
        sent=counts[DeliveryStatus.SENT],
        unreachable=counts[DeliveryStatus.UNREACHABLE],
        failed=counts[DeliveryStatus.FAILED],
        pending=counts[DeliveryStatus.PENDING],
        failure_reasons=dict(reasons),
        stopped=counts[DeliveryStatus.STOPPED],
    )


async def recent(session: AsyncSession, *, limit: int = 10) -> list[tuple[Broadcast, Progress]]:
    """The latest broadcasts that were sent, are sending or were stopped, newest first, with
    their figures."""
    result = await session.execute(
        select(Broadcast)
        .where(col(Broadcast.status).in_(SENT_STATUSES))
        .order_by(col(Broadcast.id).desc())
        .limit(limit)
    )
    return [
        (broadcast, _stored(broadcast) or await _count(session, broadcast.id or 0))
        for broadcast in result.scalars()
    ]


async def unreported(session: AsyncSession) -> list[Broadcast]:
    """Broadcasts with a preview message whose final report is not shown yet."""
    result = await session.execute(
        select(Broadcast).where(
            col(Broadcast.preview_message_id).is_not(None),
            col(Broadcast.reported).is_(False),
            col(Broadcast.status).in_(SENT_STATUSES),
        )
    )
    return list(result.scalars())


async def mark_reported(session: AsyncSession, *, broadcast_id: int) -> None:
    await session.execute(
        update(Broadcast).where(col(Broadcast.id) == broadcast_id).values(reported=True)
    )
