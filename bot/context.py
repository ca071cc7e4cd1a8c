"""Typed state shared by every handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.bot_api import WatchedRequest
from bot.settings import Settings
from jobs.delivery import DeliveryEngine
from jobs.metrics import Metrics
from jobs.outage import Outage
from storage.database import Database
from storage.subscriptions import PausedChats

Role = Literal["starting", "active", "standby", "stopping"]


class Signals(Protocol):
    """How a change made by a handler reaches the instance that acts on it (maybe another)."""

    async def deliveries_queued(self) -> None:
        """A broadcast was queued: the delivery engine should look now."""

    async def schedule_changed(self) -> None:
        """Hearings changed: the reminder jobs should be rebuilt now."""


@dataclass
class Status:
    """What this instance is doing, for /healthz."""

    role: Role = "starting"
    last_update_at: datetime | None = None


class BotData:
    """Services every handler needs; set by build_application and the service that runs it."""

    settings: Settings
    database: Database
    clock: Callable[[], datetime]
    engine: DeliveryEngine
    sending_bot: ExtBot[None]
    signals: Signals
    metrics: Metrics
    status: Status
    database_outage: Outage
    bot_api_outage: Outage
    polling_outage: Outage
    # getUpdates' own connection, renewed each time this instance starts polling
    updates_request: WatchedRequest
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
