"""The command menus Telegram clients show, in each language: the plain one, and one per staff
member. Telegram shows the menu registered for the user's app language, else the default one."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot import texts
from bot.i18n import LANGUAGES, Translator, translator
from bot.staff_texts import staff_commands
from jobs import logref
from storage.models import Role

logger = logging.getLogger(__name__)


def menu(t: Translator, role: Role | None) -> list[BotCommand]:
    """Everyone's commands, then the staff commands the role may use."""
    entries = texts.COMMANDS + (staff_commands(role) if role else ())
    return [BotCommand(name, t(about)) for name, about in entries]


async def set_default_menu(bot: Bot, default_language: str) -> None:
    """The menu everyone sees; a server without setMyCommands costs a warning."""
    try:
        await bot.set_my_commands(menu(translator(default_language), None))
        for language in LANGUAGES:
            await bot.set_my_commands(menu(translator(language), None), language_code=language)
    except TelegramError as exc:
        logger.warning("could not register the command menu: %s", exc)


async def set_staff_menu(bot: Bot, user_id: int, role: Role | None, default_language: str) -> None:
    """Show a staff member their commands in their private chat; None restores the plain menu."""
    scope = BotCommandScopeChat(user_id)
    try:
        if role is None:
            await bot.delete_my_commands(scope=scope)
            for language in LANGUAGES:
                await bot.delete_my_commands(scope=scope, language_code=language)
            return
        await bot.set_my_commands(menu(translator(default_language), role), scope=scope)
        for language in LANGUAGES:
            await bot.set_my_commands(
                menu(translator(language), role), scope=scope, language_code=language
            )
    except TelegramError as exc:
        # Telegram refuses a chat scope until the person has opened a chat with the bot.
        logger.warning("could not set the staff menu of user %s: %s", logref.ref(user_id), exc)
