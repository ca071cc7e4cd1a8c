"""Chat bookkeeping that every update passes through: a paused chat that writes again resumes.

A chat the delivery engine found unreachable (blocked the bot, was kicked) is paused: broadcasts
skip it. When it writes to the bot again it is reachable, whatever it wrote. The paused chats are
kept in memory (``BotData.paused_chats``), so the common case, a chat that is not paused, costs a
set lookup and no database round trip.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import TypeHandler

from bot.context import Context, HearingWatchApp
from jobs import logref
from storage import subscriptions

logger = logging.getLogger(__name__)


async def on_chat_wrote(update: Update, context: Context) -> None:
    """A chat that was unreachable wrote again: its subscriptions resume."""
    chat = update.effective_chat
    paused = context.bot_data.paused_chats
    if chat is None or chat.id not in paused:
        return
    async with context.bot_data.database.writing() as session:
        resumed = await subscriptions.resume_chat(session, chat_id=chat.id)
    paused.resume(chat.id)
    if resumed:
        logger.info("chat %s is reachable again; its subscriptions resume", logref.ref(chat.id))


def register(app: HearingWatchApp) -> None:
    """Add the bookkeeping handler ahead of every other."""
    # Group -1 runs before the commands and lets every update go on to them.
    app.add_handler(TypeHandler(Update, on_chat_wrote), group=-1)
