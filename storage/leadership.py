"""Which of several bot processes on one database is the active one.

Exactly one instance sends: it polls Telegram, runs the delivery engine and the reminders. The
others wait as standbys and take over when it goes.

- PostgreSQL: a session-level advisory lock, held on a connection of its own outside the pool.
  The server drops a dead client's session, and with it the lock, within seconds thanks to TCP
  keepalives; the same connection LISTENs for the changes other instances announce with NOTIFY.
- SQLite: only one process may use a database file at all (its queue has no way to share), so
  a second one finds the file locked and stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

# Any fixed 64-bit number; the name's hash would change with Python's hash seed.
LOCK_KEY = 0x4845_4152_494E_4757  # "HEARINGW"
CHANNEL = "hearing_watch"
CONNECT_TIMEOUT = 5.0
PING_TIMEOUT = 3.0
# The server checks an idle client after 5 s, then every 2 s, and gives up after 3 misses.
KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}

Listener = Callable[[str], None]


class AnotherInstanceError(Exception):
    """Another process uses this SQLite database; the message says which file."""


class Leadership(Protocol):
    """The lock that makes one instance active."""

    async def acquire(self) -> bool:
        """Try once to become the active instance; True when this instance holds the lock."""

    async def holds(self) -> bool:
        """Whether the lock is still held (False after the connection behind it was lost)."""

    async def release(self) -> None:
        """Give the lock up, so a standby takes over at once."""

    def listen(self, listener: Listener) -> None:
        """Call ``listener(topic)`` for every change another instance announces."""

    async def announce(self, topic: str) -> None:
        """Tell every instance (this one too) that something changed: 'deliveries', 'schedule'."""


class PostgresLeadership:
    """An advisory lock on a dedicated connection with keepalives; LISTEN/NOTIFY on it too."""

    def __init__(self, url: str, engine: AsyncEngine) -> None:
        # A URL object, whose repr hides the password; made a DSN only to connect.
        self._url = make_url(url).set(drivername="postgresql")
        self._engine = engine
        self._connection: asyncpg.Connection[Any] | None = None
        self._held = False
        self._listener: Listener | None = None

    async def acquire(self) -> bool:
        try:
            if self._connection is None or self._connection.is_closed():
                connection = await asyncpg.connect(
                    self._url.render_as_string(hide_password=False),
                    timeout=CONNECT_TIMEOUT,
                    server_settings=KEEPALIVES,
                )
                self._connection = connection
                self._held = False
                # Standbys hear what other instances announce too: they serve calendars, whose
                # cache a change of the schedule anywhere makes stale. Listening before trying
                # for the lock, an instance is never active without hearing.
                await connection.add_listener(CHANNEL, self._on_notify)
            if not self._held:
                got = await self._connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", LOCK_KEY, timeout=PING_TIMEOUT
                )
                if got:
                    self._held = True
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # A server starting up or going away (57P03, 57P01, a reset): start afresh next time;
            # the caller reports the outage.
            await self._drop()
            raise
        return self._held

    async def holds(self) -> bool:
        if not self._held or self._connection is None or self._connection.is_closed():
            return False
        try:
            await self._connection.fetchval("SELECT 1", timeout=PING_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # The session, and the lock with it, is gone or cannot be vouched for.
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self._connection is not None and not self._connection.is_closed() and self._held:
            with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError):
                await self._connection.fetchval(
                    "SELECT pg_advisory_unlock($1)", LOCK_KEY, timeout=PING_TIMEOUT
                )
        await self._drop()

    async def _drop(self) -> None:
        self._held = False
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), PING_TIMEOUT)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()

    def listen(self, listener: Listener) -> None:
        self._listener = listener

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        if self._listener is not None:
            self._listener(str(payload))

    async def announce(self, topic: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic}
            )


class FileLeadership:
    """SQLite: an exclusive lock on a file beside the database, held for the process's life."""

    def __init__(self, url: str) -> None:
        database = make_url(url).database
        self.path = (
            None if not database or database == ":memory:" else Path(f"{database}.lock").resolve()
        )
        self._file: IO[str] | None = None
        self._listener: Listener | None = None

    async def acquire(self) -> bool:
        if self.path is None or self._file is not None:
            return True
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AnotherInstanceError(
                f"another hearing-watch ({holder}) is running on {self.path.with_suffix('')};"
                " stop it first (SQLite serves one instance; use PostgreSQL for several)"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    async def holds(self) -> bool:
        return self.path is None or self._file is not None

    async def release(self) -> None:
        if self._file is not None:
            # Unlocked by closing; the file stays, empty of meaning, for the next start.
            self._file.close()
            self._file = None

    def listen(self, listener: Listener) -> None:
        self._listener = listener

    async def announce(self, topic: str) -> None:
        """Nobody else to tell: one process per file, and the change happened here."""


def leadership_for(url: str, engine: AsyncEngine) -> Leadership:
    """The lock that fits the database behind ``url``."""
    if make_url(url).get_backend_name() == "postgresql":
        return PostgresLeadership(url, engine)
    return FileLeadership(url)
