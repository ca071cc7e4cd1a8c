"""The flood-limit schedule, with time passed in, and the turns handed out from it."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from jobs.limits import (
    CHAT_MARGIN,
    GROUP_MARGIN,
    WINDOW_MARGIN,
    Limits,
    Pacer,
    Priority,
    RateLimiter,
)


def sent_at_full_pace(limiter: RateLimiter, count: int, start: float = 100.0) -> list[float]:
    """Departure times of ``count`` messages to different chats, each as soon as allowed."""
    now, times = start, []
    for chat in range(1, count + 1):
        now = limiter.next_slot(now)
        limiter.record(chat, now)
        times.append(now)
    return times


def most_in_one_second(times: list[float]) -> int:
    """The most departures in any window of one second (half-open, as Telegram's counter)."""
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_messages_are_spaced_evenly_overall_within_a_budget_under_telegrams_figure() -> None:
    limiter = RateLimiter(Limits(per_second=30))
    assert limiter.budget == 29  # Telegram's 30 less a few percent of headroom
    times = sent_at_full_pace(limiter, 90)
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
    assert min(gaps) >= round(1 / 29, 6)
    assert most_in_one_second(times) <= 29


def test_no_burst_after_a_stall() -> None:
    limiter = RateLimiter(Limits(per_second=10))
    limiter.record(1, 0.0)
    # The caller stalled for 5 seconds; the next slot is now, then spaced again, not caught up.
    assert limiter.next_slot(5.0) == 5.0
    limiter.record(2, 5.0)
    assert limiter.next_slot(5.0) == pytest.approx(5.0 + 1 / limiter.budget)


def test_uneven_departures_never_put_more_than_the_budget_in_one_second() -> None:
    """Messages that left late (a stalled loop) and on time after them: the window holds."""
    limiter = RateLimiter(Limits(per_second=10))
    budget = limiter.budget
    for chat in range(budget - 1):
        limiter.record(chat, 0.5)  # a bunch that left together
    limiter.record(99, 0.6)
    # The budget is spent for the second that began at 0.5; the next waits for its end.
    assert limiter.next_slot(0.7) == pytest.approx(1.5 + WINDOW_MARGIN)


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
    sent_at_full_pace(limiter, 20_000, start=0.0)
    assert limiter.tracked_chats <= 2_100


async def test_replies_take_turns_ahead_of_the_broadcast() -> None:
    pacer = Pacer(RateLimiter(Limits(per_second=50)))
    order: list[str] = []

    async def send(name: str, priority: Priority) -> None:
        await pacer.turn(len(order) + 1, priority=priority)
        order.append(name)

    first = asyncio.create_task(send("broadcast 1", Priority.BROADCAST))
    await first  # the first turn is free at once
    waiting = [asyncio.create_task(send(f"broadcast {n}", Priority.BROADCAST)) for n in (2, 3)]
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(send("reply", Priority.REPLY)))
    await asyncio.gather(*waiting)
    assert order == ["broadcast 1", "reply", "broadcast 2", "broadcast 3"]


async def test_turns_after_a_stalled_loop_keep_their_spacing() -> None:
    """Senders that waited through a stall of the whole loop are let go one turn at a time,
    counted when they really go: nothing of the time lost is caught up."""
    limiter = RateLimiter(Limits(per_second=20))
    pacer = Pacer(limiter)
    went: list[float] = []

    async def send(chat: int) -> None:
        await pacer.turn(chat, priority=Priority.REPLY)
        went.append(time.monotonic())

    senders = [asyncio.create_task(send(chat)) for chat in range(1, 11)]
    await asyncio.sleep(0)
    time.sleep(0.5)  # noqa: ASYNC251  (the point: a callback that blocks the loop)
    await asyncio.gather(*senders)
    after_stall = went[1:]
    gaps = [b - a for a, b in itertools.pairwise(after_stall)]
    assert min(gaps) >= 1 / limiter.budget * 0.99, gaps


