"""Inline keyboards and the callback data behind their buttons."""

from __future__ import annotations

from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import texts
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
