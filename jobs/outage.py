"""Dependencies that can go away (the database, the Bot API), and how their outages are told.

An outage is logged twice: once when it starts and once when it ends, with how long it lasted.
Every piece of work that meets the dependency down reports it here and retries on its own; no
retry logs again. Health and metrics read the same object.

Work that needs the database runs inside ``outage.absorbed()``: an error that means the database
is away is reported and swallowed, any other goes on as it would. It waits before trying again
by a ``Backoff``, the one retry policy, with the pace set where it is used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import (
    TimeoutError as PoolTimeoutError,
)

logger = logging.getLogger(__name__)


# PostgreSQL's SQLSTATE classes that mean "not now" rather than "wrong": 08 connection
# exceptions, 57 operator intervention (57P01 admin shutdown, 57P03 cannot connect now: a server
# starting up or shutting down).
OUTAGE_SQLSTATE_CLASSES = ("08", "57")


def _sqlstate(exc: BaseException | None) -> str:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else ""


def is_database_outage(exc: BaseException) -> bool:
    """Whether an exception means the database is unreachable or busy, not that our query is wrong.

    SQLite's "database is locked" is an OperationalError; a PostgreSQL that went away shows as a
    refused connection (OSError), a dropped one (InterfaceError, or a DBAPIError whose connection
    was invalidated), a pool that cannot get a connection, or asyncpg's errors of SQLSTATE
    classes 08 and 57 (raw from the leadership's own connection, or wrapped by SQLAlchemy).
    """
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc.orig, OSError):
            return True
        wrapped = exc.orig
        states = (_sqlstate(wrapped), _sqlstate(getattr(wrapped, "__cause__", None)))
        return any(state[:2] in OUTAGE_SQLSTATE_CLASSES for state in states)
    if isinstance(exc, asyncpg.InterfaceError):
        return True
    if _sqlstate(exc)[:2] in OUTAGE_SQLSTATE_CLASSES:
        return True
    return isinstance(exc, OSError | TimeoutError)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before each retry: doubling from ``first``, never more than ``cap``.

    The default is quick at first, then every few seconds, so that a 15-second restart of
    PostgreSQL costs seconds, not minutes.
    """

    first: float = 0.5
    cap: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
        return float(min(self.cap, self.first * 2.0 ** max(0, attempt - 1)))


RETRY = Backoff()


@dataclass
class Attempt:
    """One piece of work run inside ``Outage.absorbed``: whether it met the outage."""

    failed: bool = False


def _always(_exc: BaseException) -> bool:
    return True


@dataclass
class Outage:
    """One dependency's state: up, or down since when and why."""

    name: str  # "database", "Bot API"
    # Which exceptions mean the dependency is away (rather than a bug): see absorbed().
    matches: Callable[[BaseException], bool] = _always
    clock: Callable[[], float] = time.monotonic
    on_failure: list[Callable[[], None]] = field(default_factory=list)  # every report
    on_recovery: list[Callable[[], None]] = field(default_factory=list)  # end of an outage
    announce: bool = True  # log when an outage starts and ends (else the caller tells)
    errors: int = 0  # every failure reported, for the metrics
    down_since: float | None = None
    reason: str | None = None
    last_ok: float | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    @contextmanager
    def absorbed(self) -> Iterator[Attempt]:
        """Run a block that needs the dependency: an exception that means it is away is
        reported here and swallowed (``attempt.failed`` tells), any other propagates."""
        attempt = Attempt()
        try:
            yield attempt
        except Exception as exc:
            if not self.matches(exc):
                raise
            attempt.failed = True
            self.failed(exc)

    def failed(self, exc: BaseException) -> None:
        """Work met the dependency down; only the first report of an outage is logged."""
        self.errors += 1
        for callback in self.on_failure:
            callback()
        if self.down_since is None:
            self.down_since = self.clock()
            self.reason = describe(exc)
            if self.announce:
                logger.error(
                    "%s unavailable: %s; retrying until it is back", self.name, self.reason
                )

    def ok(self) -> None:
        """Work reached the dependency; ends an outage, logging how long it lasted."""
        self.last_ok = self.clock()
        if self.down_since is not None:
            lasted = self.last_ok - self.down_since
            self.down_since = None
            self.reason = None
            if self.announce:
                logger.warning("%s is back after %.1f s", self.name, lasted)
            for callback in self.on_recovery:
                callback()


def describe(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    # SQLAlchemy appends the statement and a link after the driver's message; the first line is
    # the driver's own words ("connection refused", "database is locked").
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip().splitlines()[0] if str(original).strip() else ""
    text = f"{type(original).__name__}: {message}" if message else type(original).__name__
    return text[:200]


def database_outage(*, announce: bool = True) -> Outage:
    """The database's outage: unreachable, restarting, locked by another process."""
    return Outage("database", matches=is_database_outage, announce=announce)
