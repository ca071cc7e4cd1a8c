"""Builds the Application: the one place the handlers are registered, in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, Defaults
from telegram.request import BaseRequest

from bot.context import CONTEXT_TYPES, HearingWatchApp
from bot.handlers import (
    arrival,
    broadcasts,
    calendar,
    channels,
    chats,
    common,
    flood,
    guided,
    language,
    managed,
    privacy,
    reminders,
    staff,
    supporters,
)
from bot.updates import Dropped, PerChatUpdateProcessor


def defaults() -> Defaults:
    """How every message of the bot is sent: HTML, no link previews."""
    return Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
    )


def build_application(
    *,
    token: str,
    base_url: str,
    request: BaseRequest,
    updates_request: BaseRequest,
    observe_update: Callable[[float], None] | None = None,
    dropped: Dropped | None = None,
) -> HearingWatchApp:
    """The bot with its handlers; the process fills in its ``bot_data`` and runs it.

    ``observe_update`` is told how long each update took, and ``dropped`` the reason for each
    update left unhandled (the metrics).
    """
    # The builder's typing loses the context type on the JobQueue; the types are the same.
    app = cast(
        HearingWatchApp,
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .defaults(defaults())
        .request(request)
        .get_updates_request(updates_request)
        .context_types(CONTEXT_TYPES)
        # 200 chats writing at once would otherwise queue behind each other (bot/updates.py).
        .concurrent_updates(PerChatUpdateProcessor(observe=observe_update, dropped=dropped))
        .build(),
    )
    # Order matters: every update first passes the gate (forwarded commands and a flood stop
    # there, before the database is asked anything), then arrival (its Turn), then the chat
    # bookkeeping (groups of their own, letting every update through); within the default
    # group the first handler that matches handles it, so the catch-alls of common come after
    # every module's own commands.
    flood.register(app, dropped=dropped)
    arrival.register(app)
    chats.register(app)
    supporters.register(app)
    channels.register(app)
    managed.register(app)
    language.register(app)
    calendar.register(app)
    privacy.register(app)
    staff.register(app)
    broadcasts.register(app)
    # /cancel, the guided questions' buttons, and typed answers (text that is no command).
    guided.register(app)
    reminders.register(app)
    common.register_last(app)
    return app
