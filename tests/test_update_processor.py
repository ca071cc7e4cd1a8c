"""Updates of different chats are handled concurrently; those of one chat in order, never two at
once (bot/updates.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update
from telegram.request import HTTPXRequest

from bot.app import build_application
from bot.updates import PerChatUpdateProcessor
from tests.conftest import until

SENT = datetime(2026, 1, 21, 10, 0, tzinfo=UTC)


def update_in(chat_id: int, update_id: int) -> Update:
    message = Message(update_id, SENT, Chat(chat_id, Chat.PRIVATE), text="/mysubs")
    return Update(update_id, message=message)


class Handling:
    """A handler that records when it starts and ends, and ends only when let go."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def run(self) -> None:
        self.log.append(f"{self.name} start")
        self.started.set()
        await self.release.wait()
        self.log.append(f"{self.name} end")


async def test_one_chat_waits_while_another_chat_runs_alongside() -> None:
    processor = PerChatUpdateProcessor()
    log: list[str] = []
    first, second, other = (Handling(log, n) for n in ("a1", "a2", "b"))
    async with processor:
        tasks = [
            asyncio.create_task(processor.process_update(update_in(1, 1), first.run())),
            asyncio.create_task(processor.process_update(update_in(1, 2), second.run())),
            asyncio.create_task(processor.process_update(update_in(2, 3), other.run())),
        ]
        await first.started.wait()
        await other.started.wait()  # chat 2 runs while chat 1's first update is still going
        assert not second.started.is_set()  # chat 1's second update waits for its first
        second.release.set()  # letting it go early changes nothing: it has not begun
        other.release.set()
        first.release.set()
        await asyncio.gather(*tasks)
    assert log.index("a1 end") < log.index("a2 start")
    assert log.index("b start") < log.index("a1 end")


async def test_a_chats_updates_run_in_arrival_order_one_at_a_time() -> None:
    processor = PerChatUpdateProcessor()
    log: list[str] = []
    running = 0
    most = 0

    async def handle(n: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        for _ in range(n % 3):  # some handlers yield to the loop more often than others
            await asyncio.sleep(0)
        log.append(str(n))
        running -= 1

    async with processor:
        await asyncio.gather(
            *(processor.process_update(update_in(7, n), handle(n)) for n in range(20))
        )
    assert log == [str(n) for n in range(20)]
    assert most == 1


async def test_a_failed_update_does_not_block_its_chat() -> None:
    processor = PerChatUpdateProcessor()
    handled: list[int] = []

    async def fail() -> None:
        raise RuntimeError("handler bug")

    async def succeed() -> None:
        handled.append(2)

    async with processor:
        results = await asyncio.gather(
            processor.process_update(update_in(7, 1), fail()),
            processor.process_update(update_in(7, 2), succeed()),
            return_exceptions=True,
        )
    assert isinstance(results[0], RuntimeError)
    assert handled == [2]


async def test_an_update_cancelled_while_waiting_lets_the_next_wait_for_the_running_one() -> None:
    processor = PerChatUpdateProcessor()
    log: list[str] = []
    first, third = Handling(log, "1"), Handling(log, "3")

    async def never() -> None:
        log.append("2 start")

    async with processor:
        running = asyncio.create_task(processor.process_update(update_in(7, 1), first.run()))
        waiting = asyncio.create_task(processor.process_update(update_in(7, 2), never()))
        last = asyncio.create_task(processor.process_update(update_in(7, 3), third.run()))
        await first.started.wait()
        waiting.cancel()
        await asyncio.wait([waiting])
        for _ in range(5):
            await asyncio.sleep(0)
        assert not third.started.is_set()  # still behind the first, which is running
        first.release.set()
        third.release.set()
        await asyncio.gather(running, last)
    assert log == ["1 start", "1 end", "3 start", "3 end"]


async def test_a_chat_with_many_waiting_updates_holds_one_slot_and_others_get_theirs() -> None:
    """Issue 16: an update took a slot before waiting for its chat's turn, so a few hundred
    updates of one chat at once held every slot while other chats waited."""
    processor = PerChatUpdateProcessor(2)
    log: list[str] = []
    flooder = Handling(log, "a1")
    other = Handling(log, "b")

    async def quick() -> None:
        log.append("a")

    async with processor:
        tasks = [asyncio.create_task(processor.process_update(update_in(1, 1), flooder.run()))]
        await flooder.started.wait()
        tasks += [
            asyncio.create_task(processor.process_update(update_in(1, n), quick()))
            for n in range(2, 12)
        ]
        tasks.append(asyncio.create_task(processor.process_update(update_in(2, 99), other.run())))
        async with asyncio.timeout(5):
            await other.started.wait()  # chat 2 runs while chat 1's ten wait behind its first
        other.release.set()
        flooder.release.set()
        await asyncio.gather(*tasks)
    assert log.count("a") == 10


async def test_a_chats_queue_is_bounded_and_what_overflows_is_dropped_and_counted() -> None:
    dropped: list[str] = []
    processor = PerChatUpdateProcessor(8, max_waiting_per_chat=3, dropped=dropped.append)
    log: list[str] = []
    first = Handling(log, "1")
    ran: list[int] = []

    async def handle(n: int) -> None:
        ran.append(n)

    async with processor:
        tasks = [asyncio.create_task(processor.process_update(update_in(7, 1), first.run()))]
        await first.started.wait()
        waiting = [handle(n) for n in range(2, 12)]
        for n, coroutine in enumerate(waiting, start=2):
            tasks.append(asyncio.create_task(processor.process_update(update_in(7, n), coroutine)))
        await until(lambda: len(dropped) == 7)
        first.release.set()
        await asyncio.gather(*tasks)
        # Once the queue has room again, the chat is heard again.
        await processor.process_update(update_in(7, 12), handle(12))
    assert ran == [2, 3, 4, 12]  # the first three to queue, in order; the rest never ran
    assert dropped == ["chat_queue_full"] * 7


def test_the_application_uses_it() -> None:
    app = build_application(
        token="123456:TEST-token",
        base_url="http://127.0.0.1:9/bot",
        request=HTTPXRequest(),
        updates_request=HTTPXRequest(),
    )
    assert isinstance(app.update_processor, PerChatUpdateProcessor)
