"""The flood-limit schedule, with time passed in."""

from __future__ import annotations

import itertools

import pytest

from jobs.limits import CHAT_MARGIN, GLOBAL_MARGIN, GROUP_MARGIN, Limits, RateLimiter


def test_messages_are_spaced_evenly_overall() -> None:
    limiter = RateLimiter(Limits(per_second=30))
    now = 100.0
    times = []
    for chat in range(1, 61):
        now = limiter.next_slot(now)
        limiter.record(chat, now)
        times.append(now)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {round(GLOBAL_MARGIN / 30, 9)}


def test_no_burst_after_a_stall() -> None:
    limiter = RateLimiter(Limits(per_second=10))
    limiter.record(1, 0.0)
    # The caller stalled for 5 seconds; the next slot is now, then spaced again, not caught up.
    assert limiter.next_slot(5.0) == 5.0
    limiter.record(2, 5.0)
    assert limiter.next_slot(5.0) == pytest.approx(5.0 + GLOBAL_MARGIN / 10)


def test_one_message_a_second_per_chat() -> None:
    limiter = RateLimiter(Limits())
    limiter.record(42, 10.0)
    assert limiter.ready_at(42, 10.2) == pytest.approx(11.0 + CHAT_MARGIN)
    assert limiter.ready_at(43, 10.2) == 10.2


def test_twenty_a_minute_per_group() -> None:
    limiter = RateLimiter(Limits(group_per_minute=20))
    for i in range(20):
        limiter.record(-100, float(i * 2))
    assert limiter.ready_at(-100, 40.0) == pytest.approx(60.0 + GROUP_MARGIN)
    # Private chats have no per-minute limit.
    for i in range(20):
        limiter.record(7, float(i * 2))
    assert limiter.ready_at(7, 40.0) == 40.0


def test_a_429_pauses_everything() -> None:
    limiter = RateLimiter(Limits())
    limiter.pause(50.0)
    assert limiter.next_slot(10.0) == 50.0


def test_memory_stays_flat() -> None:
    limiter = RateLimiter(Limits(per_second=1000))
    now = 0.0
    for chat in range(1, 20_001):
        now = limiter.next_slot(now)
        limiter.record(chat, now)
    assert limiter.tracked_chats <= 2_100


def test_a_reply_takes_a_slot_from_the_broadcast_rather_than_adding_one() -> None:
    limiter = RateLimiter(Limits(per_second=10))
    limiter.record(1, 0.0)  # a broadcast message
    reply_at = limiter.reserve(2, 0.0)
    interval = GLOBAL_MARGIN / 10
    assert reply_at == pytest.approx(interval)  # the next slot
    assert limiter.next_slot(0.0) == pytest.approx(2 * interval)  # the broadcast's moved on
    # A reply is not held back by its chat's one-a-second (a burst of answers is tolerated)...
    assert limiter.reserve(1, 0.0) == pytest.approx(2 * interval)
    # ...but the broadcast's next message to that chat waits its second after the reply.
    assert limiter.ready_at(1, 0.0) >= 2 * interval + 1.0
