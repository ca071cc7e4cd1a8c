"""How updates are scheduled: concurrently across chats, one after another within a chat.

python-telegram-bot handles one update at a time by default, so a chat's /cases waits for every
update that arrived before it, whichever chat sent them. With one task per update, a slow answer
in one chat no longer holds up the others; keeping each chat's updates in order keeps what a
user sees consistent (a /subscribe is done before the /mysubs typed after it is answered).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# Updates handled at once (PTB's semaphore). An update waiting for its chat's turn holds a place,
# so this is generous; the database pool, not this, bounds the queries in flight.
MAX_CONCURRENT_UPDATES = 256


def chat_of(update: object) -> int | None:
    """The chat whose updates must stay in order; None for an update with no chat."""
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Runs updates of different chats concurrently and those of one chat in arrival order."""

    def __init__(
        self,
        max_concurrent_updates: int = MAX_CONCURRENT_UPDATES,
        *,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(max_concurrent_updates)
        # Told how long each update took, its wait for its chat's turn included (the metrics).
        self._observe = observe
        # Per chat, the completion of its latest update: the next one of that chat waits for it.
        self._last: dict[int, asyncio.Future[None]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the previous update of the same chat, then handle this one."""
        began = time.perf_counter()
        try:
            await self._in_turn(update, coroutine)
        finally:
            if self._observe is not None:
                self._observe(time.perf_counter() - began)

    async def _in_turn(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_id = chat_of(update)
        if chat_id is None:
            await coroutine
            return
        previous = self._last.get(chat_id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[chat_id] = done
        started = False
        try:
            if previous is not None:
                # asyncio.wait, not await: cancelling this task must not cancel the previous
                # update's future, or the update after this one would start too early.
                await asyncio.wait([previous])
            started = True
            await coroutine
        finally:
            if not started and inspect.iscoroutine(coroutine):
                coroutine.close()  # cancelled while waiting its turn: it never runs
            if previous is None or previous.done():
                self._finish(chat_id, done)
            else:
                # The chat's next update must still wait for the one running now.
                previous.add_done_callback(lambda _: self._finish(chat_id, done))

    def _finish(self, chat_id: int, done: asyncio.Future[None]) -> None:
        done.set_result(None)
        if self._last.get(chat_id) is done:
            del self._last[chat_id]

    async def initialize(self) -> None:
        """Nothing to set up: the queues are made per chat as updates come."""

    async def shutdown(self) -> None:
        """Nothing to free: the Application waits for the updates under way."""
