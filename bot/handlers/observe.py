"""What every update tells about the bot's health: that Telegram's updates are arriving."""

from __future__ import annotations

from telegram import Update
from telegram.ext import TypeHandler

from bot.context import Context, HearingWatchApp

# Before every other group: every update passes here, whatever handles it later.
FIRST = -100


async def on_arrival(_update: Update, context: Context) -> None:
    """Note when the latest update arrived, for /healthz."""
    context.bot_data.status.last_update_at = context.bot_data.clock()


def register(app: HearingWatchApp) -> None:
    """Add the observer ahead of every other handler."""
    app.add_handler(TypeHandler(Update, on_arrival), group=FIRST)
