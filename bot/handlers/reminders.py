"""/remind: which reminders a chat gets before each hearing (the reminders themselves are jobs:
``jobs.reminders``)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import texts
from bot.context import Context, HearingWatchApp
from bot.handlers.access import may_change_subscriptions
from bot.i18n import Translator
from storage import chats
from storage.models import ChatType

CHOICE = "remind"
CHOICE_PATTERN = rf"^{CHOICE}:"
ALL, NONE = "all", "none"


def _choice_keyboard(t: Translator, offsets: tuple[str, ...]) -> InlineKeyboardMarkup:
    row = [
        InlineKeyboardButton(texts.offset_label(t, offset), callback_data=f"{CHOICE}:{offset}")
        for offset in offsets
    ]
    both = t(texts.BUTTON_BOTH) if len(offsets) == 2 else t(texts.BUTTON_ALL)
    return InlineKeyboardMarkup(
        [
            row,
            [
                InlineKeyboardButton(both, callback_data=f"{CHOICE}:{ALL}"),
                InlineKeyboardButton(t(texts.BUTTON_NONE), callback_data=f"{CHOICE}:{NONE}"),
            ],
        ]
    )


async def cmd_remind(update: Update, context: Context) -> None:
    """Show this chat's reminders with buttons to choose them."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None:
        return
    t = context.t
    offsets = context.bot_data.config.reminder_offsets
    async with context.bot_data.database.reading() as session:
        choice = await chats.reminder_choice(session, chat_id=chat.id)
    await message.reply_text(
        texts.reminder_choice(t, choice, offsets), reply_markup=_choice_keyboard(t, offsets)
    )


async def on_choice(update: Update, context: Context) -> None:
    """A reminder button: store the chat's choice (in groups, administrators only)."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    if chat is None:
        await query.answer()
        return
    t = context.t
    offsets = context.bot_data.config.reminder_offsets
    picked = (query.data or "").partition(":")[2]
    if picked not in (*offsets, ALL, NONE):
        await query.answer(t(texts.CHOICE_OUT_OF_DATE))
        return
    if not await may_change_subscriptions(update, context):
        await query.answer(t(texts.ONLY_GROUP_ADMINS), show_alert=True)
        return
    # "All" is the configured reminders, stored as None: were it stored as today's list, a change
    # of [reminders] offsets would silently leave the chat with none of the new ones.
    choice = None if picked == ALL else [] if picked == NONE else [picked]
    async with context.bot_data.database.writing() as session:
        await chats.set_reminder_choice(
            session, chat_id=chat.id, chat_type=ChatType(chat.type), offsets=choice
        )
    text = texts.reminder_choice(t, choice, offsets)
    await query.answer(t(texts.SAVED))
    if query.message is not None and getattr(query.message, "text", None) != text:
        await query.edit_message_text(text, reply_markup=_choice_keyboard(t, offsets))


def register(app: HearingWatchApp) -> None:
    """Add /remind."""
    app.add_handler(CommandHandler("remind", cmd_remind, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_choice, pattern=CHOICE_PATTERN))
