"""The delivery engine as the tests and benchmarks run it: on the real queue, until every
broadcast queued is done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from datetime import datetime

from jobs.delivery import DeliveryEngine
from storage.queue import DeliveryQueue


class WatchedQueue(DeliveryQueue):
    """The real delivery queue, telling whoever waits which broadcasts are done."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.finished: set[int] = set()
        self._changed = asyncio.Condition()

    async def finish(self, broadcast_ids: Collection[int], *, now: datetime) -> set[int]:
        done = await super().finish(broadcast_ids, now=now)
        async with self._changed:
            self.finished |= done
            self._changed.notify_all()
        return done

    async def until_finished(self, broadcast_ids: Collection[int], seconds: float = 120) -> None:
        """Wait until all of these broadcasts are done."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(lambda: set(broadcast_ids) <= self.finished)


async def send_everything(engine: DeliveryEngine, seconds: float = 120) -> None:
    """Run ``engine`` (on a WatchedQueue) until every broadcast being sent now is done, then stop
    it as a shutdown does (what it sent is recorded)."""
    queue = engine.store
    assert isinstance(queue, WatchedQueue)
    waiting = {broadcast.id for broadcast in await queue.sending()}
    running = asyncio.create_task(engine.run())
    try:
        await queue.until_finished(waiting, seconds)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
