"""Supervised background work: a worker that dies is logged and restarted; none dies unseen."""

from __future__ import annotations

import asyncio
import logging

import pytest

from jobs.outage import Backoff
from jobs.supervisor import Supervisor, Worker

QUICK = Backoff(first=0.01, cap=0.01)  # restarts at once, for the test


async def test_a_worker_that_fails_is_logged_with_its_traceback_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = 0
    third = asyncio.Event()

    async def flaky(worker: Worker) -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError(f"boom {runs}")
        third.set()
        await asyncio.Event().wait()

    supervisor = Supervisor(restarts=QUICK)
    supervisor.start("flaky", flaky)
    async with asyncio.timeout(5):
        await third.wait()
    assert supervisor.running("flaky")
    assert supervisor.problems() == []
    failures = [r for r in caplog.records if r.name == "jobs.supervisor"]
    assert [r.getMessage() for r in failures] == ["worker flaky failed; restarting it"] * 2
    assert all(r.exc_info is not None for r in failures)  # the traceback is in the log
    assert supervisor.workers()[0].restarts == 2
    await supervisor.stop_all()
    assert not supervisor.running("flaky")


async def test_a_worker_that_returns_is_restarted_unless_it_was_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    runs = 0

    async def returns(worker: Worker) -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0)

    supervisor = Supervisor(restarts=QUICK)
    supervisor.start("returns", returns)
    async with asyncio.timeout(5):
        while runs < 3:  # noqa: ASYNC110  (counting restarts, which set no event)
            await asyncio.sleep(0.01)
    assert "worker returns ended unexpectedly; restarting it" in caplog.messages
    await supervisor.stop("returns")
    settled = runs
    await asyncio.sleep(0.05)
    assert runs == settled


async def test_a_worker_without_heartbeat_is_reported_stalled() -> None:
    now = [0.0]

    async def stuck(worker: Worker) -> None:
        await asyncio.Event().wait()  # never beats again

    supervisor = Supervisor(restarts=QUICK, clock=lambda: now[0])
    supervisor.start("stuck", stuck, stall_after=60)
    await asyncio.sleep(0)
    assert supervisor.problems() == []
    now[0] = 61.0
    assert supervisor.problems() == ["worker stuck has made no progress for 61 s"]
    await supervisor.stop_all()


async def test_stopping_waits_for_the_workers_clean_up() -> None:
    cleaned = asyncio.Event()

    async def careful(worker: Worker) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.05)  # e.g. the sends under way finish
            cleaned.set()

    supervisor = Supervisor(restarts=QUICK)
    supervisor.start("careful", careful)
    await asyncio.sleep(0)
    await supervisor.stop("careful", grace=5)
    assert cleaned.is_set()


async def test_a_worker_that_swallows_its_cancellation_and_goes_on_is_cancelled_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something a worker awaited lost the cancellation (as Python 3.11's wait_for can) and the
    worker went back to its loop: stopping it does not wait for ever, and says so once."""
    monkeypatch.setattr("jobs.supervisor.LOST_CANCEL_CHECK", 0.01)
    swallowed = asyncio.Event()

    async def daily(worker: Worker) -> None:
        while True:
            worker.beat()
            try:
                await asyncio.sleep(3600)  # a day's wait, say
            except asyncio.CancelledError:
                if swallowed.is_set():
                    raise
                swallowed.set()  # the lost cancellation: the loop goes on to its next wait

    supervisor = Supervisor(restarts=QUICK)
    supervisor.start("daily", daily)
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await supervisor.stop("daily")
    assert swallowed.is_set()
    assert not supervisor.running("daily")
    warnings = [r.getMessage() for r in caplog.records if r.name == "jobs.supervisor"]
    assert warnings == ["worker daily went on after it was cancelled; cancelling it again"]
