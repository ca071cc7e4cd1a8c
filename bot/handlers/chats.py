"""Chat bookkeeping that Telegram announces with a service message."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.context import Context, HearingWatchApp
from storage import deliveries

logger = logging.getLogger(__name__)


async def on_migration(update: Update, context: Context) -> None:
    """A group became a supergroup: its subscriptions and choices move to the new id now,
    before anything is sent to the old id and refused.

    Telegram tells both chats (``migrate_to_chat_id`` in the old group, ``migrate_from_chat_id``
    in the new supergroup); whichever comes first does the move, the other finds nothing left.
    """
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        old_id, new_id = message.chat_id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old_id, new_id = message.migrate_from_chat_id, message.chat_id
    else:
        return
    async with context.bot_data.database.writing() as session:
        await deliveries.migrate_chat(session, old_id=old_id, new_id=new_id)
    logger.info("a group became a supergroup; its subscriptions moved")


def register(app: HearingWatchApp) -> None:
    """Add the handler of the group-to-supergroup service messages."""
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_migration))
