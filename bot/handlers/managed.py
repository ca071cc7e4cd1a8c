"""A channel or group a person manages, changed from their private chat with the bot.

A button "A channel or group I manage" (under a case, /unsubscribe, /remind, /language) leads to
Telegram's own chat picker (``bot.picker``); the chat Telegram hands back is checked with
getChatMember (the person is its administrator, in a channel one who may post; the bot is there
and may post) and then follows the case, stops following it, or gets the reminders or language
chosen. /mysubs in a private chat has a button that lists the channels and groups the person
manages that follow something, asked of Telegram at that moment. Nothing about the person is
stored.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.constants import ChatType as TelegramChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot import chat_texts, keyboards, picker, texts
from bot.context import Context, HearingWatchApp
from bot.handlers.access import bot_may_post, manages
from bot.handlers.language import language_row
from bot.handlers.reminders import choice_rows, choices, chosen
from bot.i18n import LANGUAGES, Translator, supported, translator
from bot.picker import Action, Request
from bot.texts import title_of
from jobs import logref
from storage import chats, schedule, subscriptions
from storage.models import CaseStatus, ChatType
from storage.subscriptions import SubscribeResult

logger = logging.getLogger(__name__)

PICK = "pick"
PICK_PATTERN = rf"^{PICK}:"
# getChatMember questions in flight at once for one /mysubs.
CHECKS_AT_ONCE = 8
# Telegram answers this way when the bot is not in the chat, or the chat is gone.
NOT_THERE = (BadRequest, Forbidden)

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | None


async def on_pick(update: Update, context: Context) -> None:
    """ "A channel or group I manage" pressed: the next step, then Telegram's chat picker."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    name, _, argument = (query.data or "").removeprefix(f"{PICK}:").partition(":")
    action = picker.NAMES.get(name)
    t = context.t
    if action is None or chat is None:
        await query.answer()
        return
    if chat.type != TelegramChatType.PRIVATE:
        await query.answer(t(chat_texts.PICK_ONLY_PRIVATE), show_alert=True)
        return
    text, markup = await _offer(context, t, action, argument)
    await query.answer()
    await context.bot.send_message(chat.id, text, reply_markup=markup)


async def _offer(
    context: Context, t: Translator, action: Action, argument: str
) -> tuple[str, Markup]:
    """What to ask next for ``action``: a choice first (reminders, language), else the picker."""
    match action:
        case Action.SUBSCRIBE | Action.UNSUBSCRIBE:
            async with context.bot_data.database.reading() as session:
                case = await schedule.get_case(session, argument)
            if case is None:
                return texts.unknown_case(t, argument, []), None
            if action is Action.UNSUBSCRIBE:
                text = t(chat_texts.PICK_UNSUBSCRIBE, case_id=case.id)
            elif case.status != CaseStatus.ACTIVE:
                return texts.case_closed(t, case), None
            else:
                text = t(chat_texts.PICK_SUBSCRIBE, title=title_of(t, case))
            return text, picker.keyboard(t, action, picker.fingerprint(case.id))
        case Action.UNSUBSCRIBE_ALL:
            return t(chat_texts.PICK_UNSUBSCRIBE_ALL), picker.keyboard(t, action)
        case Action.REMIND:
            options = choices(context.bot_data.config.reminder_offsets)
            if not argument:
                rows = choice_rows(t, context.bot_data.config.reminder_offsets, f"{PICK}:remind")
                return t(chat_texts.PICK_REMINDERS_FIRST), InlineKeyboardMarkup(rows)
            if argument not in options:
                return t(chat_texts.PICK_OUT_OF_DATE), None
            return t(chat_texts.PICK_REMINDERS), picker.keyboard(t, action, options.index(argument))
        case Action.LANGUAGE:
            if not argument:
                row = language_row(f"{PICK}:lang")
                return t(chat_texts.PICK_LANGUAGE_FIRST), InlineKeyboardMarkup([row])
            code = supported(argument)
            if code is None:
                return t(chat_texts.PICK_OUT_OF_DATE), None
            text = t(chat_texts.PICK_LANGUAGE, language=chat_texts.language_name(code))
            return text, picker.keyboard(t, action, LANGUAGES.index(code))


