"""Who may use a staff command or press a staff button: authorisation goes by the sender's
numeric user id, in a private chat, from a message the staff member sent themselves."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType

from bot import staff_texts as say
from bot.context import Context
from bot.i18n import Translator
from bot.parsing import arguments
from jobs import logref
from storage.errors import UserError
from storage.models import Role

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """The staff member behind a command, and the language they read."""

    user_id: int
    role: Role
    t: Translator


StaffCallback = Callable[[Message, Context, Actor, str], Awaitable[None]]
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


def relayed(message: Message) -> bool:
    """Whether a message was forwarded (``forward_origin``) or sent through an inline bot: its
    sender did not type it, so it is no staff member's command or answer."""
    return message.forward_origin is not None or message.via_bot is not None


def staff_command(minimum: Role) -> Callable[[StaffCallback], Handler]:
    """Let the callback run only for staff of at least ``minimum``, in a private chat.

    The callback gets the message, the context, the actor and the text after the command; a
    UserError it raises (a UsageError, a ScheduleError, a StaffError) becomes a reply that says
    what to fix.
    """

    def decorate(callback: StaffCallback) -> Handler:
        @functools.wraps(callback)
        async def handler(update: Update, context: Context) -> None:
            message, chat, user = (
                update.effective_message,
                update.effective_chat,
                update.effective_user,
            )
            if message is None or chat is None:
                return
            t = context.t
            command = callback.__name__.removeprefix("cmd_")
            if chat.type != ChatType.PRIVATE:
                # One answer for everyone, asked before anything else: a group must not learn
                # who in it is staff.
                await message.reply_text(t(say.PRIVATE_ONLY))
                return
            if message.sender_chat is not None or user is None:
                logger.warning("staff command /%s refused: sent on behalf of a chat", command)
                await message.reply_text(t(say.ANONYMOUS))
                return
            if relayed(message):
                # A forwarded command would act as whoever forwarded it. The same line for
                # everyone, staff or not, before the role is looked at.
                logger.warning("staff command /%s refused: forwarded or via a bot", command)
                await message.reply_text(t(say.RELAYED))
                return
            role = context.turn.role
            if role is None:
                logger.warning(
                    "staff command /%s refused: user %s is not staff", command, logref.ref(user.id)
                )
                await message.reply_text(t(say.NOT_STAFF))
                return
            if minimum == Role.ADMIN and role != Role.ADMIN:
                logger.warning(
                    "staff command /%s refused: user %s is a moderator",
                    command,
                    logref.ref(user.id),
                )
                await message.reply_text(t(say.ADMINS_ONLY))
                return
            try:
                await callback(
                    message, context, Actor(user.id, role, t), arguments(message.text or "")
                )
            except UserError as exc:
                await message.reply_text(say.problem(say.explain(t, exc)))

        return handler

    return decorate


async def staff_press(update: Update, context: Context, minimum: Role) -> int | None:
    """The user id behind a button press if they are staff of at least ``minimum``; otherwise
    the press is answered with the neutral line, logged, and None returned."""
    query, user = update.callback_query, update.effective_user
    assert query is not None
    if user is None:
        await query.answer()
        return None
    role = context.turn.role
    if role is None or (minimum == Role.ADMIN and role != Role.ADMIN):
        logger.warning("button refused: user %s is not %s", logref.ref(user.id), minimum)
        await query.answer(context.t(say.NOT_STAFF), show_alert=True)
        return None
    return user.id


async def schedule_changed(context: Context) -> None:
    """Have the reminder jobs rebuilt from the database after a change to the schedule."""
    await context.bot_data.signals.schedule_changed()
