"""Forum topics: a subscription made in a topic of a forum supergroup posts there. When the topic
is gone (deleted or closed), everything of that chat in it falls back to General at once, so
that no later message meets the same error, and the chat is told so, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import broadcasts
from storage.models import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Subscription,
)


@dataclass(frozen=True, slots=True)
class TopicNotice:
    """What a chat is told when its topic is gone: ``text`` for any language, ``texts`` by
    language."""

    text: str
    texts: dict[str, str]


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def move_to_general(
    session: AsyncSession,
    *,
    chat_id: int,
    thread_id: int,
    broadcast_id: int,
    notice: TopicNotice | None,
    now: datetime,
) -> bool:
    """The chat's topic ``thread_id`` is gone: its subscriptions and pending deliveries go to
    General, and, with ``notice``, one message to General says so (queued like a broadcast of
    the case whose delivery found the topic gone, so it is paced and survives a restart).

    False when nothing was left in that topic: another delivery moved it already.
    """
    subscriptions = await session.execute(
        update(Subscription)
        .where(
            col(Subscription.chat_id) == chat_id, col(Subscription.message_thread_id) == thread_id
        )
        .values(message_thread_id=None)
    )
    deliveries = await session.execute(
        update(Delivery)
        .where(
            col(Delivery.chat_id) == chat_id,
            col(Delivery.message_thread_id) == thread_id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(message_thread_id=None)
    )
    if not _count(subscriptions) and not _count(deliveries):
        return False
    failing = await session.get(Broadcast, broadcast_id)
    if notice is not None and failing is not None:
        told = Broadcast(
            kind=BroadcastKind.NOTICE,
            priority=broadcasts.URGENT,
            case_id=failing.case_id,
            text=notice.text,
            texts=dict(notice.texts),
            status=BroadcastStatus.SENDING,
            started_at=now,
            total=1,
            reported=True,  # no staff preview waits for its figures
        )
        session.add(told)
        await session.flush()
        assert told.id is not None
        session.add(Delivery(broadcast_id=told.id, chat_id=chat_id))
    return True