async def on_chat_shared(update: Update, context: Context) -> None:
    """Telegram's chat picker answered: check the person's and the bot's rights there, then act."""
    message, user = update.effective_message, update.effective_user
    if message is None or message.chat_shared is None or user is None:
        return
    shared = message.chat_shared
    t = context.t
    request = picker.decode(shared.request_id)
    done = ReplyKeyboardRemove()
    if request is None:
        await message.reply_text(t(chat_texts.PICK_OUT_OF_DATE), reply_markup=done)
        return
    name = chat_texts.chat_name(t, shared.title)
    channel = request.channel
    bot = context.bot
    # To leave a chat the bot need only be there (to ask who manages it); else it must post.
    leaving = request.action in (Action.UNSUBSCRIBE, Action.UNSUBSCRIBE_ALL)
    try:
        admin: bool | None = await manages(bot, shared.chat_id, user.id, channel=channel)
        able = leaving or await bot_may_post(bot, shared.chat_id, channel=channel)
    except NOT_THERE:  # the bot is not in the chat: Telegram will not say who manages it
        admin, able = None, False
    if admin is False:
        refusal = chat_texts.not_an_admin(t, name, channel=channel)
    elif not able:
        refusal = chat_texts.cannot_post(t, name, channel=channel)
    else:
        refusal = None
    if refusal is not None:
        await message.reply_text(refusal, reply_markup=done)
        return
    text = await _act(context, t, request, shared.chat_id, name)
    logger.info("chat %s changed from a private chat", logref.ref(shared.chat_id))
    await message.reply_text(text, reply_markup=done)


def _chat_type(request: Request, chat_id: int) -> ChatType:
    # Supergroups' (and channels') ids start with -100; a basic group's do not.
    if request.channel:
        return ChatType.CHANNEL
    return ChatType.SUPERGROUP if str(chat_id).startswith("-100") else ChatType.GROUP


async def _act(context: Context, t: Translator, request: Request, chat_id: int, name: str) -> str:
    """Do what was asked for the chosen chat; the answer to the person who asked."""
    config = context.bot_data.config
    chat_type = _chat_type(request, chat_id)
    async with context.bot_data.database.writing() as session:
        match request.action:
            case Action.SUBSCRIBE | Action.UNSUBSCRIBE:
                found = [
                    case_id
                    for case_id in await schedule.case_ids(session)
                    if picker.fingerprint(case_id) == request.argument
                ]
                if len(found) != 1:  # the case is gone (or two share the fingerprint)
                    return t(chat_texts.PICK_OUT_OF_DATE)
                case_id = found[0]
                case = await schedule.get_case(session, case_id)
                assert case is not None
                if request.action is Action.UNSUBSCRIBE:
                    removed = await subscriptions.unsubscribe(
                        session, chat_id=chat_id, case_id=case_id
                    )
                    said = (
                        chat_texts.SHARED_UNSUBSCRIBED
                        if removed
                        else chat_texts.SHARED_NOT_SUBSCRIBED
                    )
                    return t(said, chat=name, case_id=case_id)
                result = await subscriptions.subscribe(
                    session, chat_id=chat_id, chat_type=chat_type, case_id=case_id, move=False
                )
                title = title_of(t, case)
                if result is SubscribeResult.CASE_CLOSED:
                    return t(chat_texts.SHARED_CLOSED, title=title)
                if result is SubscribeResult.ALREADY_SUBSCRIBED:
                    return t(chat_texts.SHARED_ALREADY, chat=name, title=title)
                return t(chat_texts.SHARED_SUBSCRIBED, chat=name, title=title)
            case Action.UNSUBSCRIBE_ALL:
                removed_ids = await subscriptions.unsubscribe_all(session, chat_id=chat_id)
                if not removed_ids:
                    return t(chat_texts.SHARED_FOLLOWED_NOTHING, chat=name)
                return t(
                    chat_texts.SHARED_UNSUBSCRIBED_ALL,
                    chat=name,
                    ids=chat_texts.case_ids(removed_ids),
                )
            case Action.REMIND:
                options = choices(config.reminder_offsets)
                if request.argument >= len(options):
                    return t(chat_texts.PICK_OUT_OF_DATE)
                choice = chosen(options[request.argument])
                await chats.set_reminder_choice(
                    session, chat_id=chat_id, chat_type=chat_type, offsets=choice
                )
                wanted = config.reminder_offsets if choice is None else choice
                if not wanted:
                    return t(chat_texts.SHARED_NO_REMINDERS, chat=name)
                return t(
                    chat_texts.SHARED_REMINDERS, chat=name, times=texts.reminder_times(t, wanted)
                )
            case Action.LANGUAGE:
                if request.argument >= len(LANGUAGES):
                    return t(chat_texts.PICK_OUT_OF_DATE)
                code = LANGUAGES[request.argument]
                await chats.choose_language(
                    session, chat_id=chat_id, chat_type=chat_type, language=code
                )
                return t(
                    chat_texts.SHARED_LANGUAGE, chat=name, language=chat_texts.language_name(code)
                )


