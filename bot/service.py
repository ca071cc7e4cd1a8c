"""One running bot instance: its HTTP server, its role among instances, and its background work.

``hearing-watch run`` is one Service. It serves /healthz and /metrics from the start, connects to
the Bot API (waiting as long as it takes), then competes for leadership: the active instance
receives updates in polling mode, sends (the delivery engine), reminds and shows progress; a
standby serves health and, in webhook mode, handles the updates Telegram posts to it, which only
touch the database. Everything it runs in the background is supervised: restarted if it dies,
visible in health if it stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import uvicorn
from prometheus_client import generate_latest
from telegram import Update
from telegram.error import NetworkError, TelegramError

from bot import bot_api, reminders
from bot.app import build_application
from bot.context import HearingWatchApp
from bot.handlers import broadcasts, privacy
from bot.menus import set_default_menu, set_staff_menu
from bot.settings import Settings
from bot.web import UnavailableError, Webhook, web_app
from jobs.outage import backoff, is_database_outage
from jobs.supervisor import Supervisor, Worker
from storage import calendar, deliveries
from storage.leadership import FileLeadership, leadership_for
from storage.models import utcnow
from storage.staff import staff_members

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
LEADERSHIP_INTERVAL = 1.0  # seconds between checks of the lock (and tries for a standby)
PROBE_INTERVAL = 30.0  # a standby that polls nothing asks Telegram getMe this often
HEALTH_TIMEOUT = 2.0  # seconds /healthz waits for the database's figures
# During an outage the probe checks whether the database can be written again: long enough for
# SQLite's busy timeout (5 s), so that a lock held that long still reads as an outage.
RECOVERY_PROBE_TIMEOUT = 8.0
# Telegram out of reach for this long makes the instance unhealthy (a blip is not worth an alert).
BOT_API_GRACE = 60.0
POLL_TIMEOUT = 10  # seconds of a getUpdates long poll
PAUSED_RELOAD = 60.0  # seconds between reads of the unreachable chats (others mark them too)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ListenError(Exception):
    """The HTTP server cannot listen where [server] says."""


class Service:
    """A bot instance, from start to a clean stop."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.app: HearingWatchApp = build_application(settings, clock=clock)
        self.data = data = self.app.bot_data
        data.signals = self
        self.leadership = leadership_for(settings.database.url, data.database.engine)
        self.leadership.listen(self._on_announcement)
        self.supervisor = Supervisor()
        data.database_outage.on_recovery.append(self._after_database_outage)
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._reconcile_task: asyncio.Task[None] | None = None
        self._connected = False
        self.port: int | None = None
        self.became_active = asyncio.Event()

    @property
    def holder(self) -> str:
        """This instance's name in the deliveries' leases and in announcements."""
        return self.data.engine.holder

    @property
    def active(self) -> bool:
        return self.data.status.role == "active"

    # --- start and stop --------------------------------------------------------------------

    async def claim(self) -> None:
        """On SQLite, make sure no other instance uses the file: AnotherInstanceError if one
        does. Before anything else, so that a second instance changes nothing."""
        if isinstance(self.leadership, FileLeadership):
            await self.leadership.acquire()

    async def start(self) -> None:
        """Listen for health checks, reach Telegram, and begin competing for leadership."""
        await self.claim()
        await self._start_http()
        await bot_api.connect(self.app, self.settings.telegram.base_url)
        self._connected = True
        await self.data.sending_bot.initialize()
        await self.app.start()  # handles updates (webhook posts), runs the job queue
        self.data.status.role = "standby"
        await self._load_paused_chats()
        await self._set_menus()
        self.supervisor.start("leadership", self._lead, stall_after=60.0)
        self.supervisor.start("bot-api-probe", self._probe, stall_after=None)
        self.supervisor.start("database-probe", self._watch_database, stall_after=None)

    async def stop(self) -> None:
        """Stop receiving, let the sends under way finish and record them, release the lock."""
        was = self.data.status.role
        self.data.status.role = "stopping"
        await self.supervisor.stop("leadership")
        await self.supervisor.stop("bot-api-probe")
        await self.supervisor.stop("database-probe")
        await self.supervisor.stop("polling")
        await self.supervisor.stop("webhook")
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
        reminders.deactivate(self.app)
        broadcasts.deactivate(self.app)
        privacy.deactivate(self.app)
        if self._server is not None:
            self._server.should_exit = True
        if self.app.running:
            await self.app.stop()
        if was == "active":
            await self._stop_sending()
        with contextlib.suppress(Exception):  # the lock goes with the connection anyway
            await self.leadership.release()
        await self.supervisor.stop_all()
        if self._server_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server_task, 5.0)
        if self._connected:
            await self.app.shutdown()
            await self.data.sending_bot.shutdown()
        await self.data.database.dispose()

    async def _start_http(self) -> None:
        host, port = self.settings.server.host, self.settings.server.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ListenError(
                f"cannot listen on {host}:{port} ({exc.strerror}); change [server] host or port"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
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
            asgi, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=3
        )
        self._server = _Server(config)
        self._server_task = asyncio.create_task(self._server.serve([sock]), name="http")
        # uvicorn offers no event for "listening"; it binds at once, this is a few turns.
        while not self._server.started and not self._server_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        logger.info("HTTP server on %s:%s (/healthz, /metrics, /calendar)", host, self.port)

    async def _load_paused_chats(self) -> None:
        """Which chats are marked unreachable: kept in memory, so updates need not ask. Another
        instance's engine marks chats too, so this is read again every minute."""
        try:
            async with self.data.database.reading() as session:
                await self.data.paused_chats.load(session)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            self.data.database_outage.failed(exc)

    async def _set_menus(self) -> None:
        # Menus are a convenience: a Bot API server that refuses them costs a warning.
        default = self.settings.i18n.default_language
        await set_default_menu(self.app.bot, default)
        try:
            async with self.data.database.reading() as session:
                members = await staff_members(session, self.settings.access.admins)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            self.data.database_outage.failed(exc)
            return
        for user_id, role in members:
            await set_staff_menu(self.app.bot, user_id, role, default)

    async def wait_active(self) -> None:
        """Until this instance is active and has planned the reminders (for tests and benches)."""
        await self.became_active.wait()
        if self._reconcile_task is not None:
            await asyncio.wait([self._reconcile_task])

    # --- leadership --------------------------------------------------------------------------

    async def _lead(self, worker: Worker) -> None:
        """Become active when the lock is free; stand by again if it is lost."""
        attempt = 0
        while True:
            worker.beat()
            try:
                if self.active:
                    if not await self.leadership.holds():
                        logger.error("lost the database lock that made this instance active")
                        await self._deactivate()
                elif await self.leadership.acquire():
                    await self._activate()
                attempt = 0
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                self.data.database_outage.failed(exc)
                attempt += 1
                await asyncio.sleep(backoff(attempt))
                continue
            await asyncio.sleep(LEADERSHIP_INTERVAL)

    async def _activate(self) -> None:
        logger.info("this instance is now the active one")
        data = self.data
        data.status.role = "active"
        data.metrics.active.set(1)
        self.supervisor.start("delivery", self._deliver, stall_after=60.0)
        broadcasts.activate(self.app)
        privacy.activate(self.app)
        if self.settings.telegram.mode == "polling":
            self.supervisor.start("polling", self._poll, stall_after=None)
        else:
            self.supervisor.start("webhook", self._register_webhook, stall_after=None)
        self._reconcile_soon()
        self.became_active.set()

    async def _deactivate(self) -> None:
        self.data.status.role = "standby"
        self.data.metrics.active.set(0)
        self.became_active.clear()
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
        reminders.deactivate(self.app)
        broadcasts.deactivate(self.app)
        privacy.deactivate(self.app)
        await self.supervisor.stop("polling")
        await self.supervisor.stop("webhook")
        await self._stop_sending()
        logger.info("this instance stands by")

    async def _stop_sending(self) -> None:
        # The engine finishes the sends under way, records them and releases its leases.
        grace = self.data.engine.settings.stop_grace
        await self.supervisor.stop("delivery", grace=grace + 5.0)

    # --- the active instance's work --------------------------------------------------------

    async def _deliver(self, worker: Worker) -> None:
        await self.data.engine.run(beat=worker.beat)

    async def _poll(self, worker: Worker) -> None:
        """Receive updates by long polling while active; PTB retries network failures itself."""
        updater = self.app.updater
        assert updater is not None
        # A fresh connection: stopping an earlier poll cancels its request mid-flight, which can
        # leave the one-connection pool occupied for good.
        await self.data.updates_request.shutdown()
        await self.data.updates_request.initialize()
        await updater.start_polling(
            timeout=POLL_TIMEOUT,
            allowed_updates=ALLOWED_UPDATES,
            bootstrap_retries=-1,
            error_callback=self._polling_failed,
        )
        try:
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
            self.data.polling_outage.failed(exc)

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
                await asyncio.sleep(backoff(attempt) * 4)
        logger.info("webhook set: Telegram posts updates to %s", telegram.webhook_url)
        await asyncio.Event().wait()  # nothing more to do; stopped with the role

    async def _probe(self, worker: Worker) -> None:
        """Keep in touch with Telegram when nothing else calls it (a standby in polling mode)."""
        outage = self.data.bot_api_outage
        while True:
            worker.beat()
            last = outage.last_ok
            if last is None or time.monotonic() - last > PROBE_INTERVAL:
                with contextlib.suppress(TelegramError):  # the request reported it
                    await self.app.bot.get_me()
            await asyncio.sleep(PROBE_INTERVAL / 3)

    async def _watch_database(self, worker: Worker) -> None:
        """During an outage, find out when the database can be written again, even if no other
        work would notice (an idle engine): its end is what sends the overdue reminders."""
        outage = self.data.database_outage
        attempt = 0
        last_load = time.monotonic()
        while True:
            worker.beat()
            engine = self.data.engine
            if not self.active and engine.has_leftovers and not outage.down:
                try:
                    await engine.flush_leftovers()
                except Exception as exc:
                    if not is_database_outage(exc):
                        raise
                    outage.failed(exc)
            if not outage.down:
                attempt = 0
                if time.monotonic() - last_load > PAUSED_RELOAD:
                    last_load = time.monotonic()
                    await self._load_paused_chats()
                await asyncio.sleep(1.0)
                continue
            try:
                async with asyncio.timeout(RECOVERY_PROBE_TIMEOUT):
                    await self.data.database.probe_write()
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                outage.failed(exc)
                attempt += 1
                await asyncio.sleep(backoff(attempt))
            else:
                outage.ok()

    def _reconcile_soon(self) -> None:
        """Rebuild the reminder jobs in the background (once, however often asked meanwhile)."""
        if self._reconcile_task is not None and not self._reconcile_task.done():
            return
        self._reconcile_task = asyncio.create_task(self._reconcile(), name="reconcile")

    async def _reconcile(self) -> None:
        if not self.active:
            return
        try:
            if not reminders.is_active(self.app):
                await reminders.activate(self.app)
            else:
                await reminders.reconcile(self.app)
            if not self.active:  # stood down meanwhile: a standby keeps no reminder jobs
                reminders.deactivate(self.app)
        except Exception as exc:
            if not is_database_outage(exc):
                logger.exception("could not plan the reminders")
                return
            # Planned again when the database is back (see _after_database_outage).
            self.data.database_outage.failed(exc)

    def _after_database_outage(self) -> None:
        # Reminders that fell due during the outage go out now (if their hearing is ahead).
        if self.active:
            self._reconcile_soon()
            self.data.engine.wake()

    # --- signals from handlers (bot.context.Signals) --------------------------------------

    async def deliveries_queued(self) -> None:
        if self.active:
            self.data.engine.wake()
        await self._announce("deliveries")

    async def schedule_changed(self) -> None:
        if self.active:
            try:
                await reminders.reconcile(self.app)
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                # The change is stored; the reminders are planned when the database is back.
                self.data.database_outage.failed(exc)
        await self._announce("schedule")

    async def _announce(self, topic: str) -> None:
        try:
            await self.leadership.announce(f"{topic}:{self.holder}")
        except Exception as exc:  # the engine's poll and the periodic reconcile catch up
            if not is_database_outage(exc):
                raise
            self.data.database_outage.failed(exc)

    def _on_announcement(self, payload: str) -> None:
        topic, _, sender = payload.partition(":")
        if sender == self.holder or not self.active:
            return  # done already where it happened, or not ours to do
        if topic == "deliveries":
            self.data.engine.wake()
        elif topic == "schedule":
            self._reconcile_soon()

    # --- health and metrics ----------------------------------------------------------------

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether this instance is well, and the figures an operator wants at a glance."""
        data = self.data
        now = data.clock()
        problems: list[str] = []
        report: dict[str, Any] = {"status": "ok", "role": data.status.role}
        figures = None
        try:
            # Only a read: the database-probe worker finds the end of an outage (a write, since
            # reads can pass a locked SQLite file); a health check changes nothing.
            async with asyncio.timeout(HEALTH_TIMEOUT), data.database.reading() as session:
                figures = await deliveries.queue_figures(session)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            data.database_outage.failed(exc)
        if data.database_outage.down:
            problems.append(f"database unreachable: {data.database_outage.reason}")
        if not self._connected:
            problems.append("not yet connected to the Bot API")
        api = data.bot_api_outage
        if api.down_since is not None and time.monotonic() - api.down_since > BOT_API_GRACE:
            problems.append(
                f"no contact with the Bot API for {time.monotonic() - api.down_since:.0f} s:"
                f" {api.reason}"
            )
        problems += self.supervisor.problems()
        report["database"] = "unreachable" if data.database_outage.down else "ok"
        report["bot_api"] = "unreachable" if api.down else "ok"
        if figures is not None:
            report["pending_deliveries"] = figures.pending
            oldest = figures.oldest_started_at
            report["oldest_pending_seconds"] = (
                round((now - oldest).total_seconds(), 1) if oldest else None
            )
        last = data.status.last_update_at
        report["last_update_at"] = last.isoformat() if last else None
        next_due = reminders.next_due(self.app) if self.active else None
        report["next_reminder_at"] = next_due.isoformat() if next_due else None
        if data.status.role in ("starting", "stopping"):
            problems.append(f"instance is {data.status.role}")
        if problems:
            report["status"] = "unhealthy"
            report["problems"] = problems
        return not problems, report

    async def case_calendar(self, case_id: str) -> bytes | None:
        """A case's calendar feed (GET /calendar/<case-id>.ics); None when there is no such case.

        Any instance serves it, active or standby: it only reads the database.
        """
        try:
            async with self.data.database.reading() as session:
                return await calendar.case_calendar(
                    session,
                    case_id,
                    now=self.data.clock(),
                    domain=self.settings.server.calendar_domain,
                )
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            self.data.database_outage.failed(exc)
            raise UnavailableError from None

    async def metrics_page(self) -> bytes:
        """Prometheus' text format; the queue is read from the database as it is scraped."""
        metrics = self.data.metrics
        metrics.active.set(1 if self.active else 0)
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT), self.data.database.reading() as session:
                figures = await deliveries.queue_figures(session)
            metrics.queue_depth.set(figures.pending)
            oldest = figures.oldest_started_at
            age = (self.data.clock() - oldest).total_seconds() if oldest else 0.0
            metrics.oldest_pending.set(max(0.0, age))
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            self.data.database_outage.failed(exc)
        return generate_latest(metrics.registry)
