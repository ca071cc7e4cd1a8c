"""Which language a chat reads, and /language to choose it.

A private chat reads its Telegram app's language (Kazakh or Russian), else the configured
default, until /language is used; a group reads the default until its administrators choose.
The choice is stored with the chat: a two-letter code, nothing personal. Which language an
update's chat reads is resolved when it arrives (``bot.handlers.arrival``).
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import chat_texts, keyboards, texts
from bot.context import Context, HearingWatchApp
from bot.handlers.access import may_change_subscriptions
from bot.handlers.answers import answer, in_channel, tidy
from bot.i18n import LANGUAGES, NAMES, Translator, supported, translator
from storage import chats
from storage.models import ChatType

CHOICE = "lang"
CHOICE_PATTERN = rf"^{CHOICE}:"


def language_row(prefix: str = CHOICE) -> list[InlineKeyboardButton]:
    """A button per language, each named as the language calls itself."""
    return [
        InlineKeyboardButton(NAMES[code], callback_data=f"{prefix}:{code}") for code in LANGUAGES
    ]


def _keyboard(t: Translator, *, private: bool = False) -> InlineKeyboardMarkup:
    rows = [language_row()]
    if private:  # the way to choose for a channel or group the person manages
        rows.append(keyboards.manage_row(t, "lang"))
    return InlineKeyboardMarkup(rows)


async def _choose(update: Update, context: Context, language: str) -> Translator:
    chat = update.effective_chat
    assert chat is not None
    async with context.bot_data.database.writing() as session:
        await chats.choose_language(
            session, chat_id=chat.id, chat_type=ChatType(chat.type), language=language
        )
    return translator(language)


async def cmd_language(update: Update, context: Context) -> None:
    """Show the language buttons, or with a code (kk, ru, en) set it at once."""
    chat = update.effective_chat
    if update.effective_message is None or chat is None:
        return
    t = context.t
    wanted = supported(context.args[0]) if context.args else None
    markup = _keyboard(t, private=chat.type == ChatType.PRIVATE)
    if not context.args:
        await answer(update, context, t(texts.LANGUAGE_CHOICE), markup)
        return
    if wanted is None:
        await answer(update, context, t(texts.LANGUAGE_USAGE), markup)
        return
    if not await may_change_subscriptions(update, context):
        await answer(update, context, chat_texts.only_admins(t, chat.type))
        return
    t = await _choose(update, context, wanted)
    await answer(update, context, t(texts.LANGUAGE_SET))


async def on_language_button(update: Update, context: Context) -> None:
    """A language button: store the chat's choice (in groups, administrators only)."""
    query = update.callback_query
    assert query is not None
    wanted = supported((query.data or "").partition(":")[2])
    if wanted is None or update.effective_chat is None:
        await query.answer()
        return
    chat = update.effective_chat
    if not await may_change_subscriptions(update, context):
        await query.answer(chat_texts.only_admins(context.t, chat.type), show_alert=True)
        return
    t = await _choose(update, context, wanted)
    await query.answer(t(texts.SAVED))
    if query.message is not None and getattr(query.message, "text", None) != t(texts.LANGUAGE_SET):
        await query.edit_message_text(t(texts.LANGUAGE_SET))
    if in_channel(update) and isinstance(query.message, Message):
        # Chosen: the channel's readers need not see the buttons any longer.
        tidy(context, query.message, own=True, after=context.bot_data.config.tidy_after)


def register(app: HearingWatchApp) -> None:
    """Add /language and its buttons."""
    # In a channel, /language is a post: bot.handlers.channels.
    app.add_handler(CommandHandler("language", cmd_language, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_language_button, pattern=CHOICE_PATTERN))
