"""The chats marked unreachable, kept in memory so that an update need not ask the database."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from storage.chats import paused_chat_ids


class PausedChats:
    """The ids of the chats marked unreachable, in memory.

    Every update asks whether its chat is paused; a set answers without touching the database.
    The database stays the source of truth: the set is loaded from it at start and every minute,
    and whoever marks chats unreachable (the delivery engine, after it wrote them) adds them here.
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
