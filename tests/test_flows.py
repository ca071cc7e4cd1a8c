"""Guided commands half-way, as stored: one per staff member, moved on once, and gone when they
expire (no Telegram here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import flows, privacy
from storage.database import Database

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


async def test_one_flow_per_staff_member_moved_on_once(database: Database) -> None:
    async with database.writing() as session:
        first = await flows.begin(
            session,
            user_id=7,
            command="postpone",
            step="hearing",
            answers={},
            offered=[],
            reply_keyboard=False,
            now=NOW,
        )
        second = await flows.begin(
            session,
            user_id=7,
            command="addcase",
            step="case",
            answers={},
            offered=[],
            reply_keyboard=False,
            now=NOW,
        )
    assert first != second  # a button of the replaced flow answers nothing
    async with database.reading() as session:
        state = await flows.current(session, user_id=7)
    assert state is not None
    assert (state.id, state.command) == (second, "addcase")
    async with database.writing() as session:
        moved = await flows.advance(
            session,
            flow=state,
            step="title",
            answers={"case": "free-ali"},
            offered=[],
            reply_keyboard=False,
            now=NOW,
        )
        again = await flows.advance(  # the same answer from a second device
            session,
            flow=state,
            step="title",
            answers={"case": "other"},
            offered=[],
            reply_keyboard=False,
            now=NOW,
        )
    assert (moved, again) == (True, False)
    async with database.reading() as session:
        state = await flows.current(session, user_id=7)
    assert state is not None
    assert state.answers == {"case": "free-ali"}


async def test_the_daily_purge_deletes_flows_left_alone(database: Database) -> None:
    async with database.writing() as session:
        for user_id, when in ((1, NOW - timedelta(minutes=16)), (2, NOW)):
            await flows.begin(
                session,
                user_id=user_id,
                command="update",
                step="text",
                answers={"case": "tabarak"},
                offered=[],
                reply_keyboard=False,
                now=when,
            )
    async with database.writing() as session:
        await privacy.purge_rows(session, now=NOW, keep=timedelta(days=7))
    async with database.reading() as session:
        left = await flows.current(session, user_id=1)
        kept = await flows.current(session, user_id=2)
    assert left is None
    assert kept is not None
    assert not kept.expired(NOW)
