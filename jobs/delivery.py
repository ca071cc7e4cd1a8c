"""The delivery engine: sends every queued delivery as fast as Telegram's limits allow.

The database is the queue (``storage.deliveries``); this module reads it page by page, paces the
sends with ``jobs.limits``, runs many at once so that the limits and not round trips set the pace,
and writes the results back in batches. It knows nothing of Telegram: ``send`` is any coroutine
that returns one of the results below (``jobs.sender`` adapts python-telegram-bot).

Guarantee: a delivery is marked sent only after Telegram accepted it. A stop lets the sends under
way finish and records them, so a restart repeats nothing. If the process is killed instead,
every delivery not yet marked is sent again at the next start: nothing is lost, and at most the
messages in flight, or sent but not yet recorded (one flush interval), go out twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from jobs.limits import Limits, RateLimiter
from storage import deliveries
from storage.database import Database
from storage.deliveries import DeliveryResult, PendingDelivery
from storage.models import DeliveryStatus, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sent:
    pass


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Telegram's 429: wait ``seconds``, then send the same message again."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Unreachable:
    """Blocked, kicked, deactivated or not found: never retried."""

    reason: str


@dataclass(frozen=True, slots=True)
class Migrated:
    """The group became a supergroup with a new id."""

    new_chat_id: int


@dataclass(frozen=True, slots=True)
class Failed:
    """Anything else; ``transient`` failures (5xx, timeouts, network) are retried."""

    reason: str
    transient: bool


SendResult = Sent | RetryLater | Unreachable | Migrated | Failed
SendFn = Callable[[int, str], Awaitable[SendResult]]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 200  # sends in flight at once
    max_attempts: int = 5  # for transient failures
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    page: int = 200  # deliveries read per query and broadcast
    flush_interval: float = 0.1  # seconds between batched writes of results
    poll_interval: float = 1.0  # seconds between looks for new broadcasts when idle
    stop_grace: float = 10.0  # seconds the sends under way may take to finish at a stop


@dataclass
class _Broadcast:
    """What the engine holds of one broadcast being sent."""

    id: int
    text: str
    weight: int
    cursor: int = 0  # the last delivery id read
    exhausted: bool = False  # every pending delivery has been read
    buffer: deque[PendingDelivery] = field(default_factory=deque)
    outstanding: int = 0  # read but not yet recorded
    credit: int = 0  # smooth weighted round robin


class DeliveryEngine:
    """Sends the deliveries of every broadcast being sent; run() until cancelled."""

    def __init__(
        self,
        database: Database,
        send: SendFn,
        settings: EngineSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utcnow,
        on_unreachable: Callable[[set[int]], None] | None = None,
    ) -> None:
        self.database = database
        # Told the chats it marked unreachable, once that is written (a cache of paused chats).
        self._on_unreachable = on_unreachable
        self.send = send
        self.settings = settings = settings or EngineSettings()
        self.limiter = RateLimiter(settings.limits)
        self._clock = clock
        self._wall_clock = wall_clock
        self._active: dict[int, _Broadcast] = {}
        self._deferred: list[tuple[float, int, PendingDelivery]] = []
        self._sequence = itertools.count()
        # (broadcast id, result) waiting to be written
        self._results: list[tuple[int, DeliveryResult]] = []
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_look = float("-inf")
        self.retries_after_429 = 0

    def wake(self) -> None:
        """A broadcast was queued: look for it now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled. On cancellation nothing new leaves; the sends under way may
        finish (for ``stop_grace`` seconds) and are recorded, so a restart repeats none of them."""
        flusher = asyncio.create_task(self._flush_forever(), name="delivery-flush")
        try:
            while True:
                await self._step()
        finally:
            flusher.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=self.settings.stop_grace)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(flusher, *self._tasks, return_exceptions=True)
            await self._flush()

    async def drain(self) -> None:
        """Send everything queued now, then return (for the command line and benchmarks)."""
        flusher = asyncio.create_task(self._flush_forever(), name="delivery-flush")
        try:
            await self._look()
            while self._active:
                await self._step()
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await asyncio.gather(*self._tasks)
            await self._flush()

    async def _step(self) -> None:
        now = self._clock()
        if self._wake.is_set() or now - self._last_look >= self.settings.poll_interval:
            await self._look()
        await self._refill()
        item = self._pick(now)
        if item is None:
            await self._idle()
            return
        await self._slots.acquire()
        slot = self.limiter.next_slot(self._clock())
        delay = slot - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
        self.limiter.record(item.chat_id, self._clock())
        task = asyncio.create_task(self._deliver(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look(self) -> None:
        """Pick up broadcasts being sent, including those a previous run left unfinished."""
        self._wake.clear()
        self._last_look = self._clock()
        async with self.database.reading() as session:
            for broadcast in await deliveries.sending(session):
                assert broadcast.id is not None
                if broadcast.id not in self._active:
                    self._active[broadcast.id] = _Broadcast(
                        broadcast.id, broadcast.text, max(1, broadcast.priority)
                    )

    async def _refill(self) -> None:
        """Read the next page of every broadcast whose buffer ran low."""
        for state in list(self._active.values()):
            if state.exhausted or len(state.buffer) >= self.settings.page // 4:
                continue
            async with self.database.reading() as session:
                page = await deliveries.pending_page(
                    session, broadcast_id=state.id, after=state.cursor, limit=self.settings.page
                )
            state.buffer.extend(page)
            state.outstanding += len(page)
            if page:
                state.cursor = page[-1].id
            state.exhausted = len(page) < self.settings.page

    def _pick(self, now: float) -> PendingDelivery | None:
        """The next delivery whose chat may be sent to now: retries and waiting chats first,
        then the broadcasts by smooth weighted round robin, so each gets its share of the rate
        and an urgent one most of it."""
        while self._deferred and self._deferred[0][0] <= now:
            item = heapq.heappop(self._deferred)[2]
            # Two items deferred for one chat come due together; only one may go.
            ready = self.limiter.ready_at(item.chat_id, now)
            if ready <= now:
                return item
            self._defer(item, ready)
        while True:
            candidates = [state for state in self._active.values() if state.buffer]
            if not candidates:
                return None
            total = sum(state.weight for state in candidates)
            for state in candidates:
                state.credit += state.weight
            chosen = max(candidates, key=lambda state: state.credit)
            chosen.credit -= total
            item = chosen.buffer.popleft()
            ready = self.limiter.ready_at(item.chat_id, now)
            if ready <= now:
                return item
            self._defer(item, ready)

    def _defer(self, item: PendingDelivery, until: float) -> None:
        heapq.heappush(self._deferred, (until, next(self._sequence), item))

    async def _idle(self) -> None:
        """Nothing can leave now: wait for a deferred chat, a result, or a new broadcast."""
        self._complete_finished()
        timeout = self.settings.poll_interval
        if self._deferred:
            timeout = min(timeout, max(0.0, self._deferred[0][0] - self._clock()))
        if self._tasks:
            timeout = min(timeout, self.settings.flush_interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _deliver(self, item: PendingDelivery) -> None:
        text = self._active[item.broadcast_id].text  # outstanding keeps it active
        try:
            result = await self.send(item.chat_id, text)
        except Exception as exc:  # a bug in send must not stop every broadcast
            logger.exception("sending to chat %s failed unexpectedly", item.chat_id)
            result = Failed(type(exc).__name__, transient=True)
        finally:
            self._slots.release()
        try:
            await self._handle(item, result)
        except Exception:  # e.g. the database was away while moving a migrated chat
            logger.exception("could not handle the result for chat %s; retrying", item.chat_id)
            self._defer(item, self._clock() + self.settings.backoff)

    async def _handle(self, item: PendingDelivery, result: SendResult) -> None:
        now = self._clock()
        attempts = item.attempts + 1
        match result:
            case Sent():
                self._record(item, DeliveryStatus.SENT, attempts)
            case RetryLater(seconds):
                # Not an attempt: the same message goes again, once, after the pause.
                self.retries_after_429 += 1
                self.limiter.pause(now + seconds)
                self._defer(item, now + seconds)
            case Unreachable(reason):
                self._record(item, DeliveryStatus.UNREACHABLE, attempts, reason)
            case Migrated(new_chat_id):
                async with self.database.writing() as session:
                    await deliveries.migrate_chat(session, old_id=item.chat_id, new_id=new_chat_id)
                logger.info("chat %s became supergroup %s", item.chat_id, new_chat_id)
                self._defer(replace(item, chat_id=new_chat_id), now)
            case Failed(reason, transient=True) if attempts < self.settings.max_attempts:
                delay = self.settings.backoff * 2 ** (attempts - 1)
                self._defer(replace(item, attempts=attempts), now + delay)
            case Failed(reason):
                logger.warning("delivery to chat %s failed: %s", item.chat_id, reason)
                self._record(item, DeliveryStatus.FAILED, attempts, reason)

    def _record(
        self, item: PendingDelivery, status: DeliveryStatus, attempts: int, error: str | None = None
    ) -> None:
        result = DeliveryResult(item.id, item.chat_id, status, attempts, error)
        self._results.append((item.broadcast_id, result))

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            try:
                await self._flush()
            except Exception:  # the next flush tries again; results stay queued in memory
                logger.exception("could not record delivery results")

    async def _flush(self) -> None:
        """Write results in one transaction, then count them off their broadcasts."""
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            async with self.database.writing() as session:
                await deliveries.record_results(
                    session, [result for _, result in batch], now=self._wall_clock()
                )
        except BaseException:
            # Cancellation included: a stop that lands mid-write must not lose these results,
            # or the restart would send them again. Writing one twice is harmless.
            self._results[:0] = batch
            raise
        for broadcast_id, _ in batch:
            self._active[broadcast_id].outstanding -= 1
        unreachable = {r.chat_id for _, r in batch if r.status == DeliveryStatus.UNREACHABLE}
        if unreachable and self._on_unreachable is not None:
            self._on_unreachable(unreachable)

    def _complete_finished(self) -> None:
        """Broadcasts with nothing left to read, send or record are done."""
        done = [
            state.id
            for state in self._active.values()
            if state.exhausted and state.outstanding == 0 and not state.buffer
        ]
        if done:
            task = asyncio.create_task(self._finish(done))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            for broadcast_id in done:
                del self._active[broadcast_id]

    async def _finish(self, broadcast_ids: list[int]) -> None:
        async with self.database.writing() as session:
            # A broadcast is done only when the database agrees nothing is pending.
            left = await deliveries.unfinished(session, broadcast_ids)
            for broadcast_id in broadcast_ids:
                if broadcast_id not in left:
                    await deliveries.finish(
                        session, broadcast_id=broadcast_id, now=self._wall_clock()
                    )
        if left:
            self.wake()
