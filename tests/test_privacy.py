"""Privacy: /forget and the purge leave no trace of a chat in any table of the schema.

The search for a chat's id goes through every table and every column the live database has
(integers by value, texts and JSON by their text), so a table added later cannot escape it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    String,
    Text,
    cast,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import HearingWatchApp
from service.settings import Settings
from service.wiring import Parts, prepare_database
from storage import broadcasts, privacy, queue, subscriptions
from storage.database import Database
from storage.models import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    Case,
    CaseStatus,
    Chat,
    ChatType,
    Delivery,
    DeliveryStatus,
    Subscription,
)
from storage.queue import DeliveryResult
from storage.schedule_file import SEED_FILE, seed_if_empty
from tests.conftest import ADMIN_ID, Clock, instance_of, start_bot, stop_bot, until
from tests.fakebot import FakeBotApi, UserRef

ADMIN = UserRef(ADMIN_ID)
CAROL = UserRef(987_654_321)
DAN = UserRef(987_650_002)
ALICE = UserRef(987_650_003)
BOB = UserRef(987_650_004)
GROUP_ID = -1_009_876_543_210
# Columns that name staff by user id (a staff member's private chat has the same id): staff
# accountability, which /forget leaves alone.
STAFF_COLUMNS = {
    "staff.user_id",
    "staff.granted_by",
    "audit.actor_id",
    "broadcasts.created_by",
    "pending_actions.actor_id",
}


def _columns(connection: Connection) -> list[tuple[str, str, Any]]:
    inspector = inspect(connection)
    return [
        (table, column["name"], column["type"])
        for table in inspector.get_table_names()
        for column in inspector.get_columns(table)
    ]


async def holders(database: Database, chat_id: int) -> set[str]:
    """Every "table.column" of the live schema that holds ``chat_id``: as a value of an integer
    column, or inside the text of a text or JSON column."""
    whole = re.compile(rf"(?<![0-9A-Za-z-]){re.escape(str(chat_id))}(?![0-9A-Za-z])")
    async with database.engine.connect() as connection:
        columns = await connection.run_sync(_columns)
        assert {"chats", "subscriptions", "deliveries", "broadcasts"} <= {t for t, _, _ in columns}
        found = set()
        for table, name, kind in columns:
            column = sa_column(name)
            if isinstance(kind, Integer):
                # Widened, so that a 52-bit chat id can be compared with a 32-bit column.
                holds = cast(column, BigInteger) == chat_id
            elif isinstance(kind, String | Text | JSON):
                # As a number of its own: not the digits inside a longer number or a hex key.
                as_text = cast(column, Text)
                query = select(as_text).select_from(sa_table(table, column))
                rows = await connection.execute(query.where(as_text.contains(str(chat_id))))
                if any(whole.search(value) for value in rows.scalars()):
                    found.add(f"{table}.{name}")
                continue
            else:
                continue
            query = select(func.count()).select_from(sa_table(table, column)).where(holds)
            if (await connection.execute(query)).scalar_one():
                found.add(f"{table}.{name}")
    return found


def buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def broadcast_done(database: Database) -> None:
    """Until every broadcast has finished."""
    async with asyncio.timeout(10):
        while True:
            async with database.reading() as session:
                sending = await session.execute(
                    select(func.count())
                    .select_from(Broadcast)
                    .where(Broadcast.status == BroadcastStatus.SENDING)
                )
                if not sending.scalar_one():
                    return
            await asyncio.sleep(0.05)


async def send_update(fake: FakeBotApi, case_id: str, news: str) -> None:
    """An admin sends news about a case to its subscribers."""
    admin = fake.private_chat(ADMIN)
    preview = await fake.say(admin, ADMIN, f"/update {case_id} {news}")
    send = next(data for label, data in buttons(preview).items() if label.startswith("Send"))
    await fake.click(admin, ADMIN, preview, send)


# --- /forget --------------------------------------------------------------------------------


async def test_forget_erases_the_chat_from_every_table(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    database = bot.bot_data.database
    chat = fake.private_chat(CAROL)
    await fake.say(chat, CAROL, "/subscribe tabarak")
    await fake.say(chat, CAROL, "/subscribe musakhan-alimuly")
    await fake.say(chat, CAROL, "/language en")
    prompt = await fake.say(chat, CAROL, "/remind")
    await fake.click(chat, CAROL, prompt, "remind:2h")
    await send_update(fake, "tabarak", "The appeal is in March.")
    await fake.wait_for(lambda: any("appeal" in m["text"] for m in fake.sent_to(chat.id)))
    await broadcast_done(database)
    assert {"chats.id", "subscriptions.chat_id", "deliveries.chat_id"} <= await holders(
        database, chat.id
    )

    question = await fake.say(chat, CAROL, "/forget")
    assert "Erase everything this bot keeps about this chat?" in question["text"]
    assert set(buttons(question).values()) == {"forget:yes", "forget:no"}
    await fake.click(chat, CAROL, question, "forget:yes")
    shown = fake.messages[(chat.id, question["message_id"])]
    await fake.wait_for(lambda: shown["text"].startswith("Done: this bot keeps nothing"))
    assert "2 subscriptions" in shown["text"]
    assert "starts afresh" in shown["text"]

    assert await holders(database, chat.id) == set()
    assert "follows no case" in (await fake.say(chat, CAROL, "/mysubs"))["text"]
    # A second press of the old button erases nothing more and fails nothing.
    await fake.click(chat, CAROL, question, "forget:yes")
    assert await holders(database, chat.id) == set()
    # The broadcast's figures stay, without the chat.
    listing = (await fake.say(fake.private_chat(ADMIN), ADMIN, "/broadcasts"))["text"]
    assert "1/1 sent" in listing


async def test_keep_erases_nothing(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chat = fake.private_chat(CAROL)
    await fake.say(chat, CAROL, "/subscribe tabarak")
    question = await fake.say(chat, CAROL, "/forget")
    await fake.click(chat, CAROL, question, "forget:no")
    shown = fake.messages[(chat.id, question["message_id"])]
    await fake.wait_for(lambda: shown["text"] == "Nothing was erased.")
    assert "tabarak" in (await fake.say(chat, CAROL, "/mysubs"))["text"]


async def test_forget_by_staff_clears_its_previews(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    database = bot.bot_data.database
    await fake.say(fake.private_chat(CAROL), CAROL, "/subscribe tabarak")
    await send_update(fake, "tabarak", "The appeal is in March.")
    await broadcast_done(database)
    admin = fake.private_chat(ADMIN)
    assert "broadcasts.preview_chat_id" in await holders(database, admin.id)

    question = await fake.say(admin, ADMIN, "/forget")
    await fake.click(admin, ADMIN, question, "forget:yes")
    shown = fake.messages[(admin.id, question["message_id"])]
    await fake.wait_for(lambda: shown["text"].startswith("Done: this bot keeps nothing"))
    # Only who did what as staff remains, never the chat as a place.
    assert await holders(database, admin.id) <= STAFF_COLUMNS
    async with database.reading() as session:
        previews = await session.execute(select(Broadcast.preview_chat_id))
        assert set(previews.scalars()) == {None}


async def test_in_a_group_only_administrators_may_forget(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    database = bot.bot_data.database
    group = fake.group(GROUP_ID)
    fake.set_member(group, ALICE, "administrator")
    fake.set_member(group, BOB, "member")
    await fake.say(group, ALICE, "/subscribe tabarak")

    refused = await fake.say(group, BOB, "/forget")
    assert refused["text"] == "Only this group's administrators can make the bot forget it."
    assert not buttons(refused)
    # A member pressing the administrator's button is refused too, and nothing changes.
    question = await fake.say(group, ALICE, "/forget")
    answer = await fake.click(group, BOB, question, "forget:yes")
    assert answer["text"] == "Only this group's administrators can make the bot forget it."
    answer = await fake.click(group, BOB, question, "forget:no")
    assert answer["text"] == "Only this group's administrators can make the bot forget it."
    assert "tabarak" in (await fake.say(group, BOB, "/mysubs"))["text"]
    assert "chats.id" in await holders(database, group.id)

    await fake.click(group, ALICE, question, "forget:yes")
    shown = fake.messages[(group.id, question["message_id"])]
    await fake.wait_for(lambda: shown["text"].startswith("Done: this bot keeps nothing"))
    assert await holders(database, group.id) == set()


async def test_help_and_start_mention_forget(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    chat = fake.private_chat(CAROL)
    assert "/forget" in (await fake.say(chat, CAROL, "/start"))["text"]
    assert "/forget" in (await fake.say(chat, CAROL, "/help"))["text"]


# --- the purge ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=30)
KEEP = timedelta(days=7)


async def _broadcast(
    session: AsyncSession,
    case_id: str,
    results: dict[int, DeliveryStatus],
    *,
    finished_at: datetime | None,
    with_totals: bool = True,
) -> int:
    """A broadcast to these chats, each delivery ending as given; finished when given a time
    (without stored figures, as before they were kept, when ``with_totals`` is False)."""
    broadcast = await broadcasts.create_draft(
        session, kind=BroadcastKind.UPDATE, case_id=case_id, text="News.", created_by=None
    )
    assert broadcast.id is not None
    broadcast.status = BroadcastStatus.SENDING
    broadcast.total = len(results)
    for chat_id in results:
        session.add(Delivery(broadcast_id=broadcast.id, chat_id=chat_id))
    await session.flush()
    rows = await session.execute(select(Delivery).where(Delivery.broadcast_id == broadcast.id))
    await queue.record_results(
        session,
        [
            DeliveryResult(d.id or 0, d.chat_id, results[d.chat_id], 1, "Timed out")
            for d in rows.scalars()
            if results[d.chat_id] != DeliveryStatus.PENDING
        ],
        now=NOW,
    )
    if finished_at is not None:
        if with_totals:
            await broadcasts.finish(session, broadcast_id=broadcast.id, now=finished_at)
        else:
            broadcast.status = BroadcastStatus.DONE
            broadcast.finished_at = finished_at
    return broadcast.id


async def test_purge_deletes_what_is_no_longer_needed_and_keeps_the_figures(
    database: Database,
) -> None:
    follower, orphan, waiting, left_closed, closing = 101, 102, 103, 104, 105
    async with database.writing() as session:
        await seed_if_empty(session, path=SEED_FILE, default_zone="Asia/Almaty")
        session.add(Case(id="closed-case", title="Closed", status=CaseStatus.CLOSED))
        session.add(Case(id="closing-case", title="Closing", status=CaseStatus.CLOSED))
        for chat_id in (follower, orphan, waiting, left_closed, closing):
            session.add(Chat(id=chat_id, type=ChatType.PRIVATE, created_at=LONG_AGO))
        await session.flush()
        session.add(Subscription(chat_id=follower, case_id="tabarak"))
        session.add(Subscription(chat_id=left_closed, case_id="closed-case"))
        session.add(Subscription(chat_id=closing, case_id="closing-case"))
        await session.flush()
        sent, failed = DeliveryStatus.SENT, DeliveryStatus.FAILED
        old = await _broadcast(
            session,
            "tabarak",
            {follower: sent, orphan: failed, left_closed: sent},
            finished_at=NOW - KEEP - timedelta(hours=1),
        )
        untallied = await _broadcast(
            session,
            "musakhan-alimuly",
            {follower: sent, waiting: DeliveryStatus.UNREACHABLE},
            finished_at=LONG_AGO,
            with_totals=False,
        )
        recent = await _broadcast(
            session, "tabarak", {follower: sent}, finished_at=NOW - KEEP + timedelta(hours=1)
        )
        # The closing notices: one went out long ago, one is still being sent.
        await _broadcast(session, "closed-case", {left_closed: sent}, finished_at=LONG_AGO)
        await _broadcast(
            session, "closing-case", {closing: DeliveryStatus.PENDING}, finished_at=None
        )
        await _broadcast(
            session, "musakhan-alimuly", {waiting: DeliveryStatus.PENDING}, finished_at=None
        )

    purged = await privacy.purge(database, now=NOW, keep=KEEP)

    assert purged == privacy.Purged(deliveries=6, subscriptions=1, chats=2)
    async with database.reading() as session:
        kept = await session.execute(select(Delivery.broadcast_id).distinct())
        assert old not in set(kept.scalars())
        figures = {b.id: p for b, p in await broadcasts.recent(session)}
        assert (figures[old].sent, figures[old].failed, figures[old].total) == (2, 1, 3)
        assert figures[old].failure_reasons == {"Timed out": 1}
        assert (figures[untallied].sent, figures[untallied].unreachable) == (1, 1)
        assert figures[recent].sent == 1
        subscriptions = await session.execute(select(Subscription.chat_id))
        assert set(subscriptions.scalars()) == {follower, closing}
        chats = await session.execute(select(Chat.id))
        assert set(chats.scalars()) == {follower, waiting, closing}
    # The chats the purge deleted are in no table at all.
    assert await holders(database, orphan) == set()
    assert await holders(database, left_closed) == set()
    assert "deliveries.chat_id" in await holders(database, waiting)

    # Once nothing is pending or followed any more, the rest goes too.
    async with database.writing() as session:
        await session.execute(
            Delivery.__table__.update().values(status=DeliveryStatus.SENT)  # type: ignore[attr-defined]
        )
        await session.execute(
            Broadcast.__table__.update().values(  # type: ignore[attr-defined]
                status=BroadcastStatus.DONE, finished_at=LONG_AGO
            )
        )
    await privacy.purge(database, now=NOW, keep=KEEP)
    for chat_id in (waiting, closing):
        assert await holders(database, chat_id) == set()


async def test_a_chat_that_just_chose_its_language_is_not_purged(database: Database) -> None:
    async with database.writing() as session:
        session.add(Chat(id=201, type=ChatType.PRIVATE, language="kk", created_at=NOW))
    await privacy.purge(database, now=NOW + timedelta(hours=1), keep=KEEP)
    assert "chats.id" in await holders(database, 201)


async def test_purge_end_to_end_keeps_figures_and_drops_a_closed_cases_subscribers(
    bot: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    database = bot.bot_data.database
    carol, dan = fake.private_chat(CAROL), fake.private_chat(DAN)
    await fake.say(carol, CAROL, "/subscribe tabarak")
    await fake.say(dan, DAN, "/subscribe musakhan-alimuly")
    await send_update(fake, "tabarak", "The appeal is in March.")
    admin = fake.private_chat(ADMIN)
    prompt = await fake.say(admin, ADMIN, "/closecase musakhan-alimuly")
    close = next(d for label, d in buttons(prompt).items() if label.startswith("Close"))
    await fake.click(admin, ADMIN, prompt, close)
    await fake.wait_for(
        lambda: any("No longer followed" in m["text"] for m in fake.sent_to(dan.id))
    )
    await broadcast_done(database)
    # The closing notice went out: the closed case's subscriptions went with it.
    async with database.reading() as session:
        followers = await session.execute(select(Subscription.chat_id))
        assert set(followers.scalars()) == {carol.id}

    # Eight days on, the daily purge.
    clock.now = datetime.now(UTC) + timedelta(days=8)
    purged = await instance_of(bot).parts.purge.purge()
    assert purged.deliveries == 2
    assert await holders(database, dan.id) == set()
    assert await holders(database, carol.id) == {"chats.id", "subscriptions.chat_id"}
    listing = (await fake.say(admin, ADMIN, "/broadcasts"))["text"]
    assert listing.count("1/1 sent") == 2


async def test_the_active_instance_purges_soon_after_it_starts(
    settings: Settings, clock: Clock
) -> None:
    await prepare_database(settings)
    database = Database(settings.database.url.get_secret_value())
    async with database.writing() as session:
        session.add(Chat(id=301, type=ChatType.PRIVATE, created_at=clock.now - timedelta(days=2)))

    def soon(parts: Parts) -> None:
        parts.purge.first = timedelta(milliseconds=10)

    app = await start_bot(settings, clock, adjust=soon)
    instance = instance_of(app)
    try:
        assert instance.supervisor.running("purge")
        async with asyncio.timeout(10):
            while await holders(database, 301):  # noqa: ASYNC110  (a purge sets no event)
                await asyncio.sleep(0.05)
    finally:
        await stop_bot(app)
        await database.dispose()
    assert not instance.supervisor.running("purge")


# --- the files and the settings -------------------------------------------------------------


async def test_sqlite_overwrites_what_it_deletes(database: Database) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite setting")
    async with database.reading() as session:
        assert (await session.execute(text("PRAGMA secure_delete"))).scalar_one() == 1


async def add_a_case(database: Database) -> None:
    async with database.writing() as session:
        session.add(Case(id="x", title="X"))


def wal_size(database: Database) -> int:
    path = Path(f"{make_url(database.url).database}-wal")
    return path.stat().st_size if path.exists() else 0


@contextlib.asynccontextmanager
async def erased_while_a_reader_looks(database: Database) -> AsyncIterator[Callable[[], None]]:
    """A chat erased while another connection keeps reading the snapshot from before; yields
    what lets the reader go."""
    async with database.writing() as session:
        await subscriptions.subscribe(session, chat_id=301, chat_type=ChatType.PRIVATE, case_id="x")
    done = asyncio.Event()
    reading = asyncio.Event()

    async def reader() -> None:
        async with database.reading() as session:
            await session.execute(text("SELECT count(*) FROM chats"))
            reading.set()
            await done.wait()

    task = asyncio.create_task(reader())
    await reading.wait()
    async with database.writing() as session:
        await privacy.erase_chat(session, chat_id=301)
    try:
        yield done.set
    finally:
        done.set()
        await task


async def test_the_checkpoint_is_tried_again_until_no_reader_holds_the_log(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16: a busy checkpoint left the erased rows' pages in the write-ahead log."""
    if database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    await add_a_case(database)
    caplog.set_level(logging.DEBUG, logger="storage.privacy")
    async with erased_while_a_reader_looks(database) as let_go:
        assert wal_size(database) > 0
        scrubbing = asyncio.create_task(privacy.scrub(database))
        await until(lambda: scrubbing.done() or "checkpoint busy" in caplog.text)
        let_go()
        assert await scrubbing
    assert wal_size(database) == 0


async def test_a_checkpoint_that_never_gets_through_says_so(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    await add_a_case(database)
    async with erased_while_a_reader_looks(database):
        assert not await privacy.scrub(database, tries=2)
        assert wal_size(database) > 0
    assert "could not empty SQLite's write-ahead log after 2 tries" in caplog.text


def test_keep_deliveries_days_defaults_to_a_week_and_is_never_negative() -> None:
    assert Settings().privacy.keep_deliveries_days == 7
    assert Settings(privacy={"keep_deliveries_days": 0}).privacy.keep_deliveries_days == 0
    with pytest.raises(ValidationError):
        Settings(privacy={"keep_deliveries_days": -1})
