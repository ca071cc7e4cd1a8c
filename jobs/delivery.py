"""The delivery engine: sends every queued delivery as fast as Telegram's limits allow.

The database is the queue (``storage.queue``, seen here through ``DeliveryStore``); this module
reads it page by page, paces the sends with ``jobs.limits``, runs many at once so that the limits
and not round trips set the pace, and writes the results back in batches. It knows nothing of
Telegram: ``send`` is any coroutine that returns one of the results below (``jobs.sender`` adapts
python-telegram-bot).

Guarantee: a delivery is marked sent only after Telegram accepted it. A stop lets the sends under
way finish and records them, so a restart repeats nothing. If the process is killed instead,
every delivery not yet marked is sent again at the next start: nothing is lost, and at most the
messages in flight, or sent but not yet recorded (one flush interval), go out twice.

The database may go away at any time (a restart, a failover, a locked SQLite file): the engine
reports the outage once, keeps the results it could not write in memory, retries with a capped
backoff, and carries on where it was when the database is back. Deliveries are leased to the
instance that read them, so that an instance taking over from another leaves alone what the
other may still be sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from jobs import logref
from jobs.limits import Limits, Pacer, Priority, RateLimiter
from jobs.metrics import Metrics
from jobs.outage import RETRY, Outage, database_outage
from storage.models import DeliveryStatus, utcnow
from storage.queue import DeliveryResult, PendingDelivery, SendingBroadcast
from storage.topics import TopicNotice

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
class Unavailable:
    """The Bot API could not be reached at all: not the chat's fault, and not an attempt."""

    reason: str


@dataclass(frozen=True, slots=True)
class TopicGone:
    """The forum topic the message was for is deleted or closed: General takes its place."""

    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """Anything else; ``transient`` failures (5xx, timeouts, network) are retried."""

    reason: str
    transient: bool


def _no_heartbeat() -> None:
    """Nobody watches this engine's heartbeat."""


SendResult = Sent | RetryLater | Unreachable | Migrated | Unavailable | TopicGone | Failed
# (chat id, HTML text, forum topic or None) -> what became of it.
SendFn = Callable[[int, str, int | None], Awaitable[SendResult]]
# The text as it should read at the moment of sending: (the broadcast, the chat's language, the
# text stored for it) -> the text to send, or None when it is too late to send.
PrepareFn = Callable[[SendingBroadcast, str | None, str], str | None]


def _as_stored(_broadcast: SendingBroadcast, _language: str | None, text: str) -> str:
    """Send what was stored."""
    return text


class DeliveryStore(Protocol):
    """What the engine needs of the queue (``storage.queue.DeliveryQueue``); each call is one
    short transaction, and may raise what an unreachable database raises."""

    async def sending(self) -> list[SendingBroadcast]:
        """Broadcasts being sent, most urgent first."""

    async def claim(
        self,
        broadcast_id: int,
        *,
        after: int,
        limit: int,
        holder: str,
        now: datetime,
        lease: timedelta,
        with_languages: bool,
        take_expired: bool,
    ) -> list[PendingDelivery]:
        """Claim the next page of a broadcast's pending deliveries for ``holder``."""

    async def renew(
        self, broadcast_ids: Collection[int], *, holder: str, now: datetime, lease: timedelta
    ) -> None:
        """Extend ``holder``'s leases on these broadcasts' pending deliveries."""

    async def release(self, holder: str) -> None:
        """Give up every lease of ``holder``."""

    async def record(self, results: Sequence[DeliveryResult], *, now: datetime) -> None:
        """Write results."""

    async def finish(self, broadcast_ids: Collection[int], *, now: datetime) -> set[int]:
        """Mark done those with nothing pending; which were."""

    async def migrate_chat(self, old_id: int, new_id: int) -> None:
        """A group became a supergroup: move its rows to the new id."""

    async def move_to_general(
        self,
        chat_id: int,
        thread_id: int,
        *,
        broadcast_id: int,
        notice: TopicNotice | None,
        now: datetime,
    ) -> bool:
        """A forum topic is gone: the chat's subscriptions and pending deliveries in it go to
        General, and ``notice`` is queued to it; False when nothing was left to move."""


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
    # How long a delivery read by this engine stays its own; renewed while it waits. Another
    # instance that takes over sends it only after this, unless it was released at a clean stop.
    lease: float = 15.0
    # An engine that has just started leaves others' expired claims alone this long: the
    # instance it takes over from may be writing what it sent during an outage (see
    # flush_leftovers), and reading those deliveries sooner would send them twice.
    takeover_grace: float = 10.0


