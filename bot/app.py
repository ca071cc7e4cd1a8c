"""Builds the Application: the one place handlers, services and start-up are wired."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import cast

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, Defaults

from bot import reminders
from bot.bot_api import WatchedRequest
from bot.context import CONTEXT_TYPES, HearingWatchApp, Status
from bot.handlers import (
    broadcasts,
    calendar,
    chats,
    common,
    language,
    observe,
    privacy,
    staff,
    supporters,
)
from bot.settings import DeliverySettings, Settings
from bot.updates import PerChatUpdateProcessor
from jobs import logref
from jobs.delivery import DeliveryEngine, EngineSettings
from jobs.limits import Limits
from jobs.metrics import Metrics
from jobs.outage import Outage
from jobs.sender import sending_bot, telegram_send, tls_context
from storage.database import Database
from storage.migrate import upgrade
from storage.models import utcnow
from storage.schedule_file import SEED_FILE, seed_if_empty
from storage.subscriptions import PausedChats

logger = logging.getLogger(__name__)


async def prepare_database(settings: Settings) -> None:
    """Upgrade the schema and, into an empty schedule, load the seed."""
    database = Database(settings.database.url)
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


def build_application(
    settings: Settings, *, clock: Callable[[], datetime] = utcnow
) -> HearingWatchApp:
    """The bot with its handlers and services; ``bot.service.Service`` starts and stops it."""
    token = settings.require_token().get_secret_value()
    logref.set_key(token)
    metrics = Metrics()
    database_outage = Outage("database")
    bot_api_outage = Outage("Bot API")
    # Telegram refusing getUpdates (409: a webhook is set, or another process polls).
    polling_outage = Outage("Polling for updates")
    # The process's one TLS context, rather than a CA bundle loaded per client.
    tls = {"verify": tls_context()}
    updates_request = WatchedRequest(
        bot_api_outage,
        succeeded=polling_outage,
        connection_pool_size=1,
        pool_timeout=5.0,
        httpx_kwargs=tls,
    )
    # The builder's typing loses the context type on the JobQueue; the types are the same.
    app = cast(
        HearingWatchApp,
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram.base_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        # Replies to many chats at once; a request may wait for a free connection a while.
        .request(
            WatchedRequest(
                bot_api_outage,
                # Replies share Telegram's limits with broadcasts (``data`` is set just below,
                # before any request is made).
                pace=lambda chat_id: data.engine.pace(chat_id),
                connection_pool_size=128,
                pool_timeout=10.0,
                httpx_kwargs=tls,
            )
        )
        .get_updates_request(updates_request)
        .context_types(CONTEXT_TYPES)
        # 200 chats writing at once would otherwise queue behind each other (bot/updates.py).
        .concurrent_updates(PerChatUpdateProcessor(observe=metrics.update_seconds.observe))
        .build(),
    )
    data = app.bot_data
    data.settings = settings
    data.clock = clock
    data.metrics = metrics
    database_outage.on_failure.append(metrics.database_errors.inc)
    data.status = Status()
    data.database_outage = database_outage
    data.bot_api_outage = bot_api_outage
    data.polling_outage = polling_outage
    data.updates_request = updates_request
    data.progress_shown = {}
    # Updates are handled concurrently: two schedule changes must not rebuild jobs at once.
    data.reconciling = asyncio.Lock()
    data.paused_chats = paused = PausedChats()
    data.database = Database(settings.database.url)
    # Broadcasts get a bot of their own, with connections for every send in flight.
    data.sending_bot = sender = sending_bot(
        token,
        base_url=settings.telegram.base_url,
        defaults=app.bot.defaults,
        connections=settings.delivery.concurrency,
    )
    data.engine = DeliveryEngine(
        data.database,
        telegram_send(sender, paid_broadcast=settings.delivery.paid_broadcast),
        engine_settings(settings.delivery),
        outage=database_outage,
        bot_api=bot_api_outage,
        metrics=metrics,
        on_unreachable=paused.pause,
        prepare=reminders.prepare_for_sending(data),
    )
    # Order matters within a group: the first handler that matches an update handles it,
    # so the catch-alls of common come after every module's own commands. Chat bookkeeping
    # sits in groups of their own, ahead of them all, and lets every update through.
    observe.register(app)
    chats.register(app)
    supporters.register(app)
    language.register(app)
    calendar.register(app)
    privacy.register(app)
    staff.register(app)
    broadcasts.register(app)
    reminders.register(app)
    common.register_last(app)
    return app
