"""The composition root: an instance's parts built from the settings, in one place.

Everything here is made once per process and handed to whoever needs it: the database, the
outages, the metrics, the delivery engine with the bot it sends with, the Application with its
handlers, and the jobs (reminders, progress reports, the purge). ``service.instance`` runs them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram.ext import ExtBot

from bot.app import build_application, defaults
from bot.broadcast_texts import ProgressWording
from bot.chat_texts import topic_gone_notice
from bot.context import HearingWatchApp, Signals, Status
from bot.paused import PausedChats
from bot.texts import ReminderWording
from jobs import logref
from jobs.delivery import DeliveryEngine, EngineSettings
from jobs.limits import Limits
from jobs.metrics import Metrics
from jobs.outage import Outage, database_outage
from jobs.progress import ProgressReports
from jobs.purge import DailyPurge
from jobs.reminders import Reminders
from jobs.sender import sending_bot, telegram_edit, telegram_send, tls_context
from service.bot_api import WatchedRequest
from service.settings import DeliverySettings, Settings, bot_config
from service.timers import JobQueueTimers
from storage.database import Database
from storage.migrate import upgrade
from storage.models import utcnow
from storage.queue import DeliveryQueue
from storage.schedule_file import SEED_FILE, seed_if_empty

logger = logging.getLogger(__name__)


async def prepare_database(settings: Settings) -> None:
    """Upgrade the schema and, into an empty schedule, load the seed."""
    database = Database(settings.database.url.get_secret_value())
    try:
        await upgrade(database.engine)
        async with database.writing() as session:
            seeded = await seed_if_empty(
                session,
                path=settings.schedule.seed_file or SEED_FILE,
                default_zone=settings.schedule.timezone,
            )
        if seeded:
            logger.info("empty schedule: loaded the seed cases")
    finally:
        await database.dispose()


def key_log_references(settings: Settings) -> None:
    """Key the log's references to chats and people with [privacy] log_key, else at random."""
    key = settings.privacy.log_key
    if key is not None:
        logref.set_key(key.get_secret_value())
        return
    logref.set_key(secrets.token_urlsafe(32))
    logger.warning(
        "no [privacy] log_key: the log's references to chats are keyed at random for this run,"
        " so they will not match those of other runs, nor `hearing-watch chat-ref`; set"
        " HEARINGWATCH_PRIVACY__LOG_KEY (`hearing-watch secret` prints one)"
    )


def engine_settings(settings: DeliverySettings) -> EngineSettings:
    """The engine's pace from the operator's [delivery] section."""
    per_second = (
        settings.paid_messages_per_second
        if settings.paid_broadcast
        else settings.messages_per_second
    )
    limits = Limits(
        per_second=per_second,
        chat_interval=1 / settings.chat_messages_per_second,
        group_per_minute=settings.group_messages_per_minute,
    )
    return EngineSettings(
        limits=limits, concurrency=settings.concurrency, max_attempts=settings.max_attempts
    )


@dataclass
class Parts:
    """One instance's services, built and connected, not yet started."""

    settings: Settings
    clock: Callable[[], datetime]
    database: Database
    metrics: Metrics
    database_outage: Outage
    bot_api_outage: Outage
    # Telegram refusing getUpdates (409: a webhook is set, or another process polls).
    polling_outage: Outage
    # getUpdates' own connection, renewed each time this instance starts polling.
    updates_request: WatchedRequest
    app: HearingWatchApp
    # Broadcasts go out through a bot of their own, with connections for every send in flight.
    sending_bot: ExtBot[None]
    engine: DeliveryEngine
    reminders: Reminders
    progress: ProgressReports
    purge: DailyPurge
    paused_chats: PausedChats
    status: Status


def build(settings: Settings, *, signals: Signals, clock: Callable[[], datetime] = utcnow) -> Parts:
    """Every part of an instance, wired; ``signals`` is how handlers reach the instance."""
    token = settings.require_token().get_secret_value()
    key_log_references(settings)
    metrics = Metrics()
    database = Database(settings.database.url.get_secret_value())
    database_away = database_outage()
    database_away.on_failure.append(metrics.database_errors.inc)
    bot_api_away = Outage("Bot API")
    polling_refused = Outage("Polling for updates")
    # The process's one TLS context, rather than a CA bundle loaded per client.
    tls = {"verify": tls_context()}
    updates_request = WatchedRequest(
        bot_api_away,
        succeeded=polling_refused,
        connection_pool_size=1,
        pool_timeout=5.0,
        httpx_kwargs=tls,
    )
    paused = PausedChats()
    sender = sending_bot(
        token,
        base_url=settings.telegram.base_url,
        defaults=defaults(),
        connections=settings.delivery.concurrency,
    )
    engine = DeliveryEngine(
        DeliveryQueue(database),
        telegram_send(sender, paid_broadcast=settings.delivery.paid_broadcast),
        engine_settings(settings.delivery),
        outage=database_away,
        bot_api=bot_api_away,
        metrics=metrics,
        on_unreachable=paused.pause,
    )
    app = build_application(
        token=token,
        base_url=settings.telegram.base_url,
        # Replies to many chats at once; a request may wait for a free connection a while.
        # Replies share Telegram's limits with broadcasts: each waits for its turn.
        request=WatchedRequest(
            bot_api_away,
            pace=engine.pace,
            throttled=engine.throttled,
            connection_pool_size=128,
            pool_timeout=10.0,
            httpx_kwargs=tls,
        ),
        updates_request=updates_request,
        observe_update=metrics.update_seconds.observe,
        dropped=lambda reason: metrics.updates_dropped.labels(reason).inc(),
    )
    default_language = settings.i18n.default_language
    reminders = Reminders(
        database=database,
        timers=JobQueueTimers(app, clock),
        wording=ReminderWording(default_language),
        rules=settings.reminders.rules,
        clock=clock,
        outage=database_away,
        wake=engine.wake,
    )
    engine.prepare = reminders.prepare
    engine.topic_notice = topic_gone_notice(default_language)
    progress = ProgressReports(
        database=database,
        edit=telegram_edit(app.bot),
        wording=ProgressWording(default_language),
        outage=database_away,
    )
    purge = DailyPurge(
        database=database,
        keep_deliveries=timedelta(days=settings.privacy.keep_deliveries_days),
        clock=clock,
        outage=database_away,
    )
    status = Status()
    data = app.bot_data
    data.config = bot_config(settings)
    data.database = database
    data.clock = clock
    data.signals = signals
    data.paused_chats = paused
    data.progress = progress
    data.database_outage = database_away
    data.status = status
    return Parts(
        settings=settings,
        clock=clock,
        database=database,
        metrics=metrics,
        database_outage=database_away,
        bot_api_outage=bot_api_away,
        polling_outage=polling_refused,
        updates_request=updates_request,
        app=app,
        sending_bot=sender,
        engine=engine,
        reminders=reminders,
        progress=progress,
        purge=purge,
        paused_chats=paused,
        status=status,
    )
