"""Storage on a real database (SQLite, or PostgreSQL in CI's second pass): no Telegram here."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bot.paused import PausedChats
from storage import chats, schedule, subscriptions
from storage.database import Database
from storage.migrate import HEAD, alembic_config, current_revision, downgrade, upgrade
from storage.models import Case, CaseStatus, Chat, ChatType, HearingStatus
from storage.schedule_file import SEED_FILE, apply_schedule, read_schedule_file, seed_if_empty
from storage.subscriptions import SubscribeResult

REPOSITORY = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
# A supergroup's id needs more than 32 bits.
SUPERGROUP_ID = -1001234567890


async def seed(database: Database) -> None:
    async with database.writing() as session:
        assert await seed_if_empty(session, path=SEED_FILE, default_zone="Asia/Almaty")


async def test_migrations_create_every_table(database: Database) -> None:
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"cases", "hearings", "chats", "subscriptions", "alembic_version"} <= tables
    assert await current_revision(database.engine) is not None


async def test_a_chats_deliveries_are_found_by_an_index(database: Database) -> None:
    """Moving a migrated group and erasing a chat look deliveries up by chat id alone."""
    async with database.engine.connect() as connection:
        indexes = await connection.run_sync(lambda sync: inspect(sync).get_indexes("deliveries"))
    assert ["chat_id"] in [index["column_names"] for index in indexes]


async def test_upgrading_twice_is_harmless(database: Database) -> None:
    revision = await current_revision(database.engine)
    await upgrade(database.engine)
    assert await current_revision(database.engine) == revision


def test_head_is_the_newest_migration_script() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


async def test_a_database_at_head_is_not_handed_to_alembic(database_url: str) -> None:
    """The bot process does not import Alembic (11 MiB) when there is nothing to migrate."""
    database = Database(database_url)
    await upgrade(database.engine)
    await database.dispose()
    program = (
        "import asyncio, sys\n"
        "import bot.app\n"
        "from storage.database import Database\n"
        "from storage.migrate import upgrade\n"
        f"database = Database({database_url!r})\n"
        "asyncio.run(upgrade(database.engine))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    # A process of its own: this one has imported Alembic already.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", program, cwd=REPOSITORY, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    assert process.returncode == 0
    assert output.decode().strip() == "[]"


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(database: Database) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    async with database.reading() as session:
        assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_seed_loads_both_cases_with_their_postponements(database: Database) -> None:
    await seed(database)
    async with database.reading() as session:
        musakhan = await schedule.hearings_of(session, "musakhan-alimuly")
        tabarak = await schedule.hearings_of(session, "tabarak")
    assert [schedule.local_start(h).date() for h in musakhan] == [
        date(2020, 1, 6),
        date(2020, 1, 21),
    ]
    assert [schedule.local_start(h).date() for h in tabarak] == [
        date(2020, 1, 5),
        date(2020, 1, 16),
    ]
    for old, new in (musakhan, tabarak):
        assert old.status == HearingStatus.POSTPONED
        assert old.postponed_to_id == new.id
        assert new.status == HearingStatus.SCHEDULED
        assert old.time_tba
        assert new.time_tba
        assert new.timezone == "Asia/Almaty"
    # Almaty was UTC+6 then: local midnight of 21 January is 18:00 UTC the day before.
    assert musakhan[1].starts_at == datetime(2020, 1, 20, 18, 0, tzinfo=UTC)
    assert musakhan[1].court == "Zaisan district court"
    assert tabarak[1].city == "Zharkent"


async def test_seed_only_fills_an_empty_schedule(database: Database) -> None:
    await seed(database)
    async with database.writing() as session:
        assert not await seed_if_empty(session, path=SEED_FILE, default_zone="Asia/Almaty")


async def test_applying_the_same_file_twice_changes_nothing(database: Database) -> None:
    await seed(database)

    async with database.writing() as session:
        report = await apply_schedule(
            session, read_schedule_file(SEED_FILE), default_zone="Asia/Almaty"
        )
    assert not report.changed
    async with database.reading() as session:
        assert len(await schedule.hearings_of(session, "tabarak")) == 2


async def test_summaries_show_the_last_hearing_when_none_is_ahead(database: Database) -> None:
    await seed(database)
    async with database.reading() as session:
        summaries = await schedule.case_summaries(session, NOW)
    assert [s.case.id for s in summaries] == ["musakhan-alimuly", "tabarak"]
    assert all(not s.upcoming for s in summaries)
    last = summaries[1].hearing
    assert last is not None
    assert schedule.local_start(last).date() == date(2020, 1, 16)


async def test_summaries_prefer_the_next_hearing(database: Database) -> None:
    await seed(database)
    before = datetime(2020, 1, 10, tzinfo=UTC)
    async with database.reading() as session:
        summaries = await schedule.case_summaries(session, before)
    hearing = summaries[1].hearing
    assert summaries[1].upcoming
    assert hearing is not None
    assert schedule.local_start(hearing).date() == date(2020, 1, 16)


async def test_subscribe_twice_and_unsubscribe(database: Database) -> None:
    await seed(database)
    async with database.writing() as session:
        first = await subscriptions.subscribe(
            session, chat_id=42, chat_type=ChatType.PRIVATE, case_id="tabarak"
        )
        second = await subscriptions.subscribe(
            session, chat_id=42, chat_type=ChatType.PRIVATE, case_id="tabarak"
        )
    assert (first, second) == (SubscribeResult.SUBSCRIBED, SubscribeResult.ALREADY_SUBSCRIBED)
    async with database.writing() as session:
        assert await subscriptions.unsubscribe(session, chat_id=42, case_id="tabarak")
        assert not await subscriptions.unsubscribe(session, chat_id=42, case_id="tabarak")
        assert await subscriptions.subscribed_case_ids(session, chat_id=42) == set()


async def test_unknown_and_closed_cases_are_refused(database: Database) -> None:
    await seed(database)
    async with database.writing() as session:
        session.add(Case(id="old", title="Old case", status=CaseStatus.CLOSED))
    async with database.writing() as session:
        missing = await subscriptions.subscribe(
            session, chat_id=42, chat_type=ChatType.PRIVATE, case_id="nope"
        )
        closed = await subscriptions.subscribe(
            session, chat_id=42, chat_type=ChatType.PRIVATE, case_id="old"
        )
    assert (missing, closed) == (SubscribeResult.NO_SUCH_CASE, SubscribeResult.CASE_CLOSED)
    async with database.reading() as session:
        assert await session.get(Chat, 42) is None  # nothing stored for a refused request


async def test_unsubscribe_all_and_large_group_ids(database: Database) -> None:
    await seed(database)
    async with database.writing() as session:
        for case_id in ("tabarak", "musakhan-alimuly"):
            await subscriptions.subscribe(
                session, chat_id=SUPERGROUP_ID, chat_type=ChatType.SUPERGROUP, case_id=case_id
            )
    async with database.reading() as session:
        followed = await schedule.case_summaries(session, NOW, followed_by=SUPERGROUP_ID)
        chat = await session.get(Chat, SUPERGROUP_ID)
    assert [s.case.id for s in followed] == ["musakhan-alimuly", "tabarak"]
    assert chat is not None
    assert chat.type == ChatType.SUPERGROUP
    assert chat.reachable
    async with database.writing() as session:
        removed = await subscriptions.unsubscribe_all(session, chat_id=SUPERGROUP_ID)
    assert removed == ["musakhan-alimuly", "tabarak"]


async def test_chat_becomes_reachable_when_it_writes_again(database: Database) -> None:
    async with database.writing() as session:
        session.add(Chat(id=7, type=ChatType.PRIVATE, reachable=False))
    async with database.writing() as session:
        await chats.remember_chat(session, chat_id=7, chat_type=ChatType.PRIVATE)
    async with database.reading() as session:
        chat = await session.get(Chat, 7)
    assert chat is not None
    assert chat.reachable


async def test_paused_chats_are_known_from_the_database_and_resume_once(
    database: Database,
) -> None:
    async with database.writing() as session:
        session.add(Chat(id=7, type=ChatType.PRIVATE, reachable=False))
        session.add(Chat(id=8, type=ChatType.PRIVATE, reachable=True))
    paused = PausedChats()
    async with database.reading() as session:
        await paused.load(session)
    assert 7 in paused
    assert 8 not in paused
    async with database.writing() as session:
        first = await chats.resume_chat(session, chat_id=7)
        again = await chats.resume_chat(session, chat_id=7)
        never_paused = await chats.resume_chat(session, chat_id=8)
    assert (first, again, never_paused) == (True, False, False)
    async with database.reading() as session:
        assert await chats.paused_chat_ids(session) == set()


async def test_closest_ids(database: Database) -> None:
    await seed(database)
    async with database.reading() as session:
        assert (await schedule.closest_case_ids(session, "tabarek"))[0] == "tabarak"
        assert (await schedule.closest_case_ids(session, "musakhan"))[0] == "musakhan-alimuly"
        assert await schedule.closest_case_ids(session, "zzzzzzzz") == []


async def test_a_failed_write_changes_nothing(database: Database) -> None:
    await seed(database)

    async def subscribe_then_fail() -> None:
        async with database.writing() as session:
            await subscriptions.subscribe(
                session, chat_id=42, chat_type=ChatType.PRIVATE, case_id="tabarak"
            )
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await subscribe_then_fail()
    async with database.reading() as session:
        assert await subscriptions.subscribed_case_ids(session, chat_id=42) == set()


async def test_migrations_match_the_models(database: Database) -> None:
    """Every model change has its migration: autogenerate would find nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    async with database.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
        )
    assert differences == []


async def test_migrations_go_down_and_up_again(database: Database) -> None:
    await downgrade(database.engine, "base")
    assert await current_revision(database.engine) is None
    await upgrade(database.engine)
    assert await current_revision(database.engine) is not None
