"""What happens to every update first: its arrival is noted for /healthz, and its ``Turn`` (who
acts, their staff role, the chat's language) is read once, in one short read of the database,
for every handler after it (as a session middleware does in aiogram bots)."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot import texts
from bot.context import Context, HearingWatchApp, Turn
from bot.i18n import LANGUAGES, supported, translator
from storage import chats, staff

# Before every other group: every update passes here, whatever handles it later.
FIRST = -100
# Telegram apps set in these languages are answered in them without asking.
DETECTED = ("kk", "ru")


def detected_language(update: Update) -> str | None:
    """The language of a private chat's Telegram app, if it is one the bot detects."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type != ChatType.PRIVATE or user is None:
        return None
    language = supported(user.language_code)
    return language if language in DETECTED else None


async def on_arrival(update: Update, context: Context) -> None:
    """Note the arrival and resolve the update's Turn; during a database outage, say so once
    and handle it no further."""
    data = context.bot_data
    data.status.last_update_at = data.clock()
    chat, user = update.effective_chat, update.effective_user
    detected = detected_language(update)
    chosen, role = None, None
    with data.database_outage.absorbed() as read:
        if chat is not None:
            async with data.database.reading() as session:
                chosen = await chats.chosen_language(session, chat_id=chat.id)
                if user is not None and chat.type == ChatType.PRIVATE:
                    role = await staff.role_of(session, user.id, data.config.admins)
    language = chosen if chosen in LANGUAGES else detected or data.config.default_language
    assert language is not None
    context.turn = Turn(
        user_id=user.id if user else None, role=role, t=translator(language), detected=detected
    )
    if read.failed:
        await tell_database_away(update, context)
        raise ApplicationHandlerStop


async def tell_database_away(update: Update, context: Context) -> None:
    """ "Try again in a few minutes", as an alert under a button or as a reply."""
    apology = context.t(texts.DATABASE_AWAY)
    message, chat = update.effective_message, update.effective_chat
    if update.callback_query is not None:
        await update.callback_query.answer(apology, show_alert=True)
    elif message is not None and chat is not None and _answered_in(chat.type, message.text):
        await message.reply_text(apology)


def _answered_in(chat_type: str, text: str | None) -> bool:
    """In a group only a command is answered: other messages there are not for the bot."""
    return chat_type == ChatType.PRIVATE or (text or "").startswith("/")


def register(app: HearingWatchApp) -> None:
    """Add the arrival handler ahead of every other."""
    app.add_handler(TypeHandler(Update, on_arrival), group=FIRST)
