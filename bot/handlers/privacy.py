"""/forget, which erases everything the bot holds about a chat, and the daily purge.

What the bot keeps is what a seized server would give away; storage/privacy.py does the erasing,
this module asks first (/forget) and runs the purge on the active instance.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import texts
from bot.context import BotData, Context, HearingWatchApp
from bot.handlers.access import may_change_subscriptions
from bot.handlers.language import translator_for
from storage import privacy

logger = logging.getLogger(__name__)

FORGET = "forget"
YES = f"{FORGET}:yes"
NO = f"{FORGET}:no"
BUTTON_PATTERN = rf"^{FORGET}:(yes|no)$"
PURGE = "purge"
PURGE_INTERVAL = timedelta(days=1)
# After becoming active: soon, so that a bot restarted more often than daily still purges.
PURGE_FIRST = timedelta(seconds=30)


async def cmd_forget(update: Update, context: Context) -> None:
    """Ask whether to erase everything about this chat, with Forget and Keep buttons."""
    message = update.effective_message
    if message is None or update.effective_chat is None:
        return
    t = await translator_for(update, context)
    if not await may_change_subscriptions(update, context):
        await message.reply_text(t(texts.ONLY_GROUP_ADMINS_FORGET))
        return
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(texts.FORGET_BUTTON), callback_data=YES),
                InlineKeyboardButton(t(texts.KEEP_BUTTON), callback_data=NO),
            ]
        ]
    )
    await message.reply_text(t(texts.FORGET_QUESTION), reply_markup=keyboard)


async def on_forget_button(update: Update, context: Context) -> None:
    """Forget or Keep pressed: in a group, checked again (whoever presses may not be an
    administrator); Forget erases at once, and pressing it again erases nothing more."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    if chat is None:
        await query.answer()
        return
    # Read before erasing: the chat's language choice is among what goes.
    t = await translator_for(update, context)
    if not await may_change_subscriptions(update, context):
        await query.answer(t(texts.ONLY_GROUP_ADMINS_FORGET), show_alert=True)
        return
    if query.data != YES:
        await query.answer()
        await query.edit_message_text(t(texts.FORGET_KEPT))
        return
    database = context.bot_data.database
    async with database.writing() as session:
        erased = await privacy.erase_chat(session, chat_id=chat.id)
    logger.info("a chat was forgotten at its request")  # no id: the point is to forget it
    await query.answer()
    await query.edit_message_text(texts.forgotten(t, erased.subscriptions))
    try:
        await privacy.scrub(database)
    except Exception as exc:  # erased already; the next purge scrubs again
        logger.warning("could not scrub the database after /forget: %s", type(exc).__name__)


async def purge(data: BotData) -> privacy.Purged:
    """Delete what is no longer needed (see storage.privacy.purge_rows) and scrub the files."""
    keep = timedelta(days=data.settings.privacy.keep_deliveries_days)
    purged = await privacy.purge(data.database, now=data.clock(), keep=keep)
    logger.info(
        "purge: %d delivery rows, %d subscriptions of closed cases and %d chats removed",
        purged.deliveries,
        purged.subscriptions,
        purged.chats,
    )
    return purged


async def _purge_job(context: Context) -> None:
    await purge(context.bot_data)


def register(app: HearingWatchApp) -> None:
    """Add /forget and its buttons."""
    app.add_handler(CommandHandler(FORGET, cmd_forget, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_forget_button, pattern=BUTTON_PATTERN))


def activate(app: HearingWatchApp) -> None:
    """This instance became the active one: it purges, soon and then daily."""
    assert app.job_queue is not None
    app.job_queue.run_repeating(
        _purge_job,
        interval=PURGE_INTERVAL,
        first=PURGE_FIRST,
        name=PURGE,
        # However late the loop gets to it (a busy or suspended machine), a purge still runs.
        job_kwargs={"misfire_grace_time": None},
    )


def deactivate(app: HearingWatchApp) -> None:
    """Another instance purges now."""
    assert app.job_queue is not None
    for job in app.job_queue.get_jobs_by_name(PURGE):
        job.schedule_removal()
