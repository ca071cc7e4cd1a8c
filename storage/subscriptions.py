"""Which chats follow which cases."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.chats import insert_or_ignore, remember_chat
from storage.models import Case, CaseStatus, Chat, ChatType, Subscription


class SubscribeResult(Enum):
    SUBSCRIBED = auto()
    ALREADY_SUBSCRIBED = auto()
    NO_SUCH_CASE = auto()
    CASE_CLOSED = auto()
    MOVED = auto()  # followed already, in another topic of the forum: it posts to this one now


async def subscribe(
    session: AsyncSession,
    *,
    chat_id: int,
    chat_type: ChatType,
    case_id: str,
    language: str | None = None,
    thread_id: int | None = None,
    move: bool = True,
) -> SubscribeResult:
    """Subscribe a chat to an active case (``language``: as for chats.remember_chat).

    ``thread_id`` is the forum topic it was asked from (None: the chat itself, General in a
    forum); a case followed in another topic of the chat moves to this one, unless ``move`` is
    False (asked from outside the chat, where no topic was meant).
    """
    case = await session.get(Case, case_id)
    if case is None:
        return SubscribeResult.NO_SUCH_CASE
    if case.status != CaseStatus.ACTIVE:
        return SubscribeResult.CASE_CLOSED
    await remember_chat(session, chat_id=chat_id, chat_type=chat_type, language=language)
    inserted = await insert_or_ignore(
        session,
        Subscription,
        {"chat_id": chat_id, "case_id": case_id, "message_thread_id": thread_id},
    )
    if inserted:
        return SubscribeResult.SUBSCRIBED
    if not move:
        return SubscribeResult.ALREADY_SUBSCRIBED
    moved = await session.execute(
        update(Subscription)
        .where(
            col(Subscription.chat_id) == chat_id,
            col(Subscription.case_id) == case_id,
            col(Subscription.message_thread_id).is_distinct_from(thread_id),
        )
        .values(message_thread_id=thread_id)
    )
    if moved.rowcount:  # type: ignore[attr-defined]
        return SubscribeResult.MOVED
    return SubscribeResult.ALREADY_SUBSCRIBED


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


@dataclass(frozen=True, slots=True)
class FollowingChat:
    """A group or channel that follows cases, as /mysubs shows it to its administrators."""

    chat_id: int
    type: ChatType
    reachable: bool
    case_ids: tuple[str, ...]


async def any_group_or_channel_following(session: AsyncSession) -> bool:
    """Whether any group, supergroup or channel follows a case."""
    query = (
        select(Subscription.chat_id)
        .join(Chat, col(Subscription.chat_id) == col(Chat.id))
        .where(col(Chat.type) != ChatType.PRIVATE)
        .limit(1)
    )
    return (await session.execute(query)).first() is not None


async def groups_and_channels_following(session: AsyncSession) -> list[FollowingChat]:
    """Every group, supergroup and channel that follows a case, with the cases, by chat id."""
    result = await session.execute(
        select(Chat.id, Chat.type, Chat.reachable, Subscription.case_id)
        .join(Subscription, col(Subscription.chat_id) == col(Chat.id))
        .where(col(Chat.type) != ChatType.PRIVATE)
        .order_by(col(Chat.id), col(Subscription.case_id))
    )
    found: dict[int, FollowingChat] = {}
    for chat_id, chat_type, reachable, case_id in result:
        known = found.get(chat_id)
        cases = (*known.case_ids, case_id) if known else (case_id,)
        found[chat_id] = FollowingChat(chat_id, ChatType(chat_type), bool(reachable), cases)
    return list(found.values())