async def test_a_sender_cancelled_while_waiting_gives_its_turn_to_the_next() -> None:
    pacer = Pacer(RateLimiter(Limits(per_second=20)))
    await pacer.turn(1, priority=Priority.BROADCAST)
    gone = asyncio.create_task(pacer.turn(2, priority=Priority.BROADCAST))
    after = asyncio.create_task(pacer.turn(3, priority=Priority.BROADCAST))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.wait_for(after, 5)
    assert pacer.waiting == 0


async def test_a_reply_to_a_full_group_waits_for_room_and_lets_others_go_meanwhile() -> None:
    """A group's 20 a minute count replies too: a reply to a group whose minute is full waits
    for room there, and a message to another chat is not held up behind it."""
    clock = FakeClock()
    limiter = RateLimiter(
        Limits(per_second=100, chat_interval=0.0, group_per_minute=2, group_window=60.0)
    )
    pacer = Pacer(limiter, clock=clock)
    for _ in range(2):
        assert await pacer.turn(-100, priority=Priority.REPLY)
        clock.now += 0.1
    reply = asyncio.create_task(pacer.turn(-100, priority=Priority.REPLY))
    await asyncio.sleep(0)
    assert not reply.done()  # the group's minute is full
    other = await asyncio.wait_for(pacer.turn(7, priority=Priority.REPLY), 1)
    assert other is True
    clock.now += 1.0
    # The engine's message to the same group is refused, not queued: answers first.
    assert await pacer.turn(-100, priority=Priority.BROADCAST) is False
    assert pacer.ready_at(-100, clock.now) > clock.now
    reply.cancel()


def test_a_person_gets_a_short_burst_of_answers_then_a_second_apart() -> None:
    """An answer in parts, or a few commands answered at once, go together (Telegram tolerates a
    short burst in one chat); past the burst, answers to that chat are a second apart on
    average. A group's answers keep a second apart from the first."""
    limiter = RateLimiter(Limits(per_second=100, chat_burst=3))
    for at in (0.0, 0.01, 0.02):
        assert limiter.answer_ready_at(7, at) == at
        limiter.record(7, at)
    assert limiter.answer_ready_at(7, 0.03) == pytest.approx(3.0 + CHAT_MARGIN)
    assert limiter.answer_ready_at(8, 0.03) == 0.03  # another person is not held up
    limiter.record(-100, 0.0)
    assert limiter.answer_ready_at(-100, 0.03) == pytest.approx(1.0 + CHAT_MARGIN)


async def test_a_reply_past_a_persons_burst_waits_and_lets_others_go_meanwhile() -> None:
    """Past the burst, the next answer to that person waits for room, a message to another chat
    is not held up behind it, and the broadcast's message to that person waits until the
    answers are out."""
    clock = FakeClock()
    pacer = Pacer(RateLimiter(Limits(per_second=100, chat_burst=1)), clock=clock)
    assert await pacer.turn(7, priority=Priority.REPLY)
    second = asyncio.create_task(pacer.turn(7, priority=Priority.REPLY))
    await asyncio.sleep(0)
    assert not second.done()
    clock.now += 0.1  # the overall pace's next turn
    assert await asyncio.wait_for(pacer.turn(8, priority=Priority.REPLY), 1) is True
    clock.now += 0.1
    assert await pacer.turn(7, priority=Priority.BROADCAST) is False
    assert not second.done()
    clock.now += 1.0 + CHAT_MARGIN
    pacer.pause(0.0)  # nothing paused: only asks the pacer to look again at the new time
    assert await asyncio.wait_for(second, 1) is True


async def test_a_reply_to_a_group_goes_when_its_minute_has_room_again() -> None:
    limiter = RateLimiter(
        Limits(per_second=100, chat_interval=0.01, group_per_minute=2, group_window=0.2)
    )
    pacer = Pacer(limiter)
    for _ in range(2):
        await pacer.turn(-100, priority=Priority.REPLY)
    started = time.monotonic()
    assert await asyncio.wait_for(pacer.turn(-100, priority=Priority.REPLY), 5)
    assert time.monotonic() - started >= 0.2 * 0.99  # it waited for the window to move on


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
