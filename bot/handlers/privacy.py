"""/forget, which erases everything the bot holds about a chat.

What the bot keeps is what a seized server would give away; storage/privacy.py does the erasing,
this module asks first. (The daily purge is a job: ``jobs.purge``.)
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import texts
from bot.context import Context, HearingWatchApp
from bot.handlers.access import may_change_subscriptions
from bot.handlers.answers import answer, in_channel, tidy
from storage import privacy

logger = logging.getLogger(__name__)

FORGET = "forget"
YES = f"{FORGET}:yes"
NO = f"{FORGET}:no"
BUTTON_PATTERN = rf"^{FORGET}:(yes|no)$"


async def cmd_forget(update: Update, context: Context) -> None:
    """Ask whether to erase everything about this chat, with Forget and Keep buttons."""
    if update.effective_message is None or update.effective_chat is None:
        return
    t = context.t
    if not await may_change_subscriptions(update, context):
        await answer(update, context, t(texts.ONLY_GROUP_ADMINS_FORGET))
        return
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(texts.FORGET_BUTTON), callback_data=YES),
                InlineKeyboardButton(t.marked(texts.KEEP_BUTTON), callback_data=NO),
            ]
        ]
    )
    await answer(update, context, t(texts.FORGET_QUESTION), keyboard)


async def on_forget_button(update: Update, context: Context) -> None:
    """Forget or Keep pressed: in a group, checked again (whoever presses may not be an
    administrator); Forget erases at once, and pressing it again erases nothing more."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    if chat is None:
        await query.answer()
        return
    # Read before erasing: the chat's language choice is among what goes.
    t = context.t
    if not await may_change_subscriptions(update, context):
        await query.answer(t(texts.ONLY_GROUP_ADMINS_FORGET), show_alert=True)
        return
    if query.data != YES:
        await query.answer()
        await query.edit_message_text(t(texts.FORGET_KEPT))
        _tidy_in_channel(update, context)
        return
    database = context.bot_data.database
    async with database.writing() as session:
        erased = await privacy.erase_chat(session, chat_id=chat.id)
    logger.info("a chat was forgotten at its request")  # no id: the point is to forget it
    await query.answer()
    await query.edit_message_text(texts.forgotten(t, erased.subscriptions))
    _tidy_in_channel(update, context)
    try:
        await privacy.scrub(database)
    except Exception as exc:  # erased already; the next purge scrubs again
        logger.warning("could not scrub the database after /forget: %s", type(exc).__name__)


def _tidy_in_channel(update: Update, context: Context) -> None:
    """Answered: in a channel, the question leaves soon (its readers need not see it)."""
    message = update.callback_query.message if update.callback_query else None
    if in_channel(update) and isinstance(message, Message):
        tidy(context, message, own=True, after=context.bot_data.config.tidy_after)


def register(app: HearingWatchApp) -> None:
    """Add /forget and its buttons."""
    # In a channel, /forget is a post: bot.handlers.channels.
    app.add_handler(CommandHandler(FORGET, cmd_forget, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_forget_button, pattern=BUTTON_PATTERN))
