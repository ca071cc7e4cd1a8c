"""The reminder jobs' scheduler (``jobs.reminders.Timers``) on python-telegram-bot's JobQueue,
that is APScheduler: one job per name, replaced in place, run however late."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.context import Context, HearingWatchApp

logger = logging.getLogger(__name__)


class JobQueueTimers:
    """``jobs.reminders.Timers`` on the Application's JobQueue."""

    def __init__(self, app: HearingWatchApp, clock: Callable[[], datetime]) -> None:
        assert app.job_queue is not None
        self._jobs = app.job_queue
        # The bot's clock, which tests set: a job is due that long after the clock's now.
        self._clock = clock

    def once(self, name: str, when: datetime, action: Callable[[], Awaitable[None]]) -> None:
        async def run(_context: Context) -> None:
            await action()

        self._jobs.run_once(
            run,
            when=(when - self._clock()).total_seconds(),
            data=when,  # when it is due by the bot's clock (the job's next_t is the real one)
            name=name,
            # A deterministic id: a moved hearing's job is replaced in place. No misfire grace
            # (APScheduler's default drops a job a second late): a late job still runs, and the
            # action itself refuses what has become too late.
            job_kwargs={"id": name, "replace_existing": True, "misfire_grace_time": None},
        )

    def cancel(self, name: str) -> None:
        for job in self._jobs.get_jobs_by_name(name):
            job.schedule_removal()

    def names(self) -> set[str]:
        return {job.name for job in self._jobs.jobs() if job.name}

    def next_run(self, prefix: str) -> datetime | None:
        # The scheduler's own time (the real one).
        times = [
            job.next_t
            for job in self._jobs.jobs()
            if (job.name or "").startswith(prefix) and job.next_t is not None
        ]
        return min(times, default=None)
