"""The delivery engine against the fake Bot API with Telegram's limits and faults: every
subscriber gets each broadcast once, as fast as the limits allow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime

import pytest
from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot
from telegram.request import HTTPXRequest

from jobs.delivery import DeliveryEngine, EngineSettings
from jobs.limits import Limits
from jobs.sender import telegram_send
from storage import broadcasts, chats, subscriptions
from storage.database import Database
from storage.models import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    Case,
    Chat,
    ChatType,
    Delivery,
    DeliveryStatus,
    utcnow,
)
from storage.queue import DeliveryResult
from tests.engines import WatchedQueue, send_everything
from tests.fakebot import ApiError, FakeBotApi, Fault, FloodLimits, UserRef

RATE = 200  # messages a second, both sides: fast tests, same rules
GROUP_LIMIT = FloodLimits(per_second=RATE, group_per_minute=5, group_window=2.0)
ENGINE_LIMITS = Limits(per_second=RATE, group_per_minute=5, group_window=2.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(limits=GROUP_LIMIT, latency=0.01) as api:
        yield api


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[ExtBot[None]]:
    # Short enough for test_a_timeout_is_retried, long enough that a busy machine's stall is not
    # taken for a timeout (a send that timed out may have arrived: it would come twice).
    request = HTTPXRequest(connection_pool_size=64, read_timeout=2.0, write_timeout=2.0)
    ext_bot: ExtBot[None] = ExtBot(
        fake.token,
        base_url=fake.base_url,
        request=request,
        defaults=Defaults(parse_mode=ParseMode.HTML),
    )
    async with ext_bot:
        yield ext_bot


def engine_for(
    database: Database,
    bot: ExtBot[None],
    on_unreachable: Callable[[set[int]], None] | None = None,
    **settings: object,
) -> DeliveryEngine:
    values: dict[str, object] = {
        "limits": ENGINE_LIMITS,
        "backoff": 0.05,
        "flush_interval": 0.02,
        "poll_interval": 0.1,
        "page": 40,
    }
    values.update(settings)
    return DeliveryEngine(
        WatchedQueue(database),
        telegram_send(bot),
        EngineSettings(**values),  # type: ignore[arg-type]
        on_unreachable=on_unreachable,
    )


async def follow(
    database: Database, fake: FakeBotApi, chat_ids: Iterable[int], case_id: str = "c"
) -> None:
    """Chats that subscribed to ``case_id`` (created if needed) and that the fake knows."""
    async with database.writing() as session:
        if await session.get(Case, case_id) is None:
            session.add(Case(id=case_id, title=f"Case {case_id}"))
            await session.flush()
        for chat_id in chat_ids:
            if chat_id > 0:
                fake.private_chat(UserRef(chat_id))
                kind = ChatType.PRIVATE
            else:
                fake.group(chat_id)
                kind = ChatType.SUPERGROUP
            await subscriptions.subscribe(session, chat_id=chat_id, chat_type=kind, case_id=case_id)


async def queue(database: Database, text: str, case_id: str = "c", priority: int = 1) -> Broadcast:
    async with database.writing() as session:
        return await broadcasts.start_now(
            session,
            kind=BroadcastKind.UPDATE,
            case_id=case_id,
            text=text,
            created_by=None,
            now=utcnow(),
            priority=priority,
        )


async def statuses(database: Database, broadcast: Broadcast) -> dict[int, DeliveryStatus]:
    async with database.reading() as session:
        rows = await session.execute(
            Delivery.__table__.select().where(Delivery.__table__.c.broadcast_id == broadcast.id)  # type: ignore[attr-defined]
        )
        return {row.chat_id: DeliveryStatus(row.status) for row in rows}


PRIVATE = list(range(1001, 1081))
GROUPS = list(range(-2001, -2021, -1))


async def test_every_subscriber_gets_it_once_within_the_limits(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    await follow(database, fake, PRIVATE + GROUPS)
    broadcast = await queue(database, "<b>News</b> for everyone")
    assert broadcast.total == 100
    await send_everything(engine_for(database, bot))
    assert all(fake.received(chat) == 1 for chat in PRIVATE + GROUPS)
    assert fake.too_many_requests == 0
    assert set((await statuses(database, broadcast)).values()) == {DeliveryStatus.SENT}
    async with database.reading() as session:
        done = await session.get(Broadcast, broadcast.id)
    assert done is not None
    assert done.status == BroadcastStatus.DONE


async def test_chat_and_group_limits_hold_across_broadcasts(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    """Seven broadcasts to one group and one private chat: 1 a second per chat and 5 per window
    per group, and not one 429."""
    await follow(database, fake, [1001, -2001])
    for i in range(7):
        await queue(database, f"message {i}")
    started = time.monotonic()
    await send_everything(engine_for(database, bot))
    assert fake.received(1001) == 7
    assert fake.received(-2001) == 7
    assert fake.too_many_requests == 0
    assert time.monotonic() - started >= 6.0  # seven messages to one chat, a second apart


async def test_a_429_waits_and_sends_the_same_message_once(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    await follow(database, fake, PRIVATE[:10])
    fake.faults.append(
        Fault(
            chat_id=1003,
            error=ApiError(429, "Too Many Requests: retry after 1", retry_after=1),
            times=1,
        )
    )
    broadcast = await queue(database, "hello")
    engine = engine_for(database, bot)
    await send_everything(engine)
    assert engine.retries_after_429 == 1
    assert all(fake.received(chat) == 1 for chat in PRIVATE[:10])
    assert set((await statuses(database, broadcast)).values()) == {DeliveryStatus.SENT}


@pytest.mark.parametrize("fault", ["blocked", "kicked", "not found"])
async def test_unreachable_chats_are_paused_not_retried(
    database: Database, fake: FakeBotApi, bot: ExtBot[None], fault: str
) -> None:
    await follow(database, fake, [1001, 1002, -2001])
    if fault == "blocked":
        gone = 1002
        fake.block(fake.chats[1002])
    elif fault == "kicked":
        gone = -2001
        fake.block(fake.chats[-2001])
    else:
        gone = 1002
        del fake.chats[1002]
    broadcast = await queue(database, "hello")
    told: list[set[int]] = []  # what the bot's cache of paused chats hears
    await send_everything(engine_for(database, bot, on_unreachable=told.append))
    result = await statuses(database, broadcast)
    assert result[gone] == DeliveryStatus.UNREACHABLE
    assert told == [{gone}]
    assert len([c for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == gone]) == 1
    async with database.reading() as session:
        chat = await session.get(Chat, gone)
        followed = await subscriptions.subscribed_case_ids(session, chat_id=gone)
        count = await subscriptions.count_subscribers(session, case_id="c")
    assert chat is not None
    assert not chat.reachable
    assert followed == {"c"}  # paused, kept for when the chat comes back
    assert count == 2
    second = await queue(database, "again")
    assert second.total == 2  # the unreachable chat is not queued


async def test_a_migrated_group_is_followed_to_its_new_id(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    await follow(database, fake, [1001, -2001])
    async with database.writing() as session:
        await chats.set_reminder_choice(
            session, chat_id=-2001, chat_type=ChatType.GROUP, offsets=["2h"]
        )
    fake.migrate(fake.chats[-2001], -1009999)
    broadcast = await queue(database, "hello")
    await send_everything(engine_for(database, bot))
    assert fake.received(-1009999) == 1
    assert (await statuses(database, broadcast))[-1009999] == DeliveryStatus.SENT
    async with database.reading() as session:
        assert await session.get(Chat, -2001) is None
        assert await subscriptions.subscribed_case_ids(session, chat_id=-1009999) == {"c"}
        assert await chats.reminder_choice(session, chat_id=-1009999) == ["2h"]


async def test_server_errors_are_retried_then_failed_with_their_reason(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    await follow(database, fake, [1001, 1002])
    fake.faults.append(Fault(chat_id=1001, error=ApiError(500, "Internal Server Error"), times=2))
    fake.faults.append(Fault(chat_id=1002, error=ApiError(502, "Bad Gateway")))
    broadcast = await queue(database, "hello")
    await send_everything(engine_for(database, bot, max_attempts=3))
    result = await statuses(database, broadcast)
    assert result == {1001: DeliveryStatus.SENT, 1002: DeliveryStatus.FAILED}
    assert fake.received(1001) == 1
    assert len([c for c in fake.calls_to("sendMessage") if c.params["chat_id"] == "1002"]) == 3
    async with database.reading() as session:
        progress = await broadcasts.progress(session, broadcast_id=broadcast.id or 0)
    assert progress.failure_reasons == {"Bad Gateway": 1}


async def test_a_timeout_is_retried(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    await follow(database, fake, [1001])
    # The first answer comes after the client gave up (read timeout 2 s).
    fake.faults.append(Fault(chat_id=1001, delay=4.0, error=ApiError(500, "late"), times=1))
    broadcast = await queue(database, "hello")
    await send_everything(engine_for(database, bot))
    assert (await statuses(database, broadcast))[1001] == DeliveryStatus.SENT
    assert fake.received(1001) == 1


async def test_an_urgent_broadcast_is_not_stuck_behind_a_long_one(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    many = list(range(10_001, 10_401))
    await follow(database, fake, many, case_id="long")
    await follow(database, fake, PRIVATE[:10], case_id="urgent")
    long = await queue(database, "long", case_id="long")
    engine = engine_for(database, bot)
    running = asyncio.create_task(send_everything(engine))
    await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) >= 50)
    await queue(database, "urgent", case_id="urgent", priority=broadcasts.URGENT)
    engine.wake()
    await fake.wait_for(lambda: all(fake.received(c) for c in PRIVATE[:10]), seconds=10)
    delivered_long = sum(fake.received(c) for c in many)
    await running
    assert delivered_long < 200  # the urgent one went out while the long one was under way
    assert all(fake.received(c) == 1 for c in many)
    assert long.total == 400


async def test_a_short_broadcast_is_done_while_a_long_one_is_still_sending(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    """The engine never idles while a long broadcast goes out; the short one beside it is
    marked done (so its preview shows the final report) as soon as its last result is written."""
    many = list(range(60_001, 60_401))
    await follow(database, fake, many, case_id="long")
    await follow(database, fake, PRIVATE[:5], case_id="short")
    long = await queue(database, "long", case_id="long")
    engine = engine_for(database, bot)
    running = asyncio.create_task(send_everything(engine))
    await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) >= 20)
    short = await queue(database, "short", case_id="short")
    assert short.id is not None
    engine.wake()
    watched = engine.store
    assert isinstance(watched, WatchedQueue)
    await watched.until_finished({short.id}, seconds=20)
    async with database.reading() as session:
        left = (await broadcasts.progress(session, broadcast_id=long.id or 0)).pending
    await running
    assert left >= 100  # most of the long one was still to go
    assert long.id in watched.finished


async def test_many_broadcasts_share_the_rate(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    first = list(range(20_001, 20_301))
    second = list(range(30_001, 30_301))
    await follow(database, fake, first, case_id="one")
    await follow(database, fake, second, case_id="two")
    await queue(database, "one", case_id="one")
    await queue(database, "two", case_id="two")
    engine = engine_for(database, bot)
    running = asyncio.create_task(send_everything(engine))
    await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) >= 200, seconds=10)
    one = sum(fake.received(c) for c in first)
    two = sum(fake.received(c) for c in second)
    await running
    assert abs(one - two) <= 20  # equal priority, equal share


async def test_a_restarted_engine_finishes_what_was_queued(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    """Cancelled mid-way (as at a shutdown), a new engine sends the rest; nothing is lost."""
    chats = list(range(40_001, 40_121))
    await follow(database, fake, chats)
    broadcast = await queue(database, "hello")
    first = engine_for(database, bot)
    running = asyncio.create_task(first.run())
    await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) >= 40)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await send_everything(engine_for(database, bot))
    assert all(fake.received(chat) >= 1 for chat in chats)
    assert set((await statuses(database, broadcast)).values()) == {DeliveryStatus.SENT}


class SlowToRecord(WatchedQueue):
    """A queue whose first write of results waits until the test lets it go on."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.writing, self.let_go = asyncio.Event(), asyncio.Event()

    async def record(self, results: Sequence[DeliveryResult], *, now: datetime) -> None:
        if not self.writing.is_set():
            self.writing.set()
            await self.let_go.wait()  # the stop arrives here, mid-write
        await super().record(results, now=now)


async def test_a_stop_during_a_results_write_loses_no_result(
    database: Database, fake: FakeBotApi, bot: ExtBot[None]
) -> None:
    """A stop that lands while results are being written keeps them, so a restart resends
    nothing that was delivered."""
    chats = list(range(50_001, 50_021))
    await follow(database, fake, chats)
    broadcast = await queue(database, "hello")
    store = SlowToRecord(database)
    engine = DeliveryEngine(store, telegram_send(bot), engine_for(database, bot).settings)
    running = asyncio.create_task(engine.run())
    await store.writing.wait()
    await fake.wait_for(lambda: all(fake.received(c) for c in chats))
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    result = await statuses(database, broadcast)
    assert set(result.values()) == {DeliveryStatus.SENT}
    assert all(fake.received(chat) == 1 for chat in chats)
