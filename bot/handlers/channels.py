"""Commands posted in a channel: /subscribe, /unsubscribe, /remind, /language and /forget.

Only a channel's administrators who may post can post in it, so a command post is theirs (it
carries no author: ``from`` is missing, and the signature optional). The bot answers in the
channel, where it must be an administrator that may post (asked of Telegram), and deletes the
post and its answers after a short while (``bot.handlers.answers``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import CommandHandler, filters

from bot.context import Context, HearingWatchApp
from bot.handlers import language, privacy, reminders, supporters
from bot.handlers.access import bot_may_post
from bot.handlers.answers import tidy
from jobs import logref

logger = logging.getLogger(__name__)

Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]


def as_channel_post(callback: Callback) -> Callback:
    """The command's handler, for a post in a channel where the bot may answer; the post is
    deleted after a while."""

    async def handle(update: Update, context: Context) -> None:
        post = update.channel_post
        if post is None:
            return
        try:
            allowed = await bot_may_post(context.bot, post.chat_id, channel=True)
        except (BadRequest, Forbidden):
            allowed = False
        if not allowed:  # it could not answer: nothing to do
            logger.info(
                "a command in channel %s: the bot may not post there", logref.ref(post.chat_id)
            )
            return
        await callback(update, context)
        tidy(context, post, own=False, after=context.bot_data.config.tidy_after)

    handle.__doc__ = callback.__doc__
    return handle


def register(app: HearingWatchApp) -> None:
    """Add the commands a channel's administrators post."""
    commands: dict[str, Callback] = {
        "subscribe": supporters.cmd_subscribe,
        "unsubscribe": supporters.cmd_unsubscribe,
        "remind": reminders.cmd_remind,
        "language": language.cmd_language,
        "forget": privacy.cmd_forget,
    }
    # New posts only: an edited post must not act a second time.
    for name, callback in commands.items():
        app.add_handler(
            CommandHandler(name, as_channel_post(callback), filters=filters.UpdateType.CHANNEL_POST)
        )
