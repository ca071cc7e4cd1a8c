"""Handlers every chat meets whatever it does: unknown commands and failures."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import MessageHandler, filters

from bot import texts
from bot.context import Context, HearingWatchApp, Turn
from bot.handlers.arrival import detected_language, tell_database_away
from bot.i18n import translator
from jobs import logref

logger = logging.getLogger(__name__)


async def cmd_unknown(update: Update, context: Context) -> None:
    """A command we do not have, in a private chat (in a group it may be another bot's)."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(context.t(texts.UNKNOWN_COMMAND))


def _command_of(update: Update) -> str:
    """The command or button an update carried, without the rest of the user's text."""
    if update.callback_query is not None:
        return "button " + (update.callback_query.data or "").partition(":")[0]
    message = update.effective_message
    if message is not None and message.text and message.text.startswith("/"):
        return message.text.split(maxsplit=1)[0].split("@")[0]
    return "update"


async def on_error(update: object, context: Context) -> None:
    """Log a failed handler or job once, with context but no message text, and apologise.

    A database outage is not a bug: it is reported to the outage log (one line when it starts,
    one when it ends) and the user is asked to try again later.
    """
    error = context.error
    outage = context.bot_data.database_outage
    away = error is not None and outage.matches(error)
    if away:
        assert error is not None
        outage.failed(error)
    if not isinstance(update, Update):
        # Job failures arrive without an update; the work is picked up again after an outage.
        if not away:
            logger.error("background failure", exc_info=error)
        return
    chat_id = update.effective_chat.id if update.effective_chat else None
    if not away:
        logger.error(
            "handler failed: update %s, %s, chat %s",
            update.update_id,
            _command_of(update),
            logref.ref(chat_id),
            exc_info=error,
        )
    if not context.has_turn:  # failed before its turn was known: the app's language
        detected = detected_language(update)
        user = update.effective_user
        context.turn = Turn(
            user_id=user.id if user else None,
            role=None,
            t=translator(detected or context.bot_data.config.default_language),
            detected=detected,
        )
    try:
        if away:
            await tell_database_away(update, context)
        elif update.callback_query is not None:
            await update.callback_query.answer(context.t(texts.APOLOGY), show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(context.t(texts.APOLOGY))
    except Exception:  # the error handler itself must never raise
        # Logged without the traceback: the failure itself was logged just above.
        logger.warning("could not tell chat %s about the failure", logref.ref(chat_id))


def register_last(app: HearingWatchApp) -> None:
    """Handlers that must come after every module's: they catch what nothing else claimed."""
    app.add_handler(
        MessageHandler(
            filters.COMMAND & filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE, cmd_unknown
        )
    )
    app.add_error_handler(on_error)
