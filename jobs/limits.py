"""Telegram's flood limits as a schedule: when may the next message to a chat leave?

Pure bookkeeping with times passed in (seconds on a monotonic clock), so it is tested exactly.
The engine asks ``ready_at`` before it picks a chat and calls ``record`` as the message leaves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# Requests leave at our clock's time and arrive at Telegram's a little later and unevenly;
# these margins keep a schedule that is exact on paper from crossing the limit on the wire.
GLOBAL_MARGIN = 1.02
CHAT_MARGIN = 0.05  # seconds
GROUP_MARGIN = 0.5  # seconds
PRUNE_EVERY = 1_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's limits (its FAQ's figures by default)."""

    per_second: float = 30.0  # every chat together
    chat_interval: float = 1.0  # seconds between two messages to one chat
    group_per_minute: int = 20  # per group, supergroup or channel...
    group_window: float = 60.0  # ...in this many seconds (a minute, but for tests)


def is_group(chat_id: int) -> bool:
    """Groups, supergroups and channels have negative ids; private chats positive ones."""
    return chat_id < 0


class RateLimiter:
    """Spaces messages evenly overall, and keeps each chat's and group's own limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._interval = GLOBAL_MARGIN / limits.per_second
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._last_to_chat: dict[int, float] = {}
        self._to_group: dict[int, deque[float]] = {}
        self._recorded = 0

    def next_slot(self, now: float) -> float:
        """When the next message of any chat may leave."""
        return max(self._next_slot, self._paused_until, now)

    def ready_at(self, chat_id: int, now: float) -> float:
        """When a message to ``chat_id`` may leave, by that chat's (and group's) limits alone."""
        ready = now
        last = self._last_to_chat.get(chat_id)
        if last is not None:
            ready = max(ready, last + self.limits.chat_interval + CHAT_MARGIN)
        times = self._to_group.get(chat_id)
        if times is not None and len(times) >= self.limits.group_per_minute:
            ready = max(ready, times[0] + self.limits.group_window + GROUP_MARGIN)
        return ready

    def record(self, chat_id: int, at: float) -> None:
        """A message to ``chat_id`` leaves at ``at``."""
        # Never a burst after a stall: the schedule restarts from now, it does not catch up.
        self._next_slot = max(self._next_slot, at) + self._interval
        self._last_to_chat[chat_id] = at
        if is_group(chat_id):
            times = self._to_group.setdefault(chat_id, deque())
            times.append(at)
            while len(times) > self.limits.group_per_minute:
                times.popleft()
        self._recorded += 1
        if self._recorded % PRUNE_EVERY == 0:
            self._prune(at)

    def reserve(self, chat_id: int, now: float) -> float:
        """Book a slot for a message sent outside the engine (a reply to someone who wrote):
        the instant it may leave. Telegram's 30 a second count every message of the bot, so a
        reply takes a slot the next broadcast message would have had, instead of a 429.

        A chat's own one-a-second is not applied: Telegram tolerates short bursts in a chat, and
        someone typing commands one after another should not wait a second for each answer."""
        at = self.next_slot(now)
        self.record(chat_id, at)
        return at

    def pause(self, until: float) -> None:
        """Telegram said 429: nothing leaves before ``until``."""
        self._paused_until = max(self._paused_until, until)

    def _prune(self, now: float) -> None:
        """Forget chats whose limits no longer bind, so memory stays flat."""
        horizon = now - self.limits.chat_interval - CHAT_MARGIN
        self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}
        group_horizon = now - self.limits.group_window - GROUP_MARGIN
        self._to_group = {c: q for c, q in self._to_group.items() if q and q[-1] > group_horizon}

    @property
    def tracked_chats(self) -> int:
        """How many chats the limiter remembers (for tests of memory)."""
        return len(self._last_to_chat)
