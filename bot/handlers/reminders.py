"""/remind: which reminders a chat gets before each hearing (the reminders themselves are jobs:
``jobs.reminders``)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import chat_texts, keyboards, texts
from bot.context import Context, HearingWatchApp
from bot.handlers.access import may_change_subscriptions
from bot.handlers.answers import answer, in_channel, tidy
from bot.i18n import Translator
from storage import chats
from storage.models import ChatType

CHOICE = "remind"
CHOICE_PATTERN = rf"^{CHOICE}:"
ALL, NONE = "all", "none"


def choice_rows(
    t: Translator, offsets: tuple[str, ...], prefix: str = CHOICE
) -> list[list[InlineKeyboardButton]]:
    """The buttons of every choice: each offset, both (or all), none."""
    row = [
        InlineKeyboardButton(texts.offset_label(t, offset), callback_data=f"{prefix}:{offset}")
        for offset in offsets
    ]
    both = t.marked(texts.BUTTON_BOTH) if len(offsets) == 2 else t.marked(texts.BUTTON_ALL)
    return [
        row,
        [
            InlineKeyboardButton(both, callback_data=f"{prefix}:{ALL}"),
            InlineKeyboardButton(t.marked(texts.BUTTON_NONE), callback_data=f"{prefix}:{NONE}"),
        ],
    ]


def choices(offsets: tuple[str, ...]) -> tuple[str, ...]:
    """Every choice a button can carry, in order."""
    return (*offsets, ALL, NONE)


def chosen(picked: str) -> list[str] | None:
    """A choice as stored: "all" is the configured reminders, stored as None (were it stored as
    today's list, a change of [reminders] offsets would silently leave the chat with none of
    the new ones); "none" is none."""
    return None if picked == ALL else [] if picked == NONE else [picked]


def _choice_keyboard(
    t: Translator, offsets: tuple[str, ...], *, private: bool = False
) -> InlineKeyboardMarkup:
    rows = choice_rows(t, offsets)
    if private:  # the way to choose for a channel or group the person manages
        rows.append(keyboards.manage_row(t, "remind"))
    return InlineKeyboardMarkup(rows)


async def cmd_remind(update: Update, context: Context) -> None:
    """Show this chat's reminders with buttons to choose them."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None:
        return
    t = context.t
    offsets = context.bot_data.config.reminder_offsets
    async with context.bot_data.database.reading() as session:
        choice = await chats.reminder_choice(session, chat_id=chat.id)
    private = chat.type == ChatType.PRIVATE
    markup = _choice_keyboard(t, offsets, private=private)
    await answer(update, context, texts.reminder_choice(t, choice, offsets), markup)


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
        await query.answer(chat_texts.only_admins(t, chat.type), show_alert=True)
        return
    choice = chosen(picked)
    async with context.bot_data.database.writing() as session:
        await chats.set_reminder_choice(
            session, chat_id=chat.id, chat_type=ChatType(chat.type), offsets=choice
        )
    text = texts.reminder_choice(t, choice, offsets)
    await query.answer(t(texts.SAVED))
    markup = _choice_keyboard(t, offsets, private=chat.type == ChatType.PRIVATE)
    if query.message is not None and getattr(query.message, "text", None) != text:
        await query.edit_message_text(text, reply_markup=markup)
    if in_channel(update) and isinstance(query.message, Message):
        # Chosen: the channel's readers need not see the buttons any longer.
        tidy(context, query.message, own=True, after=context.bot_data.config.tidy_after)


def register(app: HearingWatchApp) -> None:
    """Add /remind."""
    # In a channel, /remind is a post: bot.handlers.channels.
    app.add_handler(CommandHandler("remind", cmd_remind, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_choice, pattern=CHOICE_PATTERN))
