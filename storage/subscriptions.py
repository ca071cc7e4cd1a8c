"""Which chats follow which cases."""

from __future__ import annotations

from enum import Enum, auto

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.chats import insert_or_ignore, remember_chat
from storage.models import Case, CaseStatus, Chat, ChatType, Subscription


class SubscribeResult(Enum):
    SUBSCRIBED = auto()
    ALREADY_SUBSCRIBED = auto()
    NO_SUCH_CASE = auto()
    CASE_CLOSED = auto()


async def subscribe(
    session: AsyncSession,
    *,
    chat_id: int,
    chat_type: ChatType,
    case_id: str,
    language: str | None = None,
) -> SubscribeResult:
    """Subscribe a chat to an active case (``language``: as for chats.remember_chat)."""
    case = await session.get(Case, case_id)
    if case is None:
        return SubscribeResult.NO_SUCH_CASE
    if case.status != CaseStatus.ACTIVE:
        return SubscribeResult.CASE_CLOSED
    await remember_chat(session, chat_id=chat_id, chat_type=chat_type, language=language)
    inserted = await insert_or_ignore(
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
