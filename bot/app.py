"""Builds the Application: the one place handlers, services and start-up are wired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import cast

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, Defaults

from bot import reminders
from bot.context import CONTEXT_TYPES, HearingWatchApp
from bot.handlers import broadcasts, chats, common, staff, supporters
from bot.menus import set_default_menu, set_staff_menu
from bot.settings import DeliverySettings, Settings
from bot.updates import PerChatUpdateProcessor
from jobs.delivery import DeliveryEngine, EngineSettings
from jobs.limits import Limits
from jobs.sender import http_request, sending_bot, telegram_send
from storage.database import Database
from storage.migrate import upgrade
from storage.models import utcnow
from storage.schedule_file import SEED_FILE, seed_if_empty
from storage.staff import staff_members
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


async def _post_init(app: HearingWatchApp) -> None:
    settings = app.bot_data.settings
    # Updates are handled concurrently now: two schedule changes must not rebuild jobs at once.
    app.bot_data.reconciling = asyncio.Lock()
    app.bot_data.database = database = Database(settings.database.url)
    app.bot_data.progress_shown = {}
    app.bot_data.paused_chats = paused = PausedChats()
    async with database.reading() as session:
        await paused.load(session)
    # Broadcasts get a bot of their own, with connections for every send in flight.
    app.bot_data.sending_bot = sender = sending_bot(
        app.bot.token,
        base_url=settings.telegram.base_url,
        defaults=app.bot.defaults,
        connections=settings.delivery.concurrency,
    )
    await sender.initialize()
    send = telegram_send(sender, paid_broadcast=settings.delivery.paid_broadcast)
    app.bot_data.engine = DeliveryEngine(
        database, send, engine_settings(settings.delivery), on_unreachable=paused.pause
    )
    # Broadcasts a previous run left unfinished are picked up from the database at once.
    app.bot_data.engine_task = asyncio.create_task(app.bot_data.engine.run(), name="delivery")
    # Reminder jobs live only in memory: rebuild them from the database.
    await reminders.reconcile(app)
    # Menus are a convenience: a Bot API server that refuses them costs a warning, not the start.
    await set_default_menu(app.bot)
    async with app.bot_data.database.reading() as session:
        members = await staff_members(session, app.bot_data.settings.access.admins)
    for user_id, role in members:
        await set_staff_menu(app.bot, user_id, role)


async def _post_stop(app: HearingWatchApp) -> None:
    task = getattr(app.bot_data, "engine_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    sender = getattr(app.bot_data, "sending_bot", None)
    if sender is not None:
        await sender.shutdown()


async def _post_shutdown(app: HearingWatchApp) -> None:
    database = getattr(app.bot_data, "database", None)
    if database is not None:
        await database.dispose()


def build_application(
    settings: Settings, *, clock: Callable[[], datetime] = utcnow
) -> HearingWatchApp:
    """The bot, ready for run_polling or for ``async with app`` in tests."""
    token = settings.require_token().get_secret_value()
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
        .context_types(CONTEXT_TYPES)
        # PTB's defaults (256 connections for answers, 1 for getUpdates), with the TLS context
        # the sending pools share rather than one CA bundle loaded per client.
        .request(http_request(256))
        .get_updates_request(http_request(1))
        # 200 chats writing at once would otherwise queue behind each other (bot/updates.py).
        .concurrent_updates(PerChatUpdateProcessor())
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build(),
    )
    app.bot_data.settings = settings
    app.bot_data.clock = clock
    # Order matters within a group: the first handler that matches an update handles it,
    # so the catch-alls of common come after every module's own commands. Chat bookkeeping
    # sits in a group of its own, ahead of them all, and lets every update through.
    chats.register(app)
    supporters.register(app)
    staff.register(app)
    broadcasts.register(app)
    reminders.register(app)
    common.register_last(app)
    return app
