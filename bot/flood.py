"""Who sends commands faster than a human: the pure rule, with time passed in.

A person types a command, reads the answer, types the next: a few a minute. More than
``limit`` in ``window`` seconds is a script or a stuck client, whose every answer would take a
send slot from broadcasts and reminders. Such a person is told once, calmly, to slow down, and
ignored for ``pause`` seconds.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

COMMANDS_PER_MINUTE = 20
WINDOW = 60.0  # seconds
PAUSE = 60.0  # seconds a fast sender is ignored
# People remembered before the ones with nothing recent are forgotten (a sweep).
SWEEP_AT = 10_000


class Verdict(Enum):
    HANDLE = "handle"
    SLOW_DOWN = "slow down"  # the one that went over: tell them, handle nothing
    IGNORE = "ignore"  # during the pause: not a word


class FloodGuard:
    """Counts each person's commands in a sliding window."""

    def __init__(
        self, limit: int = COMMANDS_PER_MINUTE, window: float = WINDOW, pause: float = PAUSE
    ) -> None:
        self.limit = limit
        self.window = window
        self.pause = pause
        self._recent: dict[int, deque[float]] = {}
        self._paused_until: dict[int, float] = {}

    def admit(self, person: int, now: float) -> Verdict:
        """What to do with a command ``person`` sent at ``now``."""
        until = self._paused_until.get(person)
        if until is not None:
            if now < until:
                return Verdict.IGNORE
            del self._paused_until[person]
        recent = self._recent.setdefault(person, deque())
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if len(recent) >= self.limit:
            del self._recent[person]
            self._paused_until[person] = now + self.pause
            return Verdict.SLOW_DOWN
        recent.append(now)
        if len(self._recent) > SWEEP_AT:
            self._sweep(now)
        return Verdict.HANDLE

    def _sweep(self, now: float) -> None:
        """Forget whoever sent nothing within the window, and pauses that are over."""
        self._recent = {p: r for p, r in self._recent.items() if r and now - r[-1] < self.window}
        self._paused_until = {p: t for p, t in self._paused_until.items() if t > now}
