"""Engine and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Only another process can hold SQLite's write lock (writers in this one take turns), so this is
# how long a write waits for, say, a `hearing-watch import` before it counts as an outage.
SQLITE_BUSY_TIMEOUT_MS = 5_000
_IMMEDIATE = "hearing_watch_immediate"
# Connections for reads (and, on PostgreSQL, writes): a burst of a thousand people tapping a
# link runs up to 256 updates at once (bot.updates), each holding a connection for a few
# milliseconds at a time. The wait is generous because a wait here is a queue, not an outage.
POOL_SIZE = 10
POOL_OVERFLOW = 20
POOL_TIMEOUT = 120.0


def _sqlite_engine(url: str, **pool: Any) -> AsyncEngine:
    """An SQLite engine with WAL, a busy timeout, foreign keys and explicit BEGINs."""
    engine = create_async_engine(url, hide_parameters=True, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows are overwritten with zeros, not left readable in free pages: erased
        # (by /forget or the purge) means gone from the file too.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails with SQLITE_BUSY, without
        # waiting, when another writer got there first; writers take the lock up front instead.
        if connection.get_execution_options().get(_IMMEDIATE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def create_engine(url: str) -> AsyncEngine:
    """An async engine with a pool sized for bursts; SQLite also gets WAL, a busy timeout,
    foreign keys and explicit BEGINs."""
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, "pool_timeout": POOL_TIMEOUT}
    # hide_parameters: no error or traceback carries a query's values (chat ids among them).
    if make_url(url).get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)
    return _sqlite_engine(url, **pool)


class Database:
    """Owns the engine; hands out one short session per unit of work.

    On SQLite the writers of this process take turns: one write transaction at a time, on a
    connection of its own, in the order they asked. SQLite allows one writer per file anyway;
    letting a thousand of them race for its lock in its busy handler, which is neither fair nor
    patient beyond its timeout, turned a burst of subscriptions into "database is locked" for
    the unlucky few. So a write that waits here waits its turn, for as long as the queue ahead
    of it takes, and SQLite's own lock can only be held by another process.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._turn: asyncio.Lock | None = None
        self._writer: AsyncEngine | None = None
        self._write_sessions = self._sessions
        self._turn_holder: asyncio.Task[Any] | None = None
        if self.engine.dialect.name == "sqlite":
            self._turn = asyncio.Lock()
            # One connection, always free for whoever holds the turn: it never waits behind
            # readers for a connection of the pool.
            self._writer = _sqlite_engine(url, pool_size=1, max_overflow=0)
            self._write_sessions = async_sessionmaker(self._writer, expire_on_commit=False)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; rolled back at the end."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session whose changes are committed together, or not at all on an exception."""
        async with self.write_turn(), self._write_sessions() as session:
            await session.connection(execution_options={_IMMEDIATE: True})
            yield session
            await session.commit()

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """This process's turn to write (SQLite); PostgreSQL's writers need no turns."""
        if self._turn is None:
            yield
            return
        task = asyncio.current_task()
        if self._turn_holder is not None and self._turn_holder is task:
            # It would wait for itself for ever: a programming error, said at once.
            raise RuntimeError("a write to the database inside another write of the same task")
        async with self._turn:
            self._turn_holder = task
            try:
                yield
            finally:
                self._turn_holder = None

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection outside any transaction, in this process's write turn (for SQLite's
        checkpoint and PostgreSQL's VACUUM, which refuse to run inside one or wait on it)."""
        async with self.write_turn(), (self._writer or self.engine).connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def probe_write(self) -> None:
        """Take the write lock and let it go, writing nothing: can this database be written?"""
        async with self.writing():
            pass

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._writer is not None:
            await self._writer.dispose()
