"""Typed state shared by every handler."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.settings import Settings
from storage.database import Database


class BotData:
    """Services every handler needs; set by build_application and post_init."""

    settings: Settings
    database: Database
    clock: Callable[[], datetime]


Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]
HearingWatchApp = Application[
    ExtBot[None], Context, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Context]
]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)
