"""How the bot answers a command where it was given: in the topic it came from, and in a channel
only for a while.

A command posted in a channel is answered in the channel; its readers need not see the
administrators' conversation with the bot, so the command post and the answers are deleted after
a short while (answers with buttons after a longer one, or soon after a button was pressed), if
the bot may delete them. The deletions are jobs of this instance's JobQueue: a restart in
between leaves those messages in the channel, which is harmless.
"""

from __future__ import annotations

import logging
from typing import cast

from telegram import ChatMemberAdministrator, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import JobQueue

from bot.context import Context
from jobs import logref

logger = logging.getLogger(__name__)


def topic_of(update: Update) -> int | None:
    """The forum topic an update comes from (None: the chat itself, General in a forum)."""
    message = update.effective_message
    if message is None or not message.is_topic_message:
        return None
    return message.message_thread_id


def in_channel(update: Update) -> bool:
    """Whether the update is a post in a channel (or a button under the bot's post there)."""
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.CHANNEL


async def answer(
    update: Update, context: Context, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Reply where the command was given (in its topic, if any); in a channel, delete the reply
    after a while."""
    message = update.effective_message
    if message is None:
        return None
    sent = await message.reply_text(text, reply_markup=markup)
    if update.channel_post is not None:
        config = context.bot_data.config
        after = config.tidy_choice_after if markup else config.tidy_after
        tidy(context, sent, own=True, after=after)
    return sent


def tidy(context: Context, message: Message, *, own: bool, after: float) -> None:
    """Delete a message of a channel (the bot's ``own``, or an administrator's command)
    ``after`` seconds from now, if the bot may then."""
    job_queue = cast("JobQueue[Context] | None", context.job_queue)
    if job_queue is None:  # not without python-telegram-bot's job-queue extra
        return
    job_queue.run_once(
        _delete,
        when=after,
        data=(message.chat_id, message.message_id, own),
        name=f"tidy:{message.chat_id}:{message.message_id}",
    )


async def _delete(context: Context) -> None:
    """A message's time in the channel is over: delete it if the bot may (its own messages, with
    the right to post; anyone's, with the right to delete)."""
    assert context.job is not None
    chat_id, message_id, own = cast(tuple[int, int, bool], context.job.data)
    bot = context.bot
    try:
        member = await bot.get_chat_member(chat_id, bot.id)
        allowed = isinstance(member, ChatMemberAdministrator) and (
            member.can_delete_messages or (own and bool(member.can_post_messages))
        )
        if allowed:
            await bot.delete_message(chat_id, message_id)
    except TelegramError as exc:  # deleted by hand already, or the bot lost its place there
        logger.info("could not tidy a message in chat %s: %s", logref.ref(chat_id), exc.message)
