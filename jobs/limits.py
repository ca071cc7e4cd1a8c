"""Telegram's flood limits as a schedule, and the turns that keep every message of the bot to it.

``RateLimiter`` is pure bookkeeping with times passed in (seconds on a monotonic clock), so it is
tested exactly: when may the next message leave, overall and to one chat or group? ``Pacer``
hands out those moments as turns to whoever sends (the delivery engine's broadcasts, the
handlers' replies), one at a time and replies first (in a group too: a group's minute is shared
by both), and counts each message when it really leaves: a turn is never booked ahead, so a
stalled event loop or machine cannot release a backlog of booked turns at once when it resumes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

# Requests leave at our clock's time and arrive at Telegram's a little later and unevenly (a
# request that had its turn just before the loop stalled arrives with the ones after the stall).
# So of the overall rate a few percent is left unused: 29 of Telegram's 30 a second.
HEADROOM = 0.03
WINDOW_MARGIN = 0.01  # seconds added to the one-second window
CHAT_MARGIN = 0.05  # seconds
GROUP_MARGIN = 1.0  # seconds
PRUNE_EVERY = 1_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's limits (its FAQ's figures by default)."""

    per_second: float = 30.0  # every chat together
    chat_interval: float = 1.0  # seconds between two messages to one chat...
    # ...but a person's chat takes a short burst (an answer in parts, a few commands answered at
    # once), as Telegram does: at most this many in chat_burst * chat_interval seconds.
    chat_burst: int = 5
    group_per_minute: int = 20  # per group, supergroup or channel...
    group_window: float = 60.0  # ...in this many seconds (a minute, but for tests)


def is_group(chat_id: int) -> bool:
    """Groups, supergroups and channels have negative ids; private chats positive ones."""
    return chat_id < 0


