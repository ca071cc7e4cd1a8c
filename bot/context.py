"""Typed state shared by every handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.settings import Settings
from jobs.delivery import DeliveryEngine
from storage.database import Database
from storage.subscriptions import PausedChats


class BotData:
    """Services every handler needs; set by build_application and post_init."""

    settings: Settings
    database: Database
    clock: Callable[[], datetime]
    engine: DeliveryEngine
    sending_bot: ExtBot[None]
    engine_task: asyncio.Task[None]
    # Chats marked unreachable, so that an update need not ask the database (bot.handlers.chats).
    paused_chats: PausedChats
    # Held while reminder jobs are rebuilt, so that a stale view never overwrites a newer one.
    reconciling: asyncio.Lock
    # The progress text last shown on each broadcast's preview, so unchanged ones are not edited.
    progress_shown: dict[int, str]


Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]
HearingWatchApp = Application[
    ExtBot[None], Context, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Context]
]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)