async def on_not_now(update: Update, context: Context) -> None:
    """ "Not now" under the chat picker: take the keyboard away, change nothing."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(
            context.t(chat_texts.PICK_CANCELLED), reply_markup=ReplyKeyboardRemove()
        )


async def on_managed(update: Update, context: Context) -> None:
    """The button under /mysubs: the channels and groups the person manages that follow
    something, asked of Telegram now."""
    query, chat, user = update.callback_query, update.effective_chat, update.effective_user
    assert query is not None
    t = context.t
    if chat is None or user is None or chat.type != TelegramChatType.PRIVATE:
        await query.answer()
        return
    await query.answer()
    lines = await managed_lines(context, user.id)
    if not lines:
        await context.bot.send_message(chat.id, t(chat_texts.MANAGED_NONE))
        return
    heading = t(chat_texts.MANAGED_HEADING)
    for text in texts.pack([f"<b>{heading}</b>\n", *lines], joiner="\n"):
        await context.bot.send_message(chat.id, text)


async def managed_lines(context: Context, user_id: int) -> list[str]:
    """A line for each channel or group that follows something and that the person manages,
    asked of Telegram now (nothing about them is kept): one getChatMember per such chat, a few
    at a time, which is why it waits for a button."""
    async with context.bot_data.database.reading() as session:
        following = await subscriptions.groups_and_channels_following(session)
    if not following:
        return []
    t, bot = context.t, context.bot
    turns = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def line(chat: subscriptions.FollowingChat) -> str | None:
        async with turns:
            try:
                channel = chat.type == ChatType.CHANNEL
                if not await manages(bot, chat.chat_id, user_id, channel=channel):
                    return None
                title = (await bot.get_chat(chat.chat_id)).title
            except NOT_THERE:  # the bot is not there any more: Telegram will not say
                return None
        return chat_texts.managed_line(
            t, title, chat.type, list(chat.case_ids), paused=not chat.reachable
        )

    lines = await asyncio.gather(*(line(chat) for chat in following))
    return [found for found in lines if found is not None]


def register(app: HearingWatchApp) -> None:
    """Add the chat picker's steps (private chats only)."""
    app.add_handler(CallbackQueryHandler(on_pick, pattern=PICK_PATTERN))
    app.add_handler(CallbackQueryHandler(on_managed, pattern=keyboards.MANAGED_PATTERN))
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(private & filters.StatusUpdate.CHAT_SHARED, on_chat_shared))
    not_now = {translator(language)(chat_texts.PICK_NOT_NOW) for language in LANGUAGES}
    app.add_handler(MessageHandler(private & filters.Text(list(not_now)), on_not_now))
