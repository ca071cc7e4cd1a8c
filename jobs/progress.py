"""Progress of broadcasts on their previews: every few seconds the staff member's preview message
is edited with the figures (sent / total, unreachable, failed), and once more with the final
report when the broadcast is done.

The edit goes through ``jobs.sender`` and the words come from the bot (``ProgressWording``);
this module knows neither Telegram nor any language.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import Enum, auto
from typing import Protocol

from jobs.outage import Outage
from jobs.supervisor import Worker
from storage import broadcasts
from storage.broadcasts import Progress
from storage.database import Database
from storage.models import Broadcast, BroadcastStatus

logger = logging.getLogger(__name__)

INTERVAL = 3.0  # seconds between edits of a preview: often enough, not spammy


class Edited(Enum):
    """What became of an edit of a preview message."""

    DONE = auto()  # shown (or it showed that already)
    GONE = auto()  # the message was deleted or the staff member blocked the bot: stop following
    LATER = auto()  # passing trouble (a timeout, a 429): the next tick tries again


# Rows of buttons under a preview, each (label, callback data): the bot's Stop while sending.
Buttons = tuple[tuple[tuple[str, str], ...], ...]
# (chat id, message id, text, buttons) -> what became of the edit
EditFn = Callable[[int, int, str, Buttons], Awaitable[Edited]]


class ProgressWording(Protocol):
    """A preview with its figures, in the staff member's language (the bot's words)."""

    def __call__(self, language: str | None, broadcast: Broadcast, progress: Progress) -> str:
        """The preview message's text now."""

    def buttons(self, language: str | None, broadcast: Broadcast) -> Buttons:
        """The buttons under it now (none once it is over)."""


class ProgressReports:
    """Edits each broadcast's preview with its figures, then with its final report."""

    def __init__(
        self,
        *,
        database: Database,
        edit: EditFn,
        wording: ProgressWording,
        outage: Outage,
        interval: float = INTERVAL,
    ) -> None:
        self.database = database
        self.edit = edit
        self.wording = wording
        self.outage = outage
        self.interval = interval
        # The text last shown on each preview, so that unchanged figures are not edited again.
        self._shown: dict[int, str] = {}

    def shown(self, broadcast_id: int, text: str) -> None:
        """The preview of ``broadcast_id`` shows ``text`` now (the Send button put it there)."""
        self._shown[broadcast_id] = text

    async def run(self, worker: Worker) -> None:
        """The active instance's progress reports, every few seconds."""
        while True:
            worker.beat()
            await asyncio.sleep(self.interval)
            with self.outage.absorbed():
                await self.report()

    async def report(self) -> None:
        """One round: edit every preview whose figures changed; report the finished ones."""
        async with self.database.reading() as session:
            followed = [
                (broadcast, await broadcasts.progress(session, broadcast_id=broadcast.id or 0))
                for broadcast in await broadcasts.unreported(session)
            ]
        for broadcast, progress in followed:
            assert broadcast.id is not None
            assert broadcast.preview_chat_id is not None
            assert broadcast.preview_message_id is not None
            # A stopped broadcast is over too: its report says what was sent and what stopped.
            done = broadcast.status in (BroadcastStatus.DONE, BroadcastStatus.STOPPED)
            language = broadcast.preview_language
            text = self.wording(language, broadcast, progress)
            if self._shown.get(broadcast.id) != text:
                edited = await self.edit(
                    broadcast.preview_chat_id,
                    broadcast.preview_message_id,
                    text,
                    self.wording.buttons(language, broadcast),
                )
                if edited is Edited.LATER:
                    continue
                if edited is Edited.GONE:
                    logger.warning("cannot show progress of broadcast %s any more", broadcast.id)
                    done = True
                self._shown[broadcast.id] = text
            if done:
                async with self.database.writing() as session:
                    await broadcasts.mark_reported(session, broadcast_id=broadcast.id)
                self._shown.pop(broadcast.id, None)
