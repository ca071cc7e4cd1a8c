"""A comparable picture of everything staff commands may change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from storage.database import Database

# Pending confirmations are left out: asking to confirm is not a change to the schedule.
TABLES = ("cases", "hearings", "chats", "subscriptions", "staff", "audit")


async def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table staff can change, in a stable order."""
    picture = {}
    async with database.reading() as session:
        for table in TABLES:
            rows = await session.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))  # noqa: S608
            picture[table] = [tuple(row) for row in rows]
    return picture
