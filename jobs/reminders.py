"""The reminder jobs: one APScheduler job per (hearing, offset), rebuilt from the database.

``Reminders.reconcile`` makes the jobs match the schedule (``jobs.reminder_plan`` decides what is
due when): one job per (hearing, offset) with a deterministic name, replaced in place. It runs
when this instance becomes active, after every schedule change, and every few minutes (which also
catches a `hearing-watch import` run from another process). A job that fires queues a reminder
broadcast for the delivery engine, once per (hearing, instant, offset). Reminders that fell due
while no instance was active go out at once if their hearing has not begun.

The jobs run on a scheduler behind the small ``Timers`` port (python-telegram-bot's JobQueue in
the running bot), and the words come from a ``ReminderWording`` (the bot's texts): this module
knows neither Telegram nor any language.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from jobs.outage import Outage
from jobs.reminder_plan import Plan, Reminder, ReminderRules, has_begun, keys_of, plan
from jobs.supervisor import Worker
from storage import reminder_claims, schedule
from storage.database import Database
from storage.models import Case, CaseStatus, Hearing, HearingStatus
from storage.queue import SendingBroadcast

logger = logging.getLogger(__name__)

JOB_PREFIX = "reminder:"
RECONCILE_INTERVAL = 300.0  # seconds
# Hearings this far in the past are still looked at, to count reminders dropped while down.
LOOK_BACK = timedelta(days=2)


class Timers(Protocol):
    """The scheduler the reminder jobs run on (APScheduler, through PTB's JobQueue)."""

    def once(self, name: str, when: datetime, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` at ``when``, however late the scheduler gets to it; a job of the same
        name is replaced."""

    def cancel(self, name: str) -> None:
        """Remove the job of this name, if any."""

    def names(self) -> set[str]:
        """The names of the jobs waiting to run."""

    def next_run(self, prefix: str) -> datetime | None:
        """When the next job whose name starts with ``prefix`` runs."""


class ReminderWording(Protocol):
    """A reminder's text (the bot's words, in HTML, in a language)."""

    languages: tuple[str, ...]
    default_language: str

    def __call__(self, language: str, case: Case, hearing: Hearing, now: datetime) -> str:
        """The reminder of ``hearing`` as a chat reading ``language`` sees it at ``now``."""


class Reminders:
    """The reminders of every scheduled hearing, as jobs that queue them when due."""

    def __init__(
        self,
        *,
        database: Database,
        timers: Timers,
        wording: ReminderWording,
        rules: ReminderRules,
        clock: Callable[[], datetime],
        outage: Outage,
        wake: Callable[[], None],
    ) -> None:
        self.database = database
        self.timers = timers
        self.wording = wording
        self.rules = rules
        self.clock = clock
        self.outage = outage
        self._wake_engine = wake
        self._changed = asyncio.Event()
        # Set once the jobs match the database (cleared while this instance stands by).
        self.planned = asyncio.Event()
        self._running = False
        # Changes asked to be planned, and how many of them were when the last plan was made.
        self._asked = self._answered = 0
        self._progress = asyncio.Condition()

    def changed(self) -> None:
        """The schedule changed (on another instance, or the database is back): plan again."""
        self._changed.set()

    async def replan(self) -> None:
        """The schedule changed here: plan again, and wait until the jobs match it (when this
        instance reminds), so that whoever changed it is answered after."""
        self._asked += 1
        asked = self._asked
        self._changed.set()
        async with self._progress:
            await self._progress.wait_for(lambda: not self._running or self._answered >= asked)

    async def run(self, worker: Worker) -> None:
        """The active instance's reminder work: plan now, then after every change and every few
        minutes; no job is left behind when it stops."""
        self._running = True
        try:
            while True:
                worker.beat()
                self._changed.clear()
                asked = self._asked
                with self.outage.absorbed():  # planned again when the database is back
                    await self.reconcile()
                    self.planned.set()
                async with self._progress:
                    self._answered = asked
                    self._progress.notify_all()
                try:
                    async with asyncio.timeout(RECONCILE_INTERVAL):
                        await self._changed.wait()
                except TimeoutError:
                    pass
        finally:
            self._running = False
            self.planned.clear()
            self.clear()
            async with self._progress:
                self._progress.notify_all()

    def clear(self) -> None:
        """Remove every reminder job (this instance stands by: another one reminds)."""
        for name in self.timers.names():
            if name.startswith(JOB_PREFIX):
                self.timers.cancel(name)

    def next_due(self) -> datetime | None:
        """When the next reminder job fires (None when none is planned here)."""
        return self.timers.next_run(JOB_PREFIX)

    async def reconcile(self) -> Plan:
        """Make the jobs match the database; send what fell due while no instance reminded."""
        now = self.clock()
        async with self.database.reading() as session:
            hearings = await schedule.scheduled_since(session, now - LOOK_BACK)
            handled = await reminder_claims.handled_reminders(
                session, keys_of(hearings, self.rules)
            )
        result = plan(hearings, self.rules, now, handled)
        wanted = {reminder.job_id for reminder in result.schedule}
        for name in self.timers.names():
            if name.startswith(JOB_PREFIX) and name not in wanted:
                self.timers.cancel(name)
        for reminder in result.schedule:
            self.timers.once(reminder.job_id, reminder.due, self._firing(reminder))
        for reminder in result.send_now:
            await self.send(reminder)
        if result.skipped or result.dropped:
            await self._mark_handled(result.skipped + result.dropped)
        if result.dropped:
            logger.warning(
                "%d reminders fell due while the bot was down and their hearings have begun:"
                " dropped",
                len(result.dropped),
            )
        if result.skipped:
            logger.info(
                "%d overdue reminders superseded by a later one: skipped", len(result.skipped)
            )
        return result

    def _firing(self, reminder: Reminder) -> Callable[[], Awaitable[None]]:
        async def fire() -> None:
            # An outage: the reminder goes out after it (the end of an outage plans again).
            with self.outage.absorbed():
                await self.send(reminder)

        return fire

    async def _mark_handled(self, reminders: list[Reminder]) -> None:
        async with self.database.writing() as session:
            for reminder in reminders:
                hearing = await session.get(Hearing, reminder.hearing_id)
                if hearing is not None:
                    await reminder_claims.skip_reminder(
                        session, key=reminder.key, case_id=hearing.case_id, now=self.clock()
                    )

    async def send(self, reminder: Reminder) -> int | None:
        """Queue a reminder for its chats, unless it is stale or handled; how many chats, or
        None."""
        now = self.clock()
        async with self.database.writing() as session:
            hearing = await session.get(Hearing, reminder.hearing_id)
            if (
                hearing is None
                or hearing.status != HearingStatus.SCHEDULED
                or hearing.starts_at != reminder.starts_at
            ):
                return None  # the hearing moved or ended; reconcile replaced or removed its job
            case = await schedule.get_case(session, hearing.case_id)
            if case is None or case.status != CaseStatus.ACTIVE:
                return None
            if has_begun(hearing, now):
                await reminder_claims.skip_reminder(
                    session, key=reminder.key, case_id=case.id, now=now
                )
                logger.warning("reminder %s came after its hearing began: dropped", reminder.key)
                return None
            wording = self.wording
            broadcast = await reminder_claims.start_reminder(
                session,
                key=reminder.key,
                case=case,
                hearing=hearing,
                offset=reminder.offset,
                merged=reminder.merged,
                due=reminder.due,
                text=wording(wording.default_language, case, hearing, now),
                texts={code: wording(code, case, hearing, now) for code in wording.languages},
                now=now,
            )
        if broadcast is None:
            return None
        self._wake_engine()
        logger.info("reminder %s queued for %d chats", reminder.key, broadcast.total)
        return broadcast.total

    def prepare(self, broadcast: SendingBroadcast, language: str | None, text: str) -> str | None:
        """The delivery engine's hook: a reminder is rendered again as each chat's turn comes, so
        that "starts in 2 hours" holds when it arrives (a reminder to thousands of chats at 30 a
        second takes minutes), and none goes once its hearing has begun (after a crash or an
        outage). Any other broadcast goes as it was stored."""
        reminder = broadcast.reminder
        if reminder is None:
            return text
        hearing = reminder.hearing()
        now = self.clock()
        if has_begun(hearing, now):
            return None
        wording = self.wording
        code = language if language in wording.languages else wording.default_language
        return wording(code, reminder.case(), hearing, now)
