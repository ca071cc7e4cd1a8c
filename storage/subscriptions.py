"""Which chats follow which cases, and whether a chat is reachable. A chat is kept as its numeric
id and type only."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import Enum, auto
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from storage.models import Case, CaseStatus, Chat, ChatType, Subscription


class SubscribeResult(Enum):
    SUBSCRIBED = auto()
    ALREADY_SUBSCRIBED = auto()
    NO_SUCH_CASE = auto()
    CASE_CLOSED = auto()


async def _insert_or_ignore(
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
    inserted = await _insert_or_ignore(
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


async def subscribe(
    session: AsyncSession,
    *,
    chat_id: int,
    chat_type: ChatType,
    case_id: str,
    language: str | None = None,
) -> SubscribeResult:
    """Subscribe a chat to an active case (``language``: as for remember_chat)."""
    case = await session.get(Case, case_id)
    if case is None:
        return SubscribeResult.NO_SUCH_CASE
    if case.status != CaseStatus.ACTIVE:
        return SubscribeResult.CASE_CLOSED
    await remember_chat(session, chat_id=chat_id, chat_type=chat_type, language=language)
    inserted = await _insert_or_ignore(
        session, Subscription, {"chat_id": chat_id, "case_id": case_id}
    )
    return SubscribeResult.SUBSCRIBED if inserted else SubscribeResult.ALREADY_SUBSCRIBED


async def unsubscribe(session: AsyncSession, *, chat_id: int, case_id: str) -> bool:
    """Stop a chat following a case; False when it was not following it."""
    result = await session.execute(
        delete(Subscription).where(
            col(Subscription.chat_id) == chat_id, col(Subscription.case_id) == case_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def unsubscribe_all(session: AsyncSession, *, chat_id: int) -> list[str]:
    """Stop a chat following anything; the case ids it followed, sorted."""
    case_ids = await subscribed_case_ids(session, chat_id=chat_id)
    await session.execute(delete(Subscription).where(col(Subscription.chat_id) == chat_id))
    return sorted(case_ids)


async def subscribed_case_ids(session: AsyncSession, *, chat_id: int) -> set[str]:
    """The ids of the cases a chat follows."""
    result = await session.execute(
        select(Subscription.case_id).where(Subscription.chat_id == chat_id)
    )
    return set(result.scalars())


async def count_subscribers(session: AsyncSession, *, case_id: str) -> int:
    """How many reachable chats follow a case."""
    query = (
        select(func.count())
        .select_from(Subscription)
        .join(Chat)
        .where(Subscription.case_id == case_id, col(Chat.reachable).is_(True))
    )
    return int((await session.execute(query)).scalar_one())


async def resume_chat(session: AsyncSession, *, chat_id: int) -> bool:
    """The chat wrote again: resume sending to it; True when it had been marked unreachable."""
    result = await session.execute(
        update(Chat)
        .where(col(Chat.id) == chat_id, col(Chat.reachable).is_(False))
        .values(reachable=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def paused_chat_ids(session: AsyncSession) -> set[int]:
    """The chats marked unreachable, whose subscriptions are paused."""
    result = await session.execute(select(Chat.id).where(col(Chat.reachable).is_(False)))
    return set(result.scalars())


class PausedChats:
    """The ids of the chats marked unreachable, in memory.

    Every update asks whether its chat is paused; a set answers without touching the database.
    The database stays the source of truth: the set is loaded from it at start, and whoever marks
    chats unreachable (the delivery engine, after it wrote them) adds them here.
    """

    def __init__(self, chat_ids: Iterable[int] = ()) -> None:
        self._ids = set(chat_ids)

    def __contains__(self, chat_id: int) -> bool:
        return chat_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def pause(self, chat_ids: Iterable[int]) -> None:
        """These chats were marked unreachable."""
        self._ids.update(chat_ids)

    def resume(self, chat_id: int) -> None:
        """This chat was marked reachable again."""
        self._ids.discard(chat_id)

    async def load(self, session: AsyncSession) -> None:
        """Replace what is known with the database's view."""
        self._ids = await paused_chat_ids(session)


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


async def subscriber_languages(session: AsyncSession, *, case_id: str) -> dict[str | None, int]:
    """How many reachable chats following a case speak each language (None: not known)."""
    query = (
        select(Chat.language, func.count())
        .select_from(Subscription)
        .join(Chat)
        .where(Subscription.case_id == case_id, col(Chat.reachable).is_(True))
        .group_by(col(Chat.language))
    )
    return {language: int(count) for language, count in await session.execute(query)}


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
