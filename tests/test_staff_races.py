"""Two staff acting on one hearing at the same moment, each on a database connection of their
own: exactly one change, at most one notice per chat, and the one who came second is told what
happened.

On PostgreSQL (READ COMMITTED) the two transactions really overlap: the first holds its change
uncommitted until the second is seen waiting for it (``pg_stat_activity``), then commits. On
SQLite the writers take turns, so the second starts from what it saw before the first committed
(its preview's revision), which is the same race as a person sees it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.staff_actions import Done, carry_out
from storage import editing, staff, subscriptions
from storage.database import Database
from storage.errors import ScheduleError, UserError
from storage.migrate import downgrade, upgrade
from storage.models import (
    Broadcast,
    BroadcastKind,
    ChatType,
    Delivery,
    Hearing,
    HearingStatus,
)
from storage.schedule_file import SEED_FILE, seed_if_empty
from tests.conftest import ADMIN_ID

NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
CHATS = [3001, 3002, 3003]
OTHER_ADMIN = ADMIN_ID + 1
Action = Callable[[AsyncSession], Awaitable[Any]]


@pytest.fixture
async def second(database_url: str, database: Database) -> AsyncIterator[Database]:
    """Another connection pool on the same database: the other staff member's instance."""
    other = Database(database_url)
    yield other
    await other.dispose()


@pytest.fixture
async def hearing(database: Database) -> int:
    """A scheduled hearing of tabarak on 16 December 2026 at 10:00, with three subscribers."""
    async with database.writing() as session:
        await seed_if_empty(session, path=SEED_FILE, default_zone="Asia/Almaty")
        added = await editing.add_hearing(
            session,
            actor=ADMIN_ID,
            case_id="tabarak",
            day=dt.date(2026, 12, 16),
            at=dt.time(10, 0),
            court="Zharkent court",
            city="Zharkent",
            address=None,
            zone="Asia/Almaty",
            now=NOW,
        )
        for chat_id in CHATS:
            await subscriptions.subscribe(
                session, chat_id=chat_id, chat_type=ChatType.PRIVATE, case_id="tabarak"
            )
    assert added.id is not None
    return added.id


async def _waiting_for_a_lock(database: Database) -> bool:
    async with database.reading() as session:
        waiting = await session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
        return bool(waiting.scalar_one())


async def race(first_db: Database, second_db: Database, first: Action, then: Action) -> list[Any]:
    """Run ``first`` and ``then`` as two overlapping transactions (see the module's docstring);
    what each returned or raised."""
    outcomes: list[Any] = []

    async def attempt(database: Database, action: Action) -> Any:
        try:
            async with database.writing() as session:
                return await action(session)
        except UserError as error:
            return error

    if first_db.engine.dialect.name != "postgresql":
        outcomes.append(await attempt(first_db, first))
        outcomes.append(await attempt(second_db, then))
        return outcomes
    observer = Database(first_db.url)
    try:
        async with first_db.writing() as session:
            outcomes.append(await first(session))
            late = asyncio.create_task(attempt(second_db, then))
            # Held uncommitted until the second one waits for it: they really overlap.
            seen = False
            async with asyncio.timeout(10):
                while not seen:
                    seen = await _waiting_for_a_lock(observer)
                    if not seen:
                        await asyncio.sleep(0.01)
        outcomes.append(await late)
    finally:
        await observer.dispose()
    return outcomes


def postponing(hearing_id: int, day: dt.date, revision: int = 0) -> staff.PostponingHearing:
    return staff.PostponingHearing(hearing_id, day.isoformat(), "10:00", None, revision)


def confirm(request: staff.PendingRequest, actor: int) -> Action:
    async def act(session: AsyncSession) -> Done:
        return await carry_out(
            session,
            request=request,
            actor=actor,
            now=NOW,
            default_language="en",
            admins=frozenset({ADMIN_ID, OTHER_ADMIN}),
        )

    return act


async def notices_per_chat(database: Database) -> dict[int, int]:
    async with database.reading() as session:
        rows = await session.execute(
            select(Delivery.chat_id, func.count())
            .join(Broadcast)
            .where(Broadcast.kind == BroadcastKind.NOTICE)
            .group_by(Delivery.chat_id)
        )
        return {int(chat): int(count) for chat, count in rows}


async def hearings(database: Database) -> list[Hearing]:
    async with database.reading() as session:
        return list((await session.execute(select(Hearing).order_by(Hearing.id))).scalars())


async def test_two_postpones_of_one_hearing(
    database: Database, second: Database, hearing: int
) -> None:
    before = len(await hearings(database))
    outcomes = await race(
        database,
        second,
        confirm(postponing(hearing, dt.date(2026, 12, 21)), ADMIN_ID),
        confirm(postponing(hearing, dt.date(2026, 12, 23)), OTHER_ADMIN),
    )
    assert isinstance(outcomes[0], Done)
    refused = outcomes[1]
    assert isinstance(refused, ScheduleError)
    assert str(refused).startswith(
        f"Hearing #{hearing} was postponed meanwhile by another staff member, to 2026-12-21 10:00"
    )
    after = await hearings(database)
    assert len(after) == before + 1  # one new hearing, not two
    assert [h.status for h in after if h.id == hearing] == [HearingStatus.POSTPONED]
    assert await notices_per_chat(database) == {chat: 1 for chat in CHATS}