@dataclass
class _Broadcast:
    """What the engine holds of one broadcast being sent."""

    found: SendingBroadcast
    weight: int
    cursor: int = 0  # the last delivery id read
    exhausted: bool = False  # every pending delivery has been read
    buffer: deque[PendingDelivery] = field(default_factory=deque)
    outstanding: int = 0  # read but not yet recorded
    credit: int = 0  # smooth weighted round robin
    stopped: bool = False  # no longer being sent (a staff member pressed Stop): send no more


class DeliveryEngine:
    """Sends the deliveries of every broadcast being sent; run() until cancelled."""

    def __init__(
        self,
        store: DeliveryStore,
        send: SendFn,
        settings: EngineSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utcnow,
        holder: str | None = None,
        outage: Outage | None = None,
        bot_api: Outage | None = None,
        metrics: Metrics | None = None,
        on_unreachable: Callable[[set[int]], None] | None = None,
        prepare: PrepareFn = _as_stored,
        topic_notice: TopicNotice | None = None,
    ) -> None:
        self.store = store
        # Told the chats it marked unreachable, once that is written (a cache of paused chats).
        self._on_unreachable = on_unreachable
        self.send = send
        # A hook, so that the engine needs no knowledge of texts: the bot re-renders a reminder
        # ("starts in 2 hours") as each chat's turn comes, which at 30 messages a second may be
        # minutes after it was queued, and refuses one whose hearing has begun.
        self.prepare = prepare
        # What a forum is told (in its language) when the topic it followed a case in is gone;
        # the bot's words, set by whoever builds the engine.
        self.topic_notice = topic_notice
        # Topics found gone since this run started: messages already read for them go to
        # General without meeting the error again.
        self._gone_topics: set[tuple[int, int]] = set()
        self.settings = settings = settings or EngineSettings()
        self.limiter = RateLimiter(settings.limits)
        self.pacer = Pacer(self.limiter, clock=clock)
        self._clock = clock
        self._wall_clock = wall_clock
        # Who this engine is in the deliveries' leases: one name per process.
        self.holder = holder or uuid.uuid4().hex
        self.outage = outage or database_outage()
        self.bot_api = bot_api or Outage("Bot API")
        self._unavailable = 0  # sends in a row that could not reach the Bot API
        self.metrics = metrics
        self._lease = timedelta(seconds=settings.lease)
        self._active: dict[int, _Broadcast] = {}
        self._deferred: list[tuple[float, int, PendingDelivery]] = []
        self._sequence = itertools.count()
        # (broadcast id, result) waiting to be written; kept across runs until written
        self._results: list[tuple[int, DeliveryResult]] = []
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_look = float("-inf")
        self._last_renewal = float("-inf")
        self._run_started = float("-inf")
        self._beat: Callable[[], None] = _no_heartbeat
        self.retries_after_429 = 0

    async def pace(self, chat_id: int) -> None:
        """Wait for the turn of a message sent outside the engine (a reply): it goes ahead of
        the broadcasts and takes a turn one of their messages does not get."""
        await self.pacer.turn(chat_id, priority=Priority.REPLY)

    def throttled(self, seconds: float) -> None:
        """Telegram answered a reply with 429: no message of the bot leaves for ``seconds``."""
        self.retries_after_429 += 1
        if self.metrics is not None:
            self.metrics.too_many_requests.inc()
        self.pacer.pause(self._clock() + seconds)

    def wake(self) -> None:
        """A broadcast was queued: look for it now rather than at the next poll."""
        self._wake.set()

    async def run(self, beat: Callable[[], None] = _no_heartbeat) -> None:
        """Send until cancelled. On cancellation nothing new leaves; the sends under way may
        finish (for ``stop_grace`` seconds) and are recorded, so a restart repeats none of them.

        ``beat`` is called at every turn of the loop, busy or idle, for the health check. A
        database outage is waited out here; any other exception ends the run (the supervisor
        logs it and runs it again).
        """
        self._beat = beat
        self._forget_progress()
        self._run_started = self._clock()
        # Results a previous run could not write go first: their deliveries still look pending,
        # and reading them again before they are written would send them twice.
        attempt = 0
        while self._results:
            self._beat()
            with self.outage.absorbed() as write:
                await self._flush()
            if write.failed:
                attempt += 1
                await asyncio.sleep(RETRY.delay(attempt))
        # Owned here: cancelled and awaited when the run ends.
        flusher = asyncio.create_task(self._flush_forever(), name="delivery-flush")
        attempt = 0
        try:
            while True:
                self._beat()
                with self.outage.absorbed() as step:
                    await self._step()
                attempt = attempt + 1 if step.failed else 0
                if step.failed:
                    await self._idle(RETRY.delay(attempt))
        finally:
            flusher.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=self.settings.stop_grace)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(flusher, *self._tasks, return_exceptions=True)
            # If the database is away, the results stay in memory: the next run writes them
            # before it reads anything, and the leases run out by themselves.
            with self.outage.absorbed():
                await self._flush()
                # Everything sent is recorded: give up the claims on the rest, so that an
                # instance taking over sends it at once instead of waiting for the leases.
                await self.store.release(self.holder)

    def _forget_progress(self) -> None:
        """Start from the database: what an earlier run held in memory is read again."""
        self._active.clear()
        self._deferred.clear()
        self._gone_topics.clear()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._last_look = self._last_renewal = float("-inf")

    @property
    def has_leftovers(self) -> bool:
        """Results of sends that could not be written yet (the database was away)."""
        return bool(self._results)

    async def flush_leftovers(self) -> None:
        """Write the results an earlier run could not, and give up its claims: done by an
        instance that stood down during an outage, so that the one now active, which waits
        ``takeover_grace`` for this, does not send those deliveries again."""
        if self._results:
            await self._flush()
            await self.store.release(self.holder)

    async def _step(self) -> None:
        now = self._clock()
        if self._wake.is_set() or now - self._last_look >= self.settings.poll_interval:
            await self._look()
        await self._refill()
        # Here and not only when idle: a busy engine (a long broadcast going out) is never idle,
        # and a short broadcast that finished beside it must be marked done, and reported, now.
        await self._complete_finished()
        item = self._pick(now)
        if item is None:
            await self._idle()
            return
        await self._slots.acquire()
        try:
            granted = await self.pacer.turn(item.chat_id, priority=Priority.BROADCAST)
        except BaseException:
            self._slots.release()
            raise
        if not granted:  # a reply to its group came first: this one waits for room
            self._slots.release()
            self._defer(item, self.pacer.ready_at(item.chat_id, self._clock()))
            return
        if self._wake.is_set():  # a Stop may have come while this waited for its turn
            try:
                await self._look()
            except BaseException:
                self._slots.release()
                self._defer(item, self._clock())  # not lost: it goes at the next step
                raise
        if self._dropped(item):
            self._slots.release()
            return
        task = asyncio.create_task(self._deliver(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look(self) -> None:
        """Pick up broadcasts being sent, including those a previous run left unfinished, and
        let go of those no longer being sent (stopped)."""
        self._wake.clear()
        self._last_look = self._clock()
        sending = await self.store.sending()
        for found in sending:
            if found.id not in self._active:
                self._active[found.id] = _Broadcast(found, max(1, found.priority))
        still = {found.id for found in sending}
        for broadcast_id, state in self._active.items():
            if broadcast_id not in still and not state.stopped:
                self._stop(state)

    def _stop(self, state: _Broadcast) -> None:
        """A broadcast left the queue while this engine held some of it (a Stop marked its
        pending deliveries): what was read and not sent is dropped, the page in the buffer
        and the chats deferred alike. A send under way completes and is recorded."""
        state.stopped = True
        state.exhausted = True
        state.outstanding -= len(state.buffer)
        state.buffer.clear()
        logger.info("broadcast %s is no longer sent; the rest of it is dropped", state.found.id)

    def _dropped(self, item: PendingDelivery) -> bool:
        """Whether ``item`` belongs to a stopped broadcast (and is counted off it)."""
        state = self._active.get(item.broadcast_id)
        if state is None or not state.stopped:
            return False
        state.outstanding -= 1
        return True

    async def _refill(self) -> None:
        """Read the next page of every broadcast whose buffer ran low."""
        # Others' expired claims wait until the grace is over (EngineSettings.takeover_grace).
        past_grace = self._clock() - self._run_started >= self.settings.takeover_grace
        for state in list(self._active.values()):
            if state.exhausted or len(state.buffer) >= self.settings.page // 4:
                continue
            page = await self.store.claim(
                state.found.id,
                after=state.cursor,
                limit=self.settings.page,
                holder=self.holder,
                now=self._wall_clock(),
                lease=self._lease,
                with_languages=bool(state.found.texts),
                take_expired=past_grace,
            )
            self.outage.ok()  # a write went through (a read may pass a locked SQLite file)
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
            if self._dropped(item):
                continue
            # Two items deferred for one chat come due together; only one may go.
            ready = self.pacer.ready_at(item.chat_id, now)
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
            ready = self.pacer.ready_at(item.chat_id, now)
            if ready <= now:
                return item
            self._defer(item, ready)

    def _defer(self, item: PendingDelivery, until: float) -> None:
        heapq.heappush(self._deferred, (until, next(self._sequence), item))

    async def _idle(self, longest: float | None = None) -> None:
        """Nothing can leave now: wait for a deferred chat, a result, or a new broadcast."""
        if longest is None:  # after an outage's wait, the next step finishes them
            await self._complete_finished()
        timeout = self.settings.poll_interval if longest is None else longest
        if self._deferred:
            timeout = min(timeout, max(0.0, self._deferred[0][0] - self._clock()))
        if self._tasks:
            timeout = min(timeout, self.settings.flush_interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _deliver(self, item: PendingDelivery) -> None:
        found = self._active[item.broadcast_id].found  # outstanding keeps it active
        stored = found.texts.get(item.language or "", found.text)
        try:
            text = self.prepare(found, item.language, stored)
            if text is None:  # too late: nothing goes, and it is not an attempt
                self._record(item, DeliveryStatus.SKIPPED, item.attempts, "too late")
                return
            thread = item.thread_id
            if thread is not None and (item.chat_id, thread) in self._gone_topics:
                thread = None
            result = await self.send(item.chat_id, text, thread)
        except Exception as exc:  # a bug in send must not stop every broadcast
            logger.exception("sending to chat %s failed unexpectedly", logref.ref(item.chat_id))
            result = Failed(type(exc).__name__, transient=True)
        finally:
            self._slots.release()
        try:
            # The database may be away while moving a migrated chat: the same chat later.
            with self.outage.absorbed() as handled:
                await self._handle(item, result)
        except Exception:  # a bug must not stop every broadcast
            logger.exception(
                "could not handle the result for chat %s; retrying", logref.ref(item.chat_id)
            )
            self._defer(item, self._clock() + self.settings.backoff)
        else:
            if handled.failed:
                self._defer(item, self._clock() + self.settings.backoff)

    async def _handle(self, item: PendingDelivery, result: SendResult) -> None:
        now = self._clock()
        attempts = item.attempts + 1
        if not isinstance(result, Unavailable):
            self._unavailable = 0
            self.bot_api.ok()
        match result:
            case Sent():
                self._record(item, DeliveryStatus.SENT, attempts)
            case Unavailable(reason):
                # Telegram is out of reach: every chat would fail alike. Pause all sending with a
                # growing, capped wait and try this one again; nothing is given up on.
                self._unavailable += 1
                self.bot_api.failed(ConnectionError(reason))
                wait = RETRY.delay(self._unavailable)
                self.pacer.pause(now + wait)
                self._defer(item, now + wait)
            case RetryLater(seconds):
                # Not an attempt: the same message goes again, once, after the pause.
                self.retries_after_429 += 1
                if self.metrics is not None:
                    self.metrics.too_many_requests.inc()
                self.pacer.pause(now + seconds)
                self._defer(item, now + seconds)
            case Unreachable(reason):
                self._record(item, DeliveryStatus.UNREACHABLE, attempts, reason)
            case Migrated(new_chat_id):
                await self.store.migrate_chat(item.chat_id, new_chat_id)
                logger.info(
                    "chat %s became supergroup %s",
                    logref.ref(item.chat_id),
                    logref.ref(new_chat_id),
                )
                self._defer(replace(item, chat_id=new_chat_id), now)
            case TopicGone(reason) if item.thread_id is not None:
                # Not an attempt: the same message goes to General, and the chat is told once.
                key = (item.chat_id, item.thread_id)
                if key not in self._gone_topics:
                    self._gone_topics.add(key)
                    told = await self.store.move_to_general(
                        item.chat_id,
                        item.thread_id,
                        broadcast_id=item.broadcast_id,
                        notice=self.topic_notice,
                        now=self._wall_clock(),
                    )
                    if told:
                        logger.info(
                            "a topic of chat %s is gone (%s); its subscriptions moved to General",
                            logref.ref(item.chat_id),
                            reason,
                        )
                        self.wake()  # the notice
                self._defer(replace(item, thread_id=None), now)
            case Failed(reason, transient=True) if attempts < self.settings.max_attempts:
                delay = self.settings.backoff * 2 ** (attempts - 1)
                self._defer(replace(item, attempts=attempts), now + delay)
            case Failed(reason) | TopicGone(reason):  # a topic gone, with no topic: General's
                logger.warning("delivery to chat %s failed: %s", logref.ref(item.chat_id), reason)
                self._record(item, DeliveryStatus.FAILED, attempts, reason)

    def _record(
        self, item: PendingDelivery, status: DeliveryStatus, attempts: int, error: str | None = None
    ) -> None:
        result = DeliveryResult(item.id, item.chat_id, status, attempts, error)
        self._results.append((item.broadcast_id, result))
        if self.metrics is not None:
            self.metrics.deliveries.labels(str(status)).inc()
            reminder = self._active[item.broadcast_id].found.reminder
            if reminder is not None and status == DeliveryStatus.SENT:
                late = (self._wall_clock() - reminder.due).total_seconds()
                self.metrics.reminder_lateness.observe(max(0.0, late))

    async def _flush_forever(self) -> None:
        """Write results every flush interval, and renew the leases; wait out outages."""
        attempt = 0
        while True:
            await asyncio.sleep(RETRY.delay(attempt) if attempt else self.settings.flush_interval)
            try:
                with self.outage.absorbed() as write:
                    await self._flush()
                    if self._clock() - self._last_renewal >= self.settings.lease / 3:
                        await self._renew()
            except Exception:  # a bug: loud, but never the end of recording
                logger.exception("could not record delivery results; retrying")
                attempt += 1
            else:
                attempt = attempt + 1 if write.failed else 0

    async def _renew(self) -> None:
        self._last_renewal = self._clock()
        await self.store.renew(
            list(self._active), holder=self.holder, now=self._wall_clock(), lease=self._lease
        )

    async def _flush(self) -> None:
        """Write results in one transaction, then count them off their broadcasts."""
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            await self.store.record([result for _, result in batch], now=self._wall_clock())
        except BaseException:
            # Cancellation included: a stop that lands mid-write must not lose these results,
            # or the restart would send them again. Writing one twice is harmless.
            self._results[:0] = batch
            raise
        self.outage.ok()
        for broadcast_id, _ in batch:
            state = self._active.get(broadcast_id)
            if state is not None:  # a result kept from an earlier run has no state now
                state.outstanding -= 1
        unreachable = {r.chat_id for _, r in batch if r.status == DeliveryStatus.UNREACHABLE}
        if unreachable and self._on_unreachable is not None:
            self._on_unreachable(unreachable)

    async def _complete_finished(self) -> None:
        """Broadcasts with nothing left to read, send or record are done.

        Done only when the database agrees nothing is pending. One that is not (its last
        deliveries are leased to an instance that went away, or the database is down) is picked
        up again by the next look.
        """
        done = [
            state.found.id
            for state in self._active.values()
            if state.exhausted and state.outstanding == 0 and not state.buffer
        ]
        if not done:
            return
        for broadcast_id in done:
            del self._active[broadcast_id]
        with self.outage.absorbed():
            await self.store.finish(done, now=self._wall_clock())
