"""Typed state shared by every handler, and what each update carries: who acts, and in which
language the bot answers them.

``BotData`` holds the services; the process builds it (``service.wiring``). ``Context`` is
python-telegram-bot's context with the ``Turn`` of the update, resolved once when the update
arrives (``bot.handlers.arrival``): the person behind it, their staff role and the chat's
translator, read together instead of in every handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.i18n import Translator
from bot.paused import PausedChats
from jobs.outage import Outage
from jobs.progress import ProgressReports
from storage.database import Database
from storage.models import Role


class Signals(Protocol):
    """How a change made by a handler reaches the instance that acts on it (maybe another)."""

    async def deliveries_queued(self) -> None:
        """A broadcast was queued: the delivery engine should look now."""

    async def schedule_changed(self) -> None:
        """Hearings changed: the reminder jobs should be rebuilt now."""


@dataclass(frozen=True, slots=True)
class Config:
    """What the conversation needs of the operator's settings (the process builds it)."""

    default_language: str
    admins: frozenset[int]
    timezone: str  # of new hearings
    reminder_offsets: tuple[str, ...]  # the offsets' names, longest first ("1d", "2h")
    calendar_domain: str  # what calendar events' UIDs end with
    public_url: str | None = None  # where the public reaches the HTTP server
    # Seconds a command posted in a channel and the bot's answer stay before they are deleted;
    # an answer with buttons stays longer, to be used.
    tidy_after: float = 30.0
    tidy_choice_after: float = 300.0

    def calendar_url(self, case_id: str) -> str | None:
        """The public address of a case's calendar feed, when public_url is set."""
        return f"{self.public_url}/calendar/{case_id}.ics" if self.public_url else None


@dataclass
class Status:
    """When the latest update arrived, for /healthz."""

    last_update_at: datetime | None = None


class BotData:
    """The services every handler needs.

    python-telegram-bot makes it itself, with no arguments; the process fills it in before the
    first update (``service.wiring``).
    """

    config: Config
    database: Database
    clock: Callable[[], datetime]
    signals: Signals
    # Chats marked unreachable, so that an update need not ask the database (handlers.chats).
    paused_chats: PausedChats
    progress: ProgressReports
    database_outage: Outage
    status: Status


@dataclass(frozen=True, slots=True)
class Turn:
    """Who an update comes from and how to talk to them, resolved once when it arrives."""

    user_id: int | None
    role: Role | None  # a staff role, known for people writing in a private chat only
    t: Translator  # the chat's language
    detected: str | None  # the language of a private chat's Telegram app, if the bot speaks it


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """python-telegram-bot's context, with the update's ``Turn``."""

    _turn: Turn | None = None

    @property
    def turn(self) -> Turn:
        """The update's Turn (set before any handler runs)."""
        if self._turn is None:
            raise RuntimeError("an update's turn is resolved when it arrives, before handlers")
        return self._turn

    @turn.setter
    def turn(self, value: Turn) -> None:
        self._turn = value

    @property
    def has_turn(self) -> bool:
        """Whether the update's Turn was resolved (not when its arrival failed)."""
        return self._turn is not None

    @property
    def t(self) -> Translator:
        """The translator of the update's chat."""
        return self.turn.t


HearingWatchApp = Application[
    ExtBot[None], Context, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Context]
]
CONTEXT_TYPES = ContextTypes(context=Context, bot_data=BotData)