async def test_a_postpone_racing_a_cancel(
    database: Database, second: Database, hearing: int
) -> None:
    outcomes = await race(
        database,
        second,
        confirm(staff.CancellingHearing(hearing, "charges dropped", 0), ADMIN_ID),
        confirm(postponing(hearing, dt.date(2026, 12, 21)), OTHER_ADMIN),
    )
    assert isinstance(outcomes[0], Done)
    assert str(outcomes[1]) == (
        f"Hearing #{hearing} was cancelled meanwhile by another staff member; nothing of yours"
        " was changed or sent."
    )
    statuses = {h.id: h.status for h in await hearings(database)}
    assert statuses[hearing] == HearingStatus.CANCELLED
    assert HearingStatus.SCHEDULED not in [s for i, s in statuses.items() if i > hearing]
    assert await notices_per_chat(database) == {chat: 1 for chat in CHATS}


async def test_two_confirms_of_one_preview(
    database: Database, second: Database, hearing: int
) -> None:
    """One preview, Confirm pressed on two devices (or by its author and an admin) at once."""
    request = postponing(hearing, dt.date(2026, 12, 21))
    async with database.writing() as session:
        pending_id = await staff.create_pending(session, actor=ADMIN_ID, request=request, now=NOW)

    def press(actor: int) -> Action:
        async def act(session: AsyncSession) -> Done | None:
            claimed = await staff.claim_pending(
                session, pending_id=pending_id, actor=actor, now=NOW, for_anyone=True
            )
            if claimed is None:
                return None
            return await confirm(staff.request_of(claimed), actor)(session)

        return act

    outcomes = await race(database, second, press(ADMIN_ID), press(OTHER_ADMIN))
    assert isinstance(outcomes[0], Done)
    assert outcomes[1] is None  # "This was done already; nothing changed."
    assert len([h for h in await hearings(database) if h.starts_at.day == 21]) == 1
    assert await notices_per_chat(database) == {chat: 1 for chat in CHATS}


async def test_two_addhearings_at_one_date_and_time(
    database: Database, second: Database, hearing: int
) -> None:
    def add(court: str) -> Action:
        async def act(session: AsyncSession) -> Hearing:
            return await editing.add_hearing(
                session,
                actor=ADMIN_ID,
                case_id="tabarak",
                day=dt.date(2027, 1, 10),
                at=dt.time(9, 30),
                court=court,
                city="Zharkent",
                address=None,
                zone="Asia/Almaty",
                now=NOW,
            )

        return act

    outcomes = await race(database, second, add("Zharkent court"), add("Another court"))
    added = outcomes[0]
    assert isinstance(added, Hearing)
    assert str(outcomes[1]).startswith(
        f"Hearing #{added.id} of this case is on 2027-01-10 09:30 already"
    )
    on_that_day = [
        h for h in await hearings(database) if h.starts_at.date() == dt.date(2027, 1, 10)
    ]
    assert [h.court for h in on_that_day] == ["Zharkent court"]


async def test_the_database_refuses_a_second_live_hearing_at_one_slot(
    database: Database, hearing: int
) -> None:
    """The index behind the check: a row written past storage.editing is refused too; a
    postponed hearing at that date and time is not in the way."""
    async with database.reading() as session:
        original = await session.get(Hearing, hearing)
    assert original is not None

    def twin(status: HearingStatus) -> Hearing:
        return Hearing(
            case_id="tabarak",
            court="Elsewhere",
            city="Zharkent",
            starts_at=original.starts_at,
            timezone=original.timezone,
            status=status,
        )

    with pytest.raises(IntegrityError):
        async with database.writing() as session:
            session.add(twin(HearingStatus.SCHEDULED))
    async with database.writing() as session:
        session.add(twin(HearingStatus.POSTPONED))
        # Another case may sit then, and this case on that day with the hour not announced.
        other = twin(HearingStatus.SCHEDULED)
        other.case_id = "musakhan-alimuly"
        session.add(other)
        tba = twin(HearingStatus.SCHEDULED)
        tba.time_tba = True
        session.add(tba)


async def test_the_migration_goes_down_and_up(database: Database, hearing: int) -> None:
    async def names() -> tuple[set[str], set[str]]:
        async with database.engine.connect() as connection:

            def read(sync: Any) -> tuple[set[str], set[str]]:
                from sqlalchemy import inspect

                inspector = inspect(sync)
                indexes = {index["name"] for index in inspector.get_indexes("hearings")}
                return set(inspector.get_table_names()), {str(name) for name in indexes}

            return await connection.run_sync(read)

    tables, indexes = await names()
    assert "staff_flows" in tables
    assert "ix_hearings_live_slot" in indexes
    await downgrade(database.engine, "0012")
    tables, indexes = await names()
    assert "staff_flows" not in tables
    assert "ix_hearings_live_slot" not in indexes
    await upgrade(database.engine)
    tables, indexes = await names()
    assert "staff_flows" in tables
    assert "ix_hearings_live_slot" in indexes
