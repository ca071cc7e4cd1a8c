"""What the bot ignores before anything else, without asking the database: forwarded commands,
and a person sending commands faster than a human (``bot.flood``), who is told once to slow
down."""

from __future__ import annotations

import time

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot.context import Context, HearingWatchApp
from bot.flood import FloodGuard, Verdict
from bot.handlers.arrival import FIRST, detected_language
from bot.i18n import LANGUAGES, N_, translator
from bot.staff_texts import RELAYED, STAFF_COMMANDS
from bot.updates import Dropped
from storage import chats

# Before the arrival (which reads the database): what is ignored here costs nothing.
GATE = FIRST - 100
STAFF_COMMAND_NAMES = frozenset(
    name for commands in STAFF_COMMANDS.values() for name, _ in commands
)
SLOW_DOWN = N_(
    "You are sending commands faster than anyone could read the answers, so I will not answer"
    " them for a minute. After that, one at a time works best."
)


def _is_command(update: Update) -> bool:
    message = update.message
    return message is not None and (message.text or "").startswith("/")


def _is_forwarded_command(update: Update) -> bool:
    """Someone else's command, passed on (or a channel's post copied into its group): not a
    request to this bot."""
    message = update.message
    return (
        message is not None
        and _is_command(update)
        and (message.forward_origin is not None or bool(message.is_automatic_forward))
    )


def _person(update: Update) -> int | None:
    """Who sent it: the user, or the chat an anonymous admin or a channel wrote as."""
    message = update.effective_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    return update.effective_user.id if update.effective_user else None


def _is_staff_command(update: Update) -> bool:
    """A staff command, in a private chat (where staff commands work)."""
    message, chat = update.message, update.effective_chat
    if message is None or chat is None or chat.type != ChatType.PRIVATE:
        return False
    name = (message.text or "").split(maxsplit=1)[0].removeprefix("/").split("@")[0]
    return name in STAFF_COMMAND_NAMES


async def _say(update: Update, context: Context, line: str) -> None:
    """One line, in the chat's language (one short read, once a minute at most)."""
    data = context.bot_data
    chat = update.effective_chat
    chosen = None
    with data.database_outage.absorbed():
        if chat is not None:
            async with data.database.reading() as session:
                chosen = await chats.chosen_language(session, chat_id=chat.id)
    language = chosen if chosen in LANGUAGES else None
    text = translator(language or detected_language(update) or data.config.default_language)(line)
    if update.effective_message is not None:
        await update.effective_message.reply_text(text)


def register(app: HearingWatchApp, *, dropped: Dropped | None = None) -> None:
    """Add the gate ahead of every other handler; ``dropped`` counts what it ignores."""
    guard = FloodGuard()

    def ignore(reason: str) -> None:
        if dropped is not None:
            dropped(reason)
        raise ApplicationHandlerStop

    async def on_update(update: Update, context: Context) -> None:
        """Let an update through, or ignore it (telling a fast sender once)."""
        if _is_forwarded_command(update):
            # Not a request to this bot. A staff command forwarded into a private chat gets the
            # one neutral line that a typed one from a stranger gets (counted as a command, so
            # a flood of them is told to slow down like any other); anything else, nothing.
            person = _person(update)
            if _is_staff_command(update) and person is not None:
                verdict = guard.admit(person, time.monotonic())
                if verdict is Verdict.HANDLE:
                    await _say(update, context, RELAYED)
                elif verdict is Verdict.SLOW_DOWN:
                    await _say(update, context, SLOW_DOWN)
            ignore("forwarded")
        if not _is_command(update):
            # Only commands count: button presses answer the bot's own questions (a guided
            # flow's steps come quickly), and plain messages are not for the bot.
            return
        person = _person(update)
        if person is None:
            return
        verdict = guard.admit(person, time.monotonic())
        if verdict is Verdict.HANDLE:
            return
        if verdict is Verdict.SLOW_DOWN:
            await _say(update, context, SLOW_DOWN)
        ignore("too_fast")

    app.add_handler(TypeHandler(Update, on_update), group=GATE)
