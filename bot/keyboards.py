"""Inline keyboards and the callback data behind their buttons."""

from __future__ import annotations

from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import chat_texts, texts
from bot.i18n import Translator

SUBSCRIBE = "sub"
UNSUBSCRIBE = "unsub"
CALLBACK_PATTERN = rf"^({SUBSCRIBE}|{UNSUBSCRIBE}):"


def subscription_button(t: Translator, case_id: str, *, followed: bool) -> InlineKeyboardButton:
    """Subscribe or Unsubscribe, whichever this chat can do next."""
    if followed:
        return InlineKeyboardButton(
            t(texts.BUTTON_UNSUBSCRIBE, case_id=case_id), callback_data=f"{UNSUBSCRIBE}:{case_id}"
        )
    return InlineKeyboardButton(
        t(texts.BUTTON_SUBSCRIBE, case_id=case_id), callback_data=f"{SUBSCRIBE}:{case_id}"
    )


def subscription_keyboard(
    t: Translator, case_ids: Iterable[str], followed: set[str]
) -> InlineKeyboardMarkup:
    """One button per case, a row each."""
    return InlineKeyboardMarkup(
        [[subscription_button(t, case_id, followed=case_id in followed)] for case_id in case_ids]
    )


def parse_callback(data: str) -> tuple[str, str] | None:
    """('sub' or 'unsub', case id) from a button's data, or None for anything else."""
    action, sep, case_id = data.partition(":")
    if not sep or action not in (SUBSCRIBE, UNSUBSCRIBE) or not case_id:
        return None
    return action, case_id


def case_ids_in(markup: InlineKeyboardMarkup | None) -> list[str]:
    """The cases a subscription keyboard is about, in its order."""
    ids = []
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            data = button.callback_data
            parsed = parse_callback(data) if isinstance(data, str) else None
            if parsed:
                ids.append(parsed[1])
    return ids


def refreshed(
    t: Translator, markup: InlineKeyboardMarkup | None, followed: set[str]
) -> InlineKeyboardMarkup | None:
    """A keyboard with its Subscribe/Unsubscribe buttons showing what the chat can do now, and
    every other button as it was."""
    if markup is None:
        return None
    rows = []
    for row in markup.inline_keyboard:
        buttons = []
        for button in row:
            data = button.callback_data
            parsed = parse_callback(data) if isinstance(data, str) else None
            if parsed is None:
                buttons.append(button)
            else:
                buttons.append(subscription_button(t, parsed[1], followed=parsed[1] in followed))
        rows.append(buttons)
    return InlineKeyboardMarkup(rows)


def manage_row(t: Translator, action: str, argument: str = "") -> list[InlineKeyboardButton]:
    """The button, in a private chat, that leads to Telegram's chat picker for ``action`` (see
    bot.handlers.managed)."""
    return [
        InlineKeyboardButton(t(chat_texts.MANAGE_BUTTON), callback_data=f"pick:{action}:{argument}")
    ]


def case_keyboard(
    t: Translator, case_id: str, followed: set[str], *, private: bool
) -> InlineKeyboardMarkup:
    """Under one case: Subscribe or Unsubscribe, and in a private chat the way to a channel or
    group the person manages."""
    rows = [[subscription_button(t, case_id, followed=case_id in followed)]]
    if private:
        rows.append(manage_row(t, "sub", case_id))
    return InlineKeyboardMarkup(rows)


MANAGED = "mine"
MANAGED_PATTERN = rf"^{MANAGED}$"


def managed_row(t: Translator) -> list[InlineKeyboardButton]:
    """The button, under /mysubs in a private chat, that lists the channels and groups the
    person manages (see bot.handlers.managed)."""
    return [InlineKeyboardButton(t(chat_texts.MANAGED_BUTTON), callback_data=MANAGED)]