class RateLimiter:
    """Spaces messages evenly overall, never more than the budget in any second, and keeps each
    chat's and group's own limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # Messages a second this bot allows itself: Telegram's figure less the headroom.
        self.budget = max(1, math.floor(limits.per_second * (1 - HEADROOM)))
        self._interval = 1.0 / self.budget
        self._next_slot = 0.0
        self._paused_until = 0.0
        # The latest departures, as many as the budget: the oldest says when a second is full.
        self._departures: deque[float] = deque(maxlen=self.budget)
        self._last_to_chat: dict[int, float] = {}
        self._to_person: dict[int, deque[float]] = {}
        self._to_group: dict[int, deque[float]] = {}
        self._recorded = 0

    def next_slot(self, now: float) -> float:
        """When the next message of any chat may leave."""
        slot = max(self._next_slot, self._paused_until, now)
        if len(self._departures) == self.budget:
            # Spacing alone keeps the budget; this holds it even when departures were uneven.
            slot = max(slot, self._departures[0] + 1.0 + WINDOW_MARGIN)
        return slot

    def ready_at(self, chat_id: int, now: float) -> float:
        """When a message to ``chat_id`` may leave, by that chat's (and group's) limits alone."""
        ready = now
        last = self._last_to_chat.get(chat_id)
        if last is not None:
            ready = max(ready, last + self.limits.chat_interval + CHAT_MARGIN)
        return max(ready, self.group_ready_at(chat_id, now))

    def answer_ready_at(self, chat_id: int, now: float) -> float:
        """When a reply to ``chat_id`` may leave: in a group or channel by its limits (a second
        apart, 20 a minute); in a person's chat at once within a short burst, and then on
        average a second apart."""
        if is_group(chat_id):
            return self.ready_at(chat_id, now)
        times = self._to_person.get(chat_id)
        if times is None or len(times) < self.limits.chat_burst:
            return now
        window = self.limits.chat_burst * self.limits.chat_interval
        return max(now, times[-self.limits.chat_burst] + window + CHAT_MARGIN)

    def group_ready_at(self, chat_id: int, now: float) -> float:
        """When a message to ``chat_id`` may leave by its group's (or channel's) per-minute limit
        alone; ``now`` for a private chat."""
        times = self._to_group.get(chat_id)
        if times is not None and len(times) >= self.limits.group_per_minute:
            return max(now, times[0] + self.limits.group_window + GROUP_MARGIN)
        return now

    def record(self, chat_id: int, at: float) -> None:
        """A message to ``chat_id`` leaves at ``at``."""
        # Never a burst after a stall: the schedule restarts from now, it does not catch up.
        self._next_slot = max(self._next_slot, at) + self._interval
        self._departures.append(at)
        self._last_to_chat[chat_id] = at
        if is_group(chat_id):
            times = self._to_group.setdefault(chat_id, deque())
            times.append(at)
            while len(times) > self.limits.group_per_minute:
                times.popleft()
        else:
            to_person = self._to_person.setdefault(chat_id, deque())
            to_person.append(at)
            while len(to_person) > self.limits.chat_burst:
                to_person.popleft()
        self._recorded += 1
        if self._recorded % PRUNE_EVERY == 0:
            self._prune(at)

    def pause(self, until: float) -> None:
        """Telegram said 429: nothing leaves before ``until``."""
        self._paused_until = max(self._paused_until, until)

    def _prune(self, now: float) -> None:
        """Forget chats whose limits no longer bind, so memory stays flat."""
        horizon = now - self.limits.chat_interval - CHAT_MARGIN
        self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}
        burst_horizon = now - self.limits.chat_burst * self.limits.chat_interval - CHAT_MARGIN
        self._to_person = {c: q for c, q in self._to_person.items() if q[-1] > burst_horizon}
        group_horizon = now - self.limits.group_window - GROUP_MARGIN
        self._to_group = {c: q for c, q in self._to_group.items() if q and q[-1] > group_horizon}

    @property
    def tracked_chats(self) -> int:
        """How many chats the limiter remembers (for tests of memory)."""
        return len(self._last_to_chat)


class Priority(IntEnum):
    """Who goes first when both wait for a turn."""

    REPLY = 0  # someone who wrote is waiting for the answer
    BROADCAST = 1


@dataclass(order=True)
class _Waiter:
    """A sender waiting for a turn; ordered by priority, then arrival."""

    priority: Priority
    order: int
    chat_id: int = field(compare=False)
    # True: its turn; False: a broadcast's chat may not be sent to now (the caller retries).
    future: asyncio.Future[bool] = field(compare=False)


class Pacer:
    """Turns to send, one message at a time, at the pace the limiter allows.

    Telegram's 30 messages a second count every message of the bot, so replies and broadcasts
    share them: a reply takes the next turn, ahead of the broadcast, instead of a 429. A chat's
    own pace (a message a second; in a group or channel also 20 a minute) is shared the same
    way: a reply waits for room there, without holding up the messages to other chats, and the
    broadcast's messages to that chat wait until the replies are out. A message is counted
    when its sender resumes with the turn, not when the turn was granted, and the next turn is
    granted only after that: however late a stalled loop gets there, the messages after it keep
    their spacing.
    """

    def __init__(self, limiter: RateLimiter, *, clock: Callable[[], float] = time.monotonic):
        self.limiter = limiter
        self._clock = clock
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()
        self._granted = False  # a turn was given and its message has not yet been counted
        self._timer: asyncio.TimerHandle | None = None

    async def turn(self, chat_id: int, *, priority: Priority) -> bool:
        """Wait for a turn to send to ``chat_id``; the message is counted as leaving now.

        A reply always gets its turn, once its chat's (and group's) limits allow it. A broadcast's
        message is refused (False, nothing counted) when its chat may not be sent to at its turn
        (a reply to that chat goes first, or the group's minute is full): its sender tries later,
        at ``ready_at``, instead of holding up every other chat's message.
        """
        waiter = _Waiter(
            priority, next(self._order), chat_id, asyncio.get_running_loop().create_future()
        )
        heapq.heappush(self._waiting, waiter)
        self._dispatch()
        try:
            granted = await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.result():
                self._granted = False  # the turn came, but goes unused
                self._dispatch()
            else:
                future.cancel()  # left in the queue; skipped when it comes up
            raise
        if not granted:
            return False
        self.limiter.record(chat_id, self._clock())
        self._granted = False
        self._dispatch()
        return True

    def ready_at(self, chat_id: int, now: float) -> float:
        """When a broadcast's message to ``chat_id`` may leave: the chat's and group's limits,
        and not while a reply to the same chat waits (answers first)."""
        ready = self.limiter.ready_at(chat_id, now)
        if self._reply_waits_for(chat_id):
            ready = max(ready, now + self.limiter.limits.chat_interval)
        return ready

    def pause(self, until: float) -> None:
        """Telegram said 429: no turn before ``until``."""
        self.limiter.pause(until)
        self._dispatch()

    @property
    def waiting(self) -> int:
        """How many senders wait for a turn."""
        return sum(1 for waiter in self._waiting if not waiter.future.done())

    def _reply_ready_at(self, chat_id: int, now: float) -> float:
        """A reply keeps its chat's pace (see RateLimiter.answer_ready_at): someone sending
        commands faster than a person types gets the answers paced instead of a 429, which
        would hold up every message of the bot."""
        return self.limiter.answer_ready_at(chat_id, now)

    def _reply_waits_for(self, chat_id: int) -> bool:
        return any(
            waiter.priority == Priority.REPLY
            and waiter.chat_id == chat_id
            and not waiter.future.done()
            for waiter in self._waiting
        )

    def _dispatch(self) -> None:
        """Grant the next turn if one is due, else set a timer for when it will be."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._granted:
            return
        while self._waiting and self._waiting[0].future.done():
            heapq.heappop(self._waiting)  # a waiter that gave up, or was answered
        if not self._waiting:
            return
        now = self._clock()
        slot = self.limiter.next_slot(now)
        if slot > now:
            self._set_timer(slot - now)
            return
        # The first waiter, in order of priority, whose chat may be sent to now.
        reply_ready: float | None = None
        for waiter in sorted(self._waiting):
            if waiter.future.done():
                continue
            if waiter.priority == Priority.REPLY:
                ready = self._reply_ready_at(waiter.chat_id, now)
                if ready > now:  # its group's minute is full: the others go meanwhile
                    reply_ready = ready if reply_ready is None else min(reply_ready, ready)
                    continue
            elif self.ready_at(waiter.chat_id, now) > now:
                waiter.future.set_result(False)
                continue
            self._granted = True
            waiter.future.set_result(True)
            return
        if reply_ready is not None:
            self._set_timer(reply_ready - now)

    def _set_timer(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._dispatch)
