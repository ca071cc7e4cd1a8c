"""The daily purge: what the bot needs only for a while is deleted when that while is over.

``storage.privacy`` says what goes (delivery rows of old broadcasts, subscriptions of closed
cases, chats that follow nothing); this runs it on the active instance, soon after it becomes
active and then daily, and logs counts only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from jobs.outage import Outage
from jobs.supervisor import Worker
from storage import privacy
from storage.database import Database

logger = logging.getLogger(__name__)

INTERVAL = timedelta(days=1)
# After becoming active: soon, so that a bot restarted more often than daily still purges.
FIRST = timedelta(seconds=30)


class DailyPurge:
    """Runs the purge soon after this instance becomes active, then every day."""

    def __init__(
        self,
        *,
        database: Database,
        keep_deliveries: timedelta,
        clock: Callable[[], datetime],
        outage: Outage,
        first: timedelta = FIRST,
        interval: timedelta = INTERVAL,
    ) -> None:
        self.database = database
        self.keep_deliveries = keep_deliveries
        self.clock = clock
        self.outage = outage
        self.first = first
        self.interval = interval

    async def run(self, worker: Worker) -> None:
        """Purge, then wait a day (however late a busy or suspended machine wakes it, it runs)."""
        wait = self.first
        while True:
            worker.beat()
            await asyncio.sleep(wait.total_seconds())
            worker.beat()
            with self.outage.absorbed() as purge:
                await self.purge()
            # After an outage, again soon rather than in a day.
            wait = self.first if purge.failed else self.interval

    async def purge(self) -> privacy.Purged:
        """Delete what is no longer needed (see storage.privacy.purge_rows) and scrub the files."""
        purged = await privacy.purge(self.database, now=self.clock(), keep=self.keep_deliveries)
        logger.info(
            "purge: %d delivery rows, %d subscriptions of closed cases and %d chats removed",
            purged.deliveries,
            purged.subscriptions,
            purged.chats,
        )
        return purged
