"""One running bot instance: its role among instances, and the work each role runs.

``hearing-watch run`` is one Instance. It serves HTTP (/healthz, /metrics, calendars) from the
start, connects to the Bot API (waiting as long as it takes), then stands by and competes for
leadership; the one that holds it is active. What runs in which role is one table, ``WORK``:
becoming active, standing down and stopping all go through it, and the role says active only
once the active work runs. Every piece of work is a worker of the supervisor: restarted if it
dies, visible in /healthz if it stalls.

A standby serves health and, in webhook mode, the updates Telegram posts to it, which only touch
the database; a change it makes reaches the active instance at once (LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import uvicorn
from prometheus_client import generate_latest
from telegram import Update
from telegram.error import NetworkError, TelegramError

from bot.menus import set_default_menu, set_staff_menu
from bot.webhook import Webhook
from jobs.outage import RETRY, Backoff
from jobs.reminders import RECONCILE_INTERVAL
from jobs.supervisor import Supervisor, Worker, WorkerFn
from service import bot_api
from service.feeds import BusyError, CalendarFeeds, Feed
from service.http import UnavailableError, web_app
from service.settings import Settings
from service.wiring import build
from storage import calendar, staff
from storage.leadership import FileLeadership, leadership_for
from storage.models import utcnow
from storage.queue import QueueFigures, queue_figures

logger = logging.getLogger(__name__)

Role = Literal["starting", "standby", "active", "stopping"]
# What Telegram sends the bot: without channel_post and my_chat_member a channel's commands, and
# news that the bot was removed from a chat or lost its right to post, never arrive.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.CHANNEL_POST,
    Update.MY_CHAT_MEMBER,
]
LEADERSHIP_INTERVAL = 1.0  # seconds between checks of the lock (and tries for a standby)
PROBE_INTERVAL = 30.0  # a standby that polls nothing asks Telegram getMe this often
# During an outage the probe checks whether the database can be written again: long enough for
# SQLite's busy timeout (5 s), so that a lock held that long still reads as an outage.
RECOVERY_PROBE_TIMEOUT = 8.0
FIGURES_INTERVAL = 5.0  # seconds between reads of the queue's figures for health and metrics
# Telegram out of reach for this long makes the instance unhealthy (a blip is not worth an alert).
BOT_API_GRACE = 60.0
POLL_TIMEOUT = 10  # seconds of a getUpdates long poll
PAUSED_RELOAD = 60.0  # seconds between reads of the unreachable chats (others mark them too)
WEBHOOK_RETRY = Backoff(first=2.0, cap=20.0)  # setWebhook refused: try again, patiently

ALWAYS: frozenset[Role] = frozenset({"starting", "standby", "active", "stopping"})
SERVING: frozenset[Role] = frozenset({"standby", "active"})
ACTIVE: frozenset[Role] = frozenset({"active"})


@dataclass(frozen=True)
class Work:
    """One piece of an instance's background work, and the roles it runs in."""

    name: str
    run: WorkerFn
    roles: frozenset[Role]
    # No heartbeat for this long is reported as stalled; None: the worker waits by design.
    stall_after: float | None = 60.0
    # How long its own clean-up may take when it is stopped.
    grace: float | None = None


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the instance stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ListenError(Exception):
    """The HTTP server cannot listen where [server] says."""


