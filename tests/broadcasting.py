"""A broadcast queued straight in the database, as the bot's own commands queue one."""

from __future__ import annotations

from collections.abc import Iterable

from storage import broadcasts, subscriptions
from storage.database import Database
from storage.models import BroadcastKind, ChatType, utcnow


async def queue_broadcast(
    database: Database, chats: Iterable[int], text: str = "News", *, case_id: str = "tabarak"
) -> int:
    """Subscribe these private chats to the case and queue ``text`` to its subscribers; the id."""
    async with database.writing() as session:
        for chat_id in chats:
            await subscriptions.subscribe(
                session, chat_id=chat_id, chat_type=ChatType.PRIVATE, case_id=case_id
            )
        broadcast = await broadcasts.start_now(
            session,
            kind=BroadcastKind.UPDATE,
            case_id=case_id,
            text=text,
            created_by=None,
            now=utcnow(),
        )
    assert broadcast.id is not None
    return broadcast.id
