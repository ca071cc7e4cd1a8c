"""Telegram's chat picker, as a private chat offers it: "a channel or group I manage".

The picker is a reply-keyboard button (``KeyboardButtonRequestChat``); Telegram answers with the
chosen chat's id and the ``request_id`` the button carried, a signed 32-bit number. What the
person asked for (subscribe to which case, which reminders, which language) travels in that
number, so that nothing about the person is kept while they choose, and any instance can act on
the answer:

    bits 27-29: the action; bit 26: a channel (else a group); bits 0-25: its argument

A case is carried as a 26-bit fingerprint of its id, found again among the cases when the answer
comes (two cases sharing one is refused as out of date; with a few dozen cases, a chance of about
one in a hundred thousand); a choice (reminders, language) as its place in a list.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import IntEnum

from telegram import (
    ChatAdministratorRights,
    KeyboardButton,
    KeyboardButtonRequestChat,
    ReplyKeyboardMarkup,
)

from bot import chat_texts
from bot.i18n import Translator

ARGUMENT_BITS = 26
ARGUMENT_MASK = (1 << ARGUMENT_BITS) - 1
CHANNEL_BIT = 1 << ARGUMENT_BITS
ACTION_SHIFT = ARGUMENT_BITS + 1

# What the person and the bot need in a channel: to post there.
POSTER = ChatAdministratorRights(
    is_anonymous=False,
    can_manage_chat=False,
    can_delete_messages=False,
    can_manage_video_chats=False,
    can_restrict_members=False,
    can_promote_members=False,
    can_change_info=False,
    can_invite_users=False,
    can_post_stories=False,
    can_edit_stories=False,
    can_delete_stories=False,
    can_post_messages=True,
)


class Action(IntEnum):
    """What the chosen chat is for; also the name its inline button carries."""

    SUBSCRIBE = 1
    UNSUBSCRIBE = 2
    UNSUBSCRIBE_ALL = 3
    REMIND = 4
    LANGUAGE = 5


# The names in the inline buttons' data ("pick:sub:tabarak").
NAMES = {
    "sub": Action.SUBSCRIBE,
    "unsub": Action.UNSUBSCRIBE,
    "unsuball": Action.UNSUBSCRIBE_ALL,
    "remind": Action.REMIND,
    "lang": Action.LANGUAGE,
}


@dataclass(frozen=True, slots=True)
class Request:
    """A chat picker's request: what for, whether for a channel, and its argument."""

    action: Action
    channel: bool
    argument: int = 0

    def encode(self) -> int:
        """The request_id that carries it."""
        if not 0 <= self.argument <= ARGUMENT_MASK:
            raise ValueError(f"argument {self.argument} does not fit in {ARGUMENT_BITS} bits")
        return (self.action << ACTION_SHIFT) | (CHANNEL_BIT if self.channel else 0) | self.argument


def decode(request_id: int) -> Request | None:
    """The request a request_id carries; None for one the bot did not make."""
    try:
        action = Action(request_id >> ACTION_SHIFT)
    except ValueError:
        return None
    return Request(action, bool(request_id & CHANNEL_BIT), request_id & ARGUMENT_MASK)


def fingerprint(case_id: str) -> int:
    """A case id as a request carries it."""
    return zlib.crc32(case_id.encode()) & ARGUMENT_MASK


def keyboard(t: Translator, action: Action, argument: int = 0) -> ReplyKeyboardMarkup:
    """The reply keyboard whose buttons open Telegram's chat picker: a channel the person
    manages where the bot may post, or a group they manage where the bot is; and Not now."""
    # To leave a chat, the bot need only be there; otherwise it must be able to post.
    needs = None if action in (Action.UNSUBSCRIBE, Action.UNSUBSCRIBE_ALL) else POSTER
    channel = KeyboardButtonRequestChat(
        request_id=Request(action, True, argument).encode(),
        chat_is_channel=True,
        user_administrator_rights=POSTER,
        bot_administrator_rights=needs,
        bot_is_member=True,
        request_title=True,
    )
    group = KeyboardButtonRequestChat(
        request_id=Request(action, False, argument).encode(),
        chat_is_channel=False,
        # No particular right: being one of the group's administrators is enough.
        user_administrator_rights=ChatAdministratorRights.no_rights(),
        bot_is_member=True,
        request_title=True,
    )
    return ReplyKeyboardMarkup(
        [
            [
                KeyboardButton(t(chat_texts.PICK_CHANNEL), request_chat=channel),
                KeyboardButton(t(chat_texts.PICK_GROUP), request_chat=group),
            ],
            [KeyboardButton(t(chat_texts.PICK_NOT_NOW))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