class Instance:
    """A bot instance, from start to a clean stop."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.parts = parts = build(settings, signals=self, clock=clock)
        self.app = parts.app
        self.role: Role = "starting"
        self.leadership = leadership_for(
            settings.database.url.get_secret_value(), parts.database.engine
        )
        self.leadership.listen(self._on_announcement)
        self.supervisor = Supervisor()
        parts.database_outage.on_recovery.append(self._after_database_outage)
        self.port: int | None = None
        self._socket: socket.socket | None = None
        self._connected = False
        self._figures: QueueFigures | None = None
        self.became_active = asyncio.Event()
        self._changing_role = asyncio.Lock()
        # The HTTP side's calendar feeds: cached, and on their own small share of the database.
        self.feeds = CalendarFeeds(self._build_calendar, self._case_ids)
        self.work = self._work_table()

    def _work_table(self) -> tuple[Work, ...]:
        """What this instance runs, in which roles; started in this order, stopped in reverse."""
        parts = self.parts
        receive = (
            Work("polling", self._poll, ACTIVE, stall_after=None)
            if self.settings.telegram.mode == "polling"
            else Work("webhook", self._register_webhook, ACTIVE, stall_after=None)
        )
        return (
            Work("http", self._serve_http, ALWAYS, stall_after=None),
            Work("leadership", self._lead, SERVING),
            Work("bot-api-probe", self._probe_bot_api, SERVING, stall_after=None),
            Work("database-probe", self._watch_database, SERVING),
            # The engine finishes the sends under way, records them and releases its leases.
            Work(
                "delivery",
                self._deliver,
                ACTIVE,
                grace=parts.engine.settings.stop_grace + 5.0,
            ),
            receive,
            Work("reminders", parts.reminders.run, ACTIVE, stall_after=2 * RECONCILE_INTERVAL),
            Work("progress", parts.progress.run, ACTIVE),
            Work("purge", parts.purge.run, ACTIVE, stall_after=None),
        )

    @property
    def holder(self) -> str:
        """This instance's name in the deliveries' leases and in announcements."""
        return self.parts.engine.holder

    @property
    def active(self) -> bool:
        return self.role == "active"

    # --- start and stop --------------------------------------------------------------------

    async def claim(self) -> None:
        """On SQLite, make sure no other instance uses the file: AnotherInstanceError if one
        does. Before anything else, so that a second instance changes nothing."""
        if isinstance(self.leadership, FileLeadership):
            await self.leadership.acquire()

    async def start(self) -> None:
        """Listen for health checks, reach Telegram, and stand by for leadership."""
        await self.claim()
        self._socket = self._listen()
        await self._enter("starting")
        await bot_api.connect(self.app, self.settings.telegram.base_url)
        self._connected = True
        await self.parts.sending_bot.initialize()
        await self.app.start()  # handles updates (webhook posts), runs the job queue
        await self._load_paused_chats()
        await self._refresh_figures()
        await self._set_menus()
        await self._enter("standby")

    async def stop(self) -> None:
        """Stop receiving, let the sends under way finish and record them, release the lock."""
        await self._enter("stopping")
        if self.app.running:
            await self.app.stop()
        with self.parts.database_outage.absorbed():  # the lock goes with the connection anyway
            await self.leadership.release()
        await self.supervisor.stop("http")
        if self._connected:
            await self.app.shutdown()
            await self.parts.sending_bot.shutdown()
        await self.parts.database.dispose()

    async def _enter(self, role: Role) -> None:
        """Run what ``role`` runs and stop the rest (the table, in reverse). The role changes
        before work stops (health says standby or stopping meanwhile) and after work starts
        (it says active only once the active work runs). One change at a time: a stop waits
        for an activation under way, and then undoes it."""
        async with self._changing_role:
            await self._change_role(role)

    async def _change_role(self, role: Role) -> None:
        if role != "active":
            self.role = role
            self.parts.metrics.active.set(0)
            self.became_active.clear()
        for work in reversed(self.work):
            if role not in work.roles and self.supervisor.running(work.name):
                await self.supervisor.stop(work.name, grace=work.grace)
        for work in self.work:
            if role in work.roles and not self.supervisor.running(work.name):
                self.supervisor.start(work.name, work.run, stall_after=work.stall_after)
        if role == "active":
            self.role = role
            self.parts.metrics.active.set(1)
            self.became_active.set()

    async def wait_active(self) -> None:
        """Until this instance is active and has planned the reminders (for tests and benches)."""
        await self.became_active.wait()
        await self.parts.reminders.planned.wait()

    # --- every role ------------------------------------------------------------------------

    def _listen(self) -> socket.socket:
        host, port = self.settings.server.host, self.settings.server.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, self.port or port))
        except OSError as exc:
            sock.close()
            raise ListenError(
                f"cannot listen on {host}:{port} ({exc.strerror}); change [server] host or port"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        return sock

    async def _serve_http(self, _worker: Worker) -> None:
        """Serve /healthz, /metrics, calendars and the webhook until stopped."""
        if self._socket is None or self._socket.fileno() == -1:
            self._socket = self._listen()  # uvicorn closed it when it ended
        telegram = self.settings.telegram
        webhook = None
        if telegram.mode == "webhook":
            assert telegram.webhook_secret is not None  # the settings insist
            webhook = Webhook(
                telegram.webhook_path, telegram.webhook_secret.get_secret_value(), self.app
            )
        asgi = web_app(
            health=self.health,
            metrics=self.metrics_page,
            calendar=self.case_calendar,
            webhook=webhook,
        )
        config = uvicorn.Config(
            asgi,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            # Behind a proxy on this machine, a request's client is the address the proxy names
            # in X-Forwarded-For: the webhook throttles failed calls per real source address.
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
        )
        server = _Server(config)
        # Owned here: awaited to its end, gracefully when this worker is stopped.
        serving = asyncio.ensure_future(server.serve([self._socket]))
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            server.should_exit = True
            await serving
            raise
        if not server.should_exit:
            raise RuntimeError("the HTTP server ended by itself")

    async def _load_paused_chats(self) -> None:
        """Which chats are marked unreachable: kept in memory, so updates need not ask. Another
        instance's engine marks chats too, so this is read again every minute."""
        with self.parts.database_outage.absorbed():
            async with self.parts.database.reading() as session:
                await self.parts.paused_chats.load(session)

    async def _refresh_figures(self) -> None:
        """Read the queue's figures for health and metrics (which only read this snapshot)."""
        with self.parts.database_outage.absorbed():
            async with self.parts.database.reading() as session:
                self._figures = await queue_figures(session)

    async def _set_menus(self) -> None:
        # Menus are a convenience: a Bot API server that refuses them costs a warning.
        default = self.settings.i18n.default_language
        await set_default_menu(self.app.bot, default)
        with self.parts.database_outage.absorbed():
            async with self.parts.database.reading() as session:
                members = await staff.staff_members(session, self.settings.access.admins)
            for user_id, role in members:
                await set_staff_menu(self.app.bot, user_id, role, default)

    async def _lead(self, worker: Worker) -> None:
        """Become active when the lock is free; stand by again if it is lost."""
        outage = self.parts.database_outage
        attempt = 0
        while True:
            worker.beat()
            with outage.absorbed() as check:
                if self.active:
                    if not await self.leadership.holds():
                        logger.error("lost the database lock that made this instance active")
                        await self._stand_by()
                elif self.role == "standby" and await self.leadership.acquire():
                    logger.info("this instance is now the active one")
                    await self._enter("active")
            attempt = attempt + 1 if check.failed else 0
            await asyncio.sleep(RETRY.delay(attempt) if attempt else LEADERSHIP_INTERVAL)

    async def _stand_by(self) -> None:
        await self._enter("standby")
        logger.info("this instance stands by")

    async def _probe_bot_api(self, worker: Worker) -> None:
        """Keep in touch with Telegram when nothing else calls it (a standby in polling mode)."""
        outage = self.parts.bot_api_outage
        while True:
            worker.beat()
            last = outage.last_ok
            if last is None or time.monotonic() - last > PROBE_INTERVAL:
                with contextlib.suppress(TelegramError):  # the request reported it
                    await self.app.bot.get_me()
            await asyncio.sleep(PROBE_INTERVAL / 3)

    async def _watch_database(self, worker: Worker) -> None:
        """Keep health's figures fresh and the paused chats in step; during an outage, find out
        when the database can be written again, even if no other work would notice (an idle
        engine): its end is what sends the overdue reminders."""
        parts = self.parts
        outage = parts.database_outage
        attempt = 0
        last_load = last_figures = time.monotonic()
        while True:
            worker.beat()
            engine = parts.engine
            if not self.active and engine.has_leftovers and not outage.down:
                with outage.absorbed():
                    await engine.flush_leftovers()
            if not outage.down:
                attempt = 0
                if time.monotonic() - last_load > PAUSED_RELOAD:
                    last_load = time.monotonic()
                    await self._load_paused_chats()
                if time.monotonic() - last_figures > FIGURES_INTERVAL:
                    last_figures = time.monotonic()
                    await self._refresh_figures()
                await asyncio.sleep(1.0)
                continue
            with outage.absorbed() as probe:
                # Reads can pass while writes fail (a locked SQLite file): only a write ends it.
                async with asyncio.timeout(RECOVERY_PROBE_TIMEOUT):
                    await parts.database.probe_write()
            if probe.failed:
                attempt += 1
                await asyncio.sleep(RETRY.delay(attempt))
            else:
                outage.ok()
                await self._refresh_figures()

    # --- the active instance's work ----------------------------------------------------------

    async def _deliver(self, worker: Worker) -> None:
        await self.parts.engine.run(beat=worker.beat)

    async def _poll(self, worker: Worker) -> None:
        """Receive updates by long polling while active; PTB retries network failures itself."""
        updater = self.app.updater
        assert updater is not None
        # A fresh connection: stopping an earlier poll cancels its request mid-flight, which can
        # leave the one-connection pool occupied for good.
        await self.parts.updates_request.shutdown()
        await self.parts.updates_request.initialize()
        try:
            await updater.start_polling(
                timeout=POLL_TIMEOUT,
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=-1,
                error_callback=self._polling_failed,
            )
            while updater.running:
                worker.beat()
                await asyncio.sleep(1.0)
        finally:
            if updater.running:
                await updater.stop()

    def _polling_failed(self, exc: TelegramError) -> None:
        # A network failure was reported by the request already (as the Bot API's outage);
        # this is Telegram refusing: 409 while a webhook is set or another process polls.
        if not isinstance(exc, NetworkError):
            self.parts.polling_outage.failed(exc)

    async def _register_webhook(self, _worker: Worker) -> None:
        """Tell Telegram where to post updates, with the secret; until it accepts."""
        telegram = self.settings.telegram
        assert telegram.webhook_url is not None
        assert telegram.webhook_secret is not None
        attempt = 0
        while True:
            try:
                await self.app.bot.set_webhook(
                    telegram.webhook_url,
                    secret_token=telegram.webhook_secret.get_secret_value(),
                    allowed_updates=ALLOWED_UPDATES,
                )
                break
            except TelegramError as exc:
                attempt += 1
                logger.warning("setWebhook failed (%s); trying again", exc.message)
                await asyncio.sleep(WEBHOOK_RETRY.delay(attempt))
        logger.info("webhook set: Telegram posts updates to %s", telegram.webhook_url)
        await asyncio.Event().wait()  # nothing more to do; stopped with the role

    def _after_database_outage(self) -> None:
        # Reminders that fell due during the outage go out now (if their hearing is ahead).
        if self.active:
            self.parts.reminders.changed()
            self.parts.engine.wake()

    # --- signals from handlers (bot.context.Signals) --------------------------------------

    async def deliveries_queued(self) -> None:
        if self.active:
            self.parts.engine.wake()
        await self._announce("deliveries")

    async def schedule_changed(self) -> None:
        self.feeds.invalidate()
        if self.active:
            await self.parts.reminders.replan()
        await self._announce("schedule")

    async def _announce(self, topic: str) -> None:
        # An outage: the engine's poll and the periodic reconciliation catch up.
        with self.parts.database_outage.absorbed():
            await self.leadership.announce(f"{topic}:{self.holder}")

    def _on_announcement(self, payload: str) -> None:
        topic, _, sender = payload.partition(":")
        if topic == "schedule":
            self.feeds.invalidate()  # every instance serves calendars
        if sender == self.holder or not self.active:
            return  # done already where it happened, or not ours to do
        if topic == "deliveries":
            self.parts.engine.wake()
        elif topic == "schedule":
            self.parts.reminders.changed()

    # --- health, metrics, calendars ----------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether this instance is well, and the figures an operator wants at a glance.

        Only reads what the workers keep up to date: a health check changes nothing and never
        waits for the database.
        """
        parts = self.parts
        problems: list[str] = []
        report: dict[str, Any] = {"status": "ok", "role": self.role}
        database = parts.database_outage
        if database.down:
            problems.append(f"database unreachable: {database.reason}")
        if not self._connected:
            problems.append("not yet connected to the Bot API")
        api = parts.bot_api_outage
        if api.down_since is not None and time.monotonic() - api.down_since > BOT_API_GRACE:
            problems.append(
                f"no contact with the Bot API for {time.monotonic() - api.down_since:.0f} s:"
                f" {api.reason}"
            )
        problems += self.supervisor.problems()
        report["database"] = "unreachable" if database.down else "ok"
        report["bot_api"] = "unreachable" if api.down else "ok"
        figures = self._figures
        if figures is not None:
            report["pending_deliveries"] = figures.pending
            oldest = figures.oldest_started_at
            report["oldest_pending_seconds"] = (
                round((parts.clock() - oldest).total_seconds(), 1) if oldest else None
            )
        last = parts.status.last_update_at
        report["last_update_at"] = last.isoformat() if last else None
        next_due = parts.reminders.next_due() if self.active else None
        report["next_reminder_at"] = next_due.isoformat() if next_due else None
        if self.role in ("starting", "stopping"):
            problems.append(f"instance is {self.role}")
        if problems:
            report["status"] = "unhealthy"
            report["problems"] = problems
        return not problems, report

    def metrics_page(self) -> bytes:
        """Prometheus' text format; the queue's figures as the database-probe last read them."""
        metrics = self.parts.metrics
        figures = self._figures
        if figures is not None:
            metrics.queue_depth.set(figures.pending)
            oldest = figures.oldest_started_at
            age = (self.parts.clock() - oldest).total_seconds() if oldest else 0.0
            metrics.oldest_pending.set(max(0.0, age))
        return generate_latest(metrics.registry)

    async def case_calendar(self, case_id: str) -> Feed | None:
        """A case's calendar feed (GET /calendar/<case-id>.ics); None when there is no such case.

        Any instance serves it, active or standby: it only reads the database, and mostly not
        even that (``service.feeds``).
        """
        try:
            with self.parts.database_outage.absorbed():
                return await self.feeds.feed(case_id)
        except BusyError:
            pass  # the feeds' share of the database is taken: try later
        raise UnavailableError

    async def _build_calendar(self, case_id: str) -> bytes | None:
        async with self.parts.database.reading() as session:
            return await calendar.case_calendar(
                session,
                case_id,
                now=self.parts.clock(),
                domain=self.settings.server.calendar_domain,
            )

    async def _case_ids(self) -> set[str]:
        async with self.parts.database.reading() as session:
            return await calendar.case_ids(session)
