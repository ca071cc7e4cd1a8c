"""Alembic environment: runs on the connection storage.migrate hands over, or on a URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.database import create_engine

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # Writing a migration by hand: `HEARINGWATCH_DATABASE__URL=... alembic -c ... revision ...`
    asyncio.run(
        _run_on_url(os.environ.get("HEARINGWATCH_DATABASE__URL", "sqlite+aiosqlite:///dev.db"))
    )
