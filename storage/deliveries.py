"""Broadcasts and their deliveries: the database is the delivery queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, literal, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.editing import ScheduleError
from storage.models import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    Case,
    CaseStatus,
    Chat,
    ChatType,
    Delivery,
    DeliveryStatus,
    Hearing,
    HearingStatus,
    Subscription,
)
from storage.staff import record
from storage.subscriptions import languages_of

URGENT = 4  # outcomes and reminders: they matter now
NORMAL = 1
# A preview older than this is not sent: what it says was checked against the schedule of then.
DRAFT_LIFETIME = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """One chat still to be sent a broadcast."""

    id: int
    broadcast_id: int
    chat_id: int
    attempts: int
    language: str | None = None  # the chat's, when the broadcast has a text per language


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a broadcast stands."""

    total: int
    sent: int
    unreachable: int
    failed: int
    pending: int
    failure_reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What the engine learnt of one delivery."""

    delivery_id: int
    chat_id: int
    status: DeliveryStatus
    attempts: int
    error: str | None = None


async def create_draft(
    session: AsyncSession,
    *,
    kind: BroadcastKind,
    case_id: str,
    text: str,
    created_by: int | None,
    priority: int = NORMAL,
    payload: dict[str, Any] | None = None,
    texts: dict[str, str] | None = None,
    now: datetime | None = None,
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
        payload=payload or {},
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
    if draft.kind in (BroadcastKind.OUTCOME, BroadcastKind.UPDATE):
        await _check_preview(session, draft, now)
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
        select(
            literal(broadcast_id),
            Subscription.chat_id,
            literal(str(DeliveryStatus.PENDING)),
            literal(0),
        )
        .join(Chat)
        .where(Subscription.case_id == broadcast.case_id, col(Chat.reachable).is_(True))
    )
    if broadcast.kind == BroadcastKind.REMINDER:
        # Only the chats that want this reminder: the default (all), or a choice naming it or
        # an offset merged into it (due at the same instant).
        offsets = broadcast.payload.get("offsets") or [broadcast.payload["offset"]]
        targets = targets.where(
            or_(
                col(Chat.reminder_offsets).is_(None),
                *(col(Chat.reminder_offsets).contains(f",{offset},") for offset in offsets),
            )
        )
    # Streamed inside the database: no subscriber list is held in memory.
    await session.execute(
        insert(Delivery).from_select(["broadcast_id", "chat_id", "status", "attempts"], targets)
    )
    total = await session.execute(
        select(func.count()).select_from(Delivery).where(Delivery.broadcast_id == broadcast_id)
    )
    broadcast.total = int(total.scalar_one())
    await _apply(session, broadcast)
    return broadcast


async def _check_preview(session: AsyncSession, draft: Broadcast, now: datetime) -> None:
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
    if draft.kind != BroadcastKind.OUTCOME:
        return
    hearing = await session.get(Hearing, draft.payload["hearing_id"])
    assert hearing is not None  # hearings are never deleted
    if hearing.status not in (HearingStatus.SCHEDULED, HearingStatus.HELD):
        raise ScheduleError(
            "Hearing #{number} is {status} now; nothing was sent.",
            number=hearing.id,
            status=str(hearing.status),
        )
    # The preview shows the hearing's date and place: changed since, it would tell subscribers
    # something that no longer holds.
    if hearing.revision != draft.payload.get("revision", hearing.revision):
        raise ScheduleError(
            "Hearing #{number} was changed after this preview was made; nothing was sent."
            " Send /outcome again.",
            number=hearing.id,
        )


async def _apply(session: AsyncSession, broadcast: Broadcast) -> None:
    """What a broadcast records besides sending: an outcome on its hearing, and the audit."""
    if broadcast.kind == BroadcastKind.OUTCOME:
        hearing = await session.get(Hearing, broadcast.payload["hearing_id"])
        assert hearing is not None
        hearing.status = HearingStatus.HELD
        hearing.outcome = broadcast.payload["outcome"]
        await record(
            session,
            actor=broadcast.created_by,
            action="outcome",
            subject=f"hearing #{hearing.id}",
            after={"status": "held", "outcome": hearing.outcome, "broadcast": broadcast.id},
        )
    elif broadcast.kind == BroadcastKind.UPDATE:
        await record(
            session,
            actor=broadcast.created_by,
            action="update",
            subject=f"case {broadcast.case_id}",
            after={"broadcast": broadcast.id, "text": broadcast.payload.get("text")},
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
    """Create and queue a broadcast at once (notices and reminders need no preview)."""
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
    broadcast = await session.get(Broadcast, broadcast_id)
    assert broadcast is not None
    broadcast.preview_chat_id = chat_id
    broadcast.preview_message_id = message_id
    if language is not None:
        broadcast.payload = {**broadcast.payload, "language": language}


async def sending(session: AsyncSession) -> list[Broadcast]:
    """Broadcasts being sent, most urgent first."""
    result = await session.execute(
        select(Broadcast)
        .where(Broadcast.status == BroadcastStatus.SENDING)
        .order_by(col(Broadcast.priority).desc(), col(Broadcast.id))
    )
    return list(result.scalars())


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
        .returning(col(Delivery.id), col(Delivery.chat_id), col(Delivery.attempts))
    )
    rows = sorted((int(row[0] or 0), int(row[1]), int(row[2])) for row in result.all())
    languages = (
        await languages_of(session, {row[1] for row in rows}) if with_languages and rows else {}
    )
    return [
        PendingDelivery(row[0], broadcast_id, row[1], row[2], languages.get(row[1])) for row in rows
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


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """The queue at a glance, for health and metrics."""

    pending: int
    oldest_started_at: datetime | None


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


async def unfinished(session: AsyncSession, broadcast_ids: Iterable[int]) -> set[int]:
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
    }


async def migrate_chat(session: AsyncSession, *, old_id: int, new_id: int) -> None:
    """A group became a supergroup with a new id: move everything we keep to the new id.

    Safe to run more than once (the service message in each chat, a failed send): once the old
    row is gone there is nothing left to move.
    """
    # Locked: both chats announce the upgrade and their updates are handled at once; on
    # PostgreSQL the second move waits here and then finds nothing left to move.
    old = await session.get(Chat, old_id, with_for_update=True)
    new = await session.get(Chat, new_id)
    if new is None:
        session.add(
            Chat(
                id=new_id,
                type=ChatType.SUPERGROUP,
                reachable=True,
                # The group's choices go with it.
                reminder_offsets=old.reminder_offsets if old else None,
                language=old.language if old else None,
                language_chosen=old.language_chosen if old else False,
            )
        )
        await session.flush()
    elif old is not None:
        # The supergroup wrote before its service message arrived: it made no choice of its
        # own yet unless it says so, so the group's choices still hold.
        if new.reminder_offsets is None:
            new.reminder_offsets = old.reminder_offsets
        if not new.language_chosen and old.language_chosen:
            new.language, new.language_chosen = old.language, True
    both = select(Subscription.case_id).where(Subscription.chat_id == new_id)
    await session.execute(
        delete(Subscription).where(
            col(Subscription.chat_id) == old_id, col(Subscription.case_id).in_(both)
        )
    )
    await session.execute(
        update(Subscription).where(col(Subscription.chat_id) == old_id).values(chat_id=new_id)
    )
    # A broadcast queued for both ids goes to the chat once: the new id's delivery stands (and
    # a row of each kind for one broadcast would break the (broadcast, chat) uniqueness).
    clash = select(Delivery.broadcast_id).where(Delivery.chat_id == new_id)
    await session.execute(
        delete(Delivery).where(
            col(Delivery.chat_id) == old_id, col(Delivery.broadcast_id).in_(clash)
        )
    )
    await session.execute(
        update(Delivery).where(col(Delivery.chat_id) == old_id).values(chat_id=new_id)
    )
    if old is not None:
        await session.execute(delete(Chat).where(col(Chat.id) == old_id))


def _stored(broadcast: Broadcast) -> Progress | None:
    """The figures stored on a finished broadcast, if any."""
    if broadcast.sent is None:
        return None
    unreachable, failed = broadcast.unreachable or 0, broadcast.failed or 0
    return Progress(
        total=broadcast.sent + unreachable + failed,
        sent=broadcast.sent,
        unreachable=unreachable,
        failed=failed,
        pending=0,
        failure_reasons=dict(broadcast.failure_reasons or {}),
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
    )


async def recent(session: AsyncSession, *, limit: int = 10) -> list[tuple[Broadcast, Progress]]:
    """The latest broadcasts that were sent or are sending, newest first, with their figures."""
    result = await session.execute(
        select(Broadcast)
        .where(col(Broadcast.status).in_([BroadcastStatus.SENDING, BroadcastStatus.DONE]))
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
            col(Broadcast.status).in_([BroadcastStatus.SENDING, BroadcastStatus.DONE]),
        )
    )
    return list(result.scalars())


async def mark_reported(session: AsyncSession, *, broadcast_id: int) -> None:
    await session.execute(
        update(Broadcast).where(col(Broadcast.id) == broadcast_id).values(reported=True)
    )


async def handled_reminders(session: AsyncSession, keys: Collection[str]) -> set[str]:
    """Which of these reminder keys were sent, are being sent, or were skipped."""
    if not keys:
        return set()
    result = await session.execute(
        select(Broadcast.reminder_key).where(col(Broadcast.reminder_key).in_(list(keys)))
    )
    return {key for key in result.scalars() if key is not None}


async def _claim_reminder(session: AsyncSession, broadcast: Broadcast) -> bool:
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
    case_id: str,
    hearing_id: int,
    offset: str,
    due: datetime,
    text: str,
    now: datetime,
    texts: dict[str, str] | None = None,
    merged: Sequence[str] = (),
) -> Broadcast | None:
    """Queue a reminder for the chats that want it (``offset`` or one ``merged`` into it);
    None when this key was handled already.

    The payload keeps the case and hearing as they are now, so that the sending side can render
    the reminder again at each chat's turn (how long until the start) without a query.
    """
    case = await session.get(Case, case_id)
    hearing = await session.get(Hearing, hearing_id)
    assert case is not None
    assert hearing is not None
    draft = Broadcast(
        kind=BroadcastKind.REMINDER,
        priority=URGENT,
        case_id=case_id,
        text=text,
        texts=texts or {},
        # due: to measure how late it reaches Telegram
        payload={
            "hearing_id": hearing_id,
            "offset": offset,
            "offsets": [offset, *merged],
            "due": due.isoformat(),
            "case": {"id": case.id, "title": case.title},
            "hearing": {
                "court": hearing.court,
                "city": hearing.city,
                "address": hearing.address,
                "starts_at": hearing.starts_at.isoformat(),
                "timezone": hearing.timezone,
                "time_tba": hearing.time_tba,
            },
        },
        reminder_key=key,
    )
    if not await _claim_reminder(session, draft):
        return None
    assert draft.id is not None
    return await start(session, broadcast_id=draft.id, now=now)


async def skip_reminder(session: AsyncSession, *, key: str, case_id: str, now: datetime) -> None:
    """Record a reminder that will not be sent (superseded, or too late), so it stays handled."""
    await _claim_reminder(
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
