"""Who may change what a chat follows, reads and is reminded of, and whether the bot may post
there: asked of Telegram (getChatMember) each time, never stored."""

from __future__ import annotations

from telegram import Bot, ChatMember, ChatMemberAdministrator, ChatMemberRestricted, Update
from telegram.constants import ChatType as TelegramChatType

from bot.context import Context


async def may_change_subscriptions(update: Update, context: Context) -> bool:
    """In a private chat anyone; in a group only its administrators, and in a channel only its
    administrators who may post (asked of Telegram)."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == TelegramChatType.PRIVATE:
        return True
    message = update.effective_message
    # A message sent as the chat itself: in a channel a post, which only its administrators who
    # may post can make; in a group an anonymous administrator. Not for a button press: the
    # message under a button is the bot's own, which in a channel is "sent as" the channel too.
    if update.callback_query is None and message is not None and message.sender_chat is not None:
        return message.sender_chat.id == chat.id
    user = update.effective_user
    if user is None:
        return False
    return await manages(
        context.bot, chat.id, user.id, channel=chat.type == TelegramChatType.CHANNEL
    )


async def manages(bot: Bot, chat_id: int, user_id: int, *, channel: bool) -> bool:
    """Whether the person is the chat's owner or an administrator (in a channel, one who may
    post). Raises what Telegram answers when it will not say (the bot is not in the chat)."""
    member = await bot.get_chat_member(chat_id, user_id)
    if member.status == ChatMember.OWNER:
        return True
    if isinstance(member, ChatMemberAdministrator):
        return not channel or bool(member.can_post_messages)
    return False


async def bot_may_post(bot: Bot, chat_id: int, *, channel: bool) -> bool:
    """Whether the bot may post in the chat: in a channel as an administrator with the right to
    post, in a group as a member that is not muted. Raises what Telegram answers when the bot
    is not in the chat at all."""
    return may_post(await bot.get_chat_member(chat_id, bot.id), channel=channel)


def may_post(member: ChatMember, *, channel: bool) -> bool:
    """Whether a member with these rights may post in the chat."""
    if member.status == ChatMember.OWNER:
        return True
    if isinstance(member, ChatMemberAdministrator):
        return not channel or bool(member.can_post_messages)
    if channel:  # a channel's plain members (and the bot, if it were one) only read
        return False
    if member.status == ChatMember.MEMBER:
        return True
    if isinstance(member, ChatMemberRestricted):
        return member.is_member and member.can_send_messages
    return False
