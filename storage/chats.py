"""The chats the bot writes to: a numeric id, its type, whether it is reachable, its language
and its reminder choice. Nothing else about a chat or the people in it is kept."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from storage.models import Chat, ChatType, Delivery, Subscription


async def insert_or_ignore(
    session: AsyncSession, table: type[SQLModel], values: dict[str, Any]
) -> bool:
    """Insert a row unless its primary key exists; True when a row was inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values).on_conflict_do_nothing()
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remember_chat(
    session: AsyncSession, *, chat_id: int, chat_type: ChatType, language: str | None = None
) -> None:
    """Record a chat that wrote to the bot, and count it as reachable again.

    ``language`` is the one its Telegram app is set to (private chats): kept, so that reminders
    and news reach it in that language, unless the chat chose one with /language.
    """
    inserted = await insert_or_ignore(
        session, Chat, {"id": chat_id, "type": chat_type, "reachable": True, "language": language}
    )
    if not inserted:
        await resume_chat(session, chat_id=chat_id)
        if language is not None:
            await session.execute(
                update(Chat)
                .where(
                    col(Chat.id) == chat_id,
                    col(Chat.language_chosen).is_(False),
                    or_(col(Chat.language).is_(None), col(Chat.language) != language),
                )
                .values(language=language)
            )


async def resume_chat(session: AsyncSession, *, chat_id: int) -> bool:
    """The chat wrote again: resume sending to it; True when it had been marked unreachable."""
    result = await session.execute(
        update(Chat)
        .where(col(Chat.id) == chat_id, col(Chat.reachable).is_(False))
        .values(reachable=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def pause_chat(session: AsyncSession, *, chat_id: int) -> bool:
    """The bot may no longer write in the chat (removed, or its right to post taken): its
    subscriptions pause, as for a chat found unreachable. True when it had been reachable."""
    result = await session.execute(
        update(Chat)
        .where(col(Chat.id) == chat_id, col(Chat.reachable).is_(True))
        .values(reachable=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def paused_chat_ids(session: AsyncSession) -> set[int]:
    """The chats marked unreachable, whose subscriptions are paused."""
    result = await session.execute(select(Chat.id).where(col(Chat.reachable).is_(False)))
    return set(result.scalars())


def _encode_choice(offsets: Iterable[str] | None) -> str | None:
    return None if offsets is None else "," + "".join(f"{o}," for o in offsets)


async def reminder_choice(session: AsyncSession, *, chat_id: int) -> list[str] | None:
    """The reminders a chat chose (offset names), or None for the configured default."""
    chat = await session.get(Chat, chat_id)
    if chat is None or chat.reminder_offsets is None:
        return None
    return [name for name in chat.reminder_offsets.split(",") if name]


async def set_reminder_choice(
    session: AsyncSession, *, chat_id: int, chat_type: ChatType, offsets: Iterable[str] | None
) -> None:
    """Which reminders a chat wants: offset names, [] for none, None for the default."""
    await remember_chat(session, chat_id=chat_id, chat_type=chat_type)
    await session.execute(
        update(Chat).where(col(Chat.id) == chat_id).values(reminder_offsets=_encode_choice(offsets))
    )


async def chosen_language(session: AsyncSession, *, chat_id: int) -> str | None:
    """The language a chat chose with /language, or None."""
    result = await session.execute(
        select(Chat.language).where(col(Chat.id) == chat_id, col(Chat.language_chosen).is_(True))
    )
    return result.scalar_one_or_none()


async def choose_language(
    session: AsyncSession, *, chat_id: int, chat_type: ChatType, language: str
) -> None:
    """The chat's choice of language (/language)."""
    await remember_chat(session, chat_id=chat_id, chat_type=chat_type)
    await session.execute(
        update(Chat).where(col(Chat.id) == chat_id).values(language=language, language_chosen=True)
    )


async def languages_of(session: AsyncSession, chat_ids: Collection[int]) -> dict[int, str]:
    """The known languages of these chats (chats with none are left out)."""
    if not chat_ids:
        return {}
    result = await session.execute(
        select(Chat.id, Chat.language).where(
            col(Chat.id).in_(list(chat_ids)), col(Chat.language).is_not(None)
        )
    )
    return {chat_id: language for chat_id, language in result if language is not None}


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
