"""How updates are scheduled: fairly across chats, one after another within a chat.

python-telegram-bot handles one update at a time by default, so a chat's /cases waits for every
update that arrived before it, whichever chat sent them. With one task per update, a slow answer
in one chat no longer holds up the others; keeping each chat's updates in order keeps what a
user sees consistent (a /subscribe is done before the /mysubs typed after it is answered).

Fair, because one chat must not take the bot's whole attention: an update takes one of the
processing slots only when its chat's turn comes, so a chat that sends hundreds of updates at
once holds one slot while they wait, not every slot; and a chat's queue of waiting updates is
bounded, what overflows is dropped (and counted in the metrics). A person who sends commands
faster than a human is handled before any of this reaches the database (``handlers.flood``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# Updates being handled at once: each may hold a database connection and a send slot for a
# moment; the database pool, not this, bounds the queries in flight.
MAX_RUNNING_UPDATES = 256
# Updates admitted at once, running or waiting for their chat's turn (python-telegram-bot's own
# bound, which makes later updates wait before they are even looked at).
MAX_HELD_UPDATES = 4096
# Updates of one chat waiting behind the one it has running; more are dropped. A person types
# a few a minute; a group of fifty asking at once still fits.
MAX_WAITING_PER_CHAT = 64

Dropped = Callable[[str], None]  # told the reason of each update dropped (the metrics)


def chat_of(update: object) -> int | None:
    """The chat whose updates must stay in order; None for an update with no chat."""
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


def _discard(coroutine: Awaitable[Any]) -> None:
    """An update that will never run: its coroutine is closed, not left to warn."""
    if inspect.iscoroutine(coroutine):
        coroutine.close()


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Runs updates of different chats concurrently and those of one chat in arrival order,
    taking a slot only on the chat's turn and keeping a bounded queue per chat."""

    def __init__(
        self,
        max_running: int = MAX_RUNNING_UPDATES,
        *,
        max_held: int = MAX_HELD_UPDATES,
        max_waiting_per_chat: int = MAX_WAITING_PER_CHAT,
        observe: Callable[[float], None] | None = None,
        dropped: Dropped | None = None,
    ) -> None:
        super().__init__(max(max_held, max_running))
        self._running = asyncio.Semaphore(max_running)
        self._max_waiting = max_waiting_per_chat
        # Told how long each update took, its wait for its chat's turn included (the metrics).
        self._observe = observe
        self._dropped = dropped
        # Per chat, the completion of its latest update: the next one of that chat waits for it.
        self._last: dict[int, asyncio.Future[None]] = {}
        # Per chat, how many of its updates wait for their turn.
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the previous update of the same chat, then for a slot, then handle it."""
        began = time.perf_counter()
        try:
            await self._in_turn(update, coroutine)
        finally:
            if self._observe is not None:
                self._observe(time.perf_counter() - began)

    async def _in_turn(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_id = chat_of(update)
        if chat_id is None:
            async with self._running:
                await coroutine
            return
        previous = self._last.get(chat_id)
        if previous is not None and self._waiting.get(chat_id, 0) >= self._max_waiting:
            _discard(coroutine)
            if self._dropped is not None:
                self._dropped("chat_queue_full")
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[chat_id] = done
        started = False
        try:
            if previous is not None:
                self._waiting[chat_id] = self._waiting.get(chat_id, 0) + 1
                try:
                    # asyncio.wait, not await: cancelling this task must not cancel the previous
                    # update's future, or the update after this one would start too early.
                    await asyncio.wait([previous])
                finally:
                    self._stop_waiting(chat_id)
            async with self._running:  # the chat's turn came: now a slot
                started = True
                await coroutine
        finally:
            if not started:
                _discard(coroutine)  # cancelled while waiting: it never runs
            if previous is None or previous.done():
                self._finish(chat_id, done)
            else:
                # The chat's next update must still wait for the one running now.
                previous.add_done_callback(lambda _: self._finish(chat_id, done))

    def _stop_waiting(self, chat_id: int) -> None:
        left = self._waiting.get(chat_id, 0) - 1
        if left > 0:
            self._waiting[chat_id] = left
        else:
            self._waiting.pop(chat_id, None)

    def _finish(self, chat_id: int, done: asyncio.Future[None]) -> None:
        done.set_result(None)
        if self._last.get(chat_id) is done:
            del self._last[chat_id]

    async def initialize(self) -> None:
        """Nothing to set up: the queues are made per chat as updates come."""

    async def shutdown(self) -> None:
        """Nothing to free: the Application waits for the updates under way."""
