"""Outages are told twice (start and end), whatever the number of failed retries."""

from __future__ import annotations

import logging
import sqlite3

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from jobs.outage import RETRY, Backoff, Outage, database_outage, is_database_outage


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    recovered: list[str] = []
    outage = Outage("database", clock=lambda: now[0], on_recovery=[lambda: recovered.append("!")])
    caplog.set_level(logging.INFO, logger="jobs.outage")

    for _ in range(50):
        outage.failed(ConnectionRefusedError(111, "Connection refused"))
    now[0] = 115.0
    outage.ok()
    outage.ok()

    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "database unavailable: ConnectionRefusedError: [Errno 111] Connection refused;"
        " retrying until it is back",
        "database is back after 15.0 s",
    ]
    assert outage.errors == 50
    assert recovered == ["!"]
    assert not outage.down


def test_a_locked_or_unreachable_database_is_an_outage_but_a_wrong_query_is_not() -> None:
    locked = OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))
    assert is_database_outage(locked)
    assert is_database_outage(ConnectionRefusedError())
    assert is_database_outage(TimeoutError())
    assert not is_database_outage(IntegrityError("INSERT", {}, Exception("UNIQUE failed")))
    assert not is_database_outage(ValueError("a bug"))


def test_retries_back_off_and_are_capped() -> None:
    waits = [RETRY.delay(attempt) for attempt in range(1, 12)]
    assert waits == sorted(waits)
    assert waits[0] < 1
    assert max(waits) == RETRY.cap
    assert Backoff(first=2.0, cap=20.0).delay(3) == 8.0


def test_work_inside_absorbed_reports_an_outage_and_goes_on() -> None:
    outage = database_outage()
    locked = OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))
    with outage.absorbed() as attempt:
        raise locked
    assert attempt.failed
    assert outage.down
    with outage.absorbed() as attempt:
        pass
    assert not attempt.failed


def test_a_bug_inside_absorbed_is_not_an_outage() -> None:
    outage = database_outage()
    with pytest.raises(ValueError, match="a bug"), outage.absorbed():
        raise ValueError("a bug")
    assert not outage.down
    assert outage.errors == 0


def test_a_postgresql_starting_up_or_shutting_down_is_an_outage() -> None:
    """57P03 (starting up), 57P01 (admin shutdown), raw from asyncpg or wrapped by SQLAlchemy."""
    starting = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    assert is_database_outage(starting)
    assert is_database_outage(asyncpg.exceptions.AdminShutdownError("terminating connection"))

    class AdaptedError(Exception):  # what SQLAlchemy's asyncpg dialect wraps the driver's error in
        pass

    adapted = AdaptedError("starting up")
    adapted.__cause__ = starting
    assert is_database_outage(DBAPIError("SELECT 1", {}, adapted))
    unique = asyncpg.exceptions.UniqueViolationError("duplicate key")
    assert not is_database_outage(unique)
    assert not is_database_outage(DBAPIError("INSERT", {}, unique))
