"""Who may change what a chat follows, reads and is reminded of."""

from __future__ import annotations

from telegram import ChatMember, Update
from telegram.constants import ChatType as TelegramChatType

from bot.context import Context


async def may_change_subscriptions(update: Update, context: Context) -> bool:
    """In a group only its administrators (asked of Telegram) change what the group follows."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == TelegramChatType.PRIVATE:
        return True
    message = update.effective_message
    # An anonymous administrator writes as the group itself; only administrators can.
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id == chat.id
    user = update.effective_user
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in (ChatMember.OWNER, ChatMember.ADMINISTRATOR)
