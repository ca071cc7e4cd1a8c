"""Chat bookkeeping: a paused chat that writes again resumes, a group that becomes a supergroup
moves to its new id at once (Telegram announces it with a service message), and a chat where the
bot was removed or may no longer post pauses (Telegram announces it with ``my_chat_member``).

A chat the delivery engine found unreachable (blocked the bot, was kicked) is paused: broadcasts
skip it. When it writes to the bot again it is reachable, whatever it wrote. The paused chats are
kept in memory (``bot.paused``), so the common case, a chat that is not paused, costs a
set lookup and no database round trip.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType as TelegramChatType
from telegram.ext import ChatMemberHandler, MessageHandler, TypeHandler, filters

from bot.context import Context, HearingWatchApp
from bot.handlers.access import may_post
from jobs import logref
from storage import chats

logger = logging.getLogger(__name__)


async def on_chat_wrote(update: Update, context: Context) -> None:
    """A chat that was unreachable wrote again: its subscriptions resume."""
    chat = update.effective_chat
    paused = context.bot_data.paused_chats
    if chat is None or chat.id not in paused:
        return
    # A post in a channel says nothing of whether the bot may post there, and news of the bot's
    # own membership is on_membership's to judge.
    if update.channel_post is not None or update.my_chat_member is not None:
        return
    async with context.bot_data.database.writing() as session:
        resumed = await chats.resume_chat(session, chat_id=chat.id)
    paused.resume(chat.id)
    if resumed:
        logger.info("chat %s is reachable again; its subscriptions resume", logref.ref(chat.id))


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
        await chats.migrate_chat(session, old_id=old_id, new_id=new_id)
    logger.info("a group became a supergroup; its subscriptions moved")


async def on_membership(update: Update, context: Context) -> None:
    """The bot was added to a chat, removed from it, or had its rights changed there: when it
    may no longer post, the chat's subscriptions pause (as for a chat found unreachable); when
    it may again, they resume."""
    changed = update.my_chat_member
    if changed is None:
        return
    chat = changed.chat
    if chat.type == TelegramChatType.PRIVATE:
        return  # a person who blocks the bot is found unreachable when it next writes to them
    can_post = may_post(changed.new_chat_member, channel=chat.type == TelegramChatType.CHANNEL)
    paused = context.bot_data.paused_chats
    async with context.bot_data.database.writing() as session:
        if can_post:
            changed_state = await chats.resume_chat(session, chat_id=chat.id)
        else:
            changed_state = await chats.pause_chat(session, chat_id=chat.id)
    if can_post:
        paused.resume(chat.id)
    elif changed_state:
        paused.pause([chat.id])
    if changed_state:
        state = "resume" if can_post else "pause"
        logger.info(
            "the bot's place in chat %s changed; its subscriptions %s", logref.ref(chat.id), state
        )


def register(app: HearingWatchApp) -> None:
    """Add the bookkeeping handlers: ahead of every other, and the migration's own."""
    # Group -1 runs before the commands and lets every update go on to them.
    app.add_handler(TypeHandler(Update, on_chat_wrote), group=-1)
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_migration))
    app.add_handler(ChatMemberHandler(on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
