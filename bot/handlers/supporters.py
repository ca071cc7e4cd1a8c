"""What any supporter can do: read the schedule and (un)subscribe their chat."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import chat_texts, keyboards, texts
from bot.context import Context, HearingWatchApp
from bot.handlers.access import may_change_subscriptions
from bot.handlers.answers import answer, topic_of
from bot.i18n import Translator
from bot.texts import title_of
from storage import schedule, subscriptions
from storage.models import CaseStatus, ChatType
from storage.subscriptions import SubscribeResult

# Long lists go out in several messages, so each stays short on a phone and under the limits.
CASES_PER_MESSAGE = 8
# Only new messages: an edited "/subscribe x" must not act a second time.
NEW_MESSAGES = filters.UpdateType.MESSAGE

_T = TypeVar("_T")


def batched(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """Consecutive slices of at most ``size`` items (itertools.batched is Python 3.12+)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _reply(
    update: Update, context: Context, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    await answer(update, context, text, markup)


def _private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def _unknown_case(update: Update, context: Context, t: Translator, case_id: str) -> None:
    async with context.bot_data.database.reading() as session:
        suggestions = await schedule.closest_case_ids(session, case_id)
    await _reply(update, context, texts.unknown_case(t, case_id, suggestions))


async def _subscribe(update: Update, context: Context, t: Translator, case_id: str) -> None:
    chat = update.effective_chat
    assert chat is not None  # every handler here is for messages in a chat
    if not await may_change_subscriptions(update, context):
        await _reply(update, context, chat_texts.only_admins(t, chat.type))
        return
    async with context.bot_data.database.writing() as session:
        result = await subscriptions.subscribe(
            session,
            chat_id=chat.id,
            chat_type=ChatType(chat.type),
            case_id=case_id,
            language=context.turn.detected,
            thread_id=topic_of(update),
        )
        case = await schedule.get_case(session, case_id)
    if result is SubscribeResult.NO_SUCH_CASE or case is None:
        await _unknown_case(update, context, t, case_id)
        return
    # In a private chat: the way on to a channel or group the person manages.
    more = (
        InlineKeyboardMarkup([keyboards.manage_row(t, "sub", case.id)])
        if _private(update)
        else None
    )
    if result is SubscribeResult.CASE_CLOSED:
        await _reply(update, context, texts.case_closed(t, case))
    elif result is SubscribeResult.ALREADY_SUBSCRIBED:
        await _reply(update, context, texts.already_subscribed(t, case), more)
    elif result is SubscribeResult.MOVED:
        await _reply(update, context, t(chat_texts.SUBSCRIBED_HERE_NOW, title=title_of(t, case)))
    else:
        await _reply(update, context, texts.subscribed(t, case), more)


async def cmd_start(update: Update, context: Context) -> None:
    """Greet; with a deep-link payload (t.me/<bot>?start=<case-id>), show the case with its
    Subscribe button: opening a link someone posted stores nothing until it is pressed."""
    t = context.t
    if context.args:
        await _show_case(update, context, schedule.normalise_case_id(context.args[0]))
        return
    await _reply(update, context, t(texts.START))


async def cmd_help(update: Update, context: Context) -> None:
    """List the commands."""
    await _reply(update, context, texts.help_text(context.t))


async def cmd_cases(update: Update, context: Context) -> None:
    """The active cases with their next hearings and a (un)subscribe button each."""
    chat = update.effective_chat
    assert chat is not None
    t = context.t
    now = context.bot_data.clock()
    async with context.bot_data.database.reading() as session:
        summaries = await schedule.case_summaries(session, now)
        followed = await subscriptions.subscribed_case_ids(session, chat_id=chat.id)
    if not summaries:
        await _reply(update, context, t(texts.NO_CASES))
        return
    for chunk in batched(summaries, CASES_PER_MESSAGE):
        markup = keyboards.subscription_keyboard(t, (s.case.id for s in chunk), followed)
        await _reply(update, context, texts.case_list(t, chunk, now), markup)


async def cmd_case(update: Update, context: Context) -> None:
    """One case with every hearing, postponements included."""
    if not context.args:
        await _reply(update, context, texts.usage(context.t, "case"))
        return
    await _show_case(update, context, schedule.normalise_case_id(context.args[0]))


async def _show_case(update: Update, context: Context, case_id: str) -> None:
    chat = update.effective_chat
    assert chat is not None
    t = context.t
    async with context.bot_data.database.reading() as session:
        case = await schedule.get_case(session, case_id)
        hearings = await schedule.hearings_of(session, case_id) if case else []
        followed = await subscriptions.subscribed_case_ids(session, chat_id=chat.id)
    if case is None:
        await _unknown_case(update, context, t, case_id)
        return
    markup = None
    if case.status == CaseStatus.ACTIVE or case.id in followed:
        markup = keyboards.case_keyboard(t, case.id, followed, private=_private(update))
    now = context.bot_data.clock()
    *first, last = texts.case_details(t, case, hearings, now)
    for text in first:
        await _reply(update, context, text)
    await _reply(update, context, last, markup)  # the button under the end of the case


async def cmd_subscribe(update: Update, context: Context) -> None:
    """Subscribe this chat to a case."""
    t = context.t
    if not context.args:
        await _reply(update, context, texts.usage(t, "subscribe"))
        return
    await _subscribe(update, context, t, schedule.normalise_case_id(context.args[0]))


async def cmd_unsubscribe(update: Update, context: Context) -> None:
    """Unsubscribe this chat from a case, or from all with 'all'."""
    chat = update.effective_chat
    assert chat is not None
    t = context.t
    if not context.args:
        await _reply(update, context, texts.usage(t, "unsubscribe"))
        return
    case_id = schedule.normalise_case_id(context.args[0])
    if not await may_change_subscriptions(update, context):
        await _reply(update, context, chat_texts.only_admins(t, chat.type))
        return
    private = _private(update)
    if case_id == "all":
        async with context.bot_data.database.writing() as session:
            removed = await subscriptions.unsubscribe_all(session, chat_id=chat.id)
        more = InlineKeyboardMarkup([keyboards.manage_row(t, "unsuball")]) if private else None
        await _reply(update, context, texts.unsubscribed_all(t, removed), more)
        return
    async with context.bot_data.database.writing() as session:
        removed_one = await subscriptions.unsubscribe(session, chat_id=chat.id, case_id=case_id)
        exists = await schedule.get_case(session, case_id) is not None
    more = InlineKeyboardMarkup([keyboards.manage_row(t, "unsub", case_id)]) if private else None
    if removed_one:
        await _reply(update, context, texts.unsubscribed(t, case_id), more)
    elif exists:
        await _reply(update, context, texts.not_subscribed(t, case_id), more)
    else:
        await _unknown_case(update, context, t, case_id)


async def cmd_mysubs(update: Update, context: Context) -> None:
    """The cases this chat follows; in a private chat, a button for the channels and groups the
    person manages (asked of Telegram only when pressed: one question per such chat)."""
    chat = update.effective_chat
    assert chat is not None
    t = context.t
    now = context.bot_data.clock()
    async with context.bot_data.database.reading() as session:
        summaries = await schedule.case_summaries(session, now, followed_by=chat.id)
        managed = _private(update) and await subscriptions.any_group_or_channel_following(session)
    more = [keyboards.managed_row(t)] if managed else []
    if not summaries:
        markup = InlineKeyboardMarkup(more) if more else None
        await _reply(update, context, t(texts.NO_SUBSCRIPTIONS), markup)
        return
    followed = {summary.case.id for summary in summaries}
    chunks = list(batched(summaries, CASES_PER_MESSAGE))
    for number, chunk in enumerate(chunks, start=1):
        markup = keyboards.subscription_keyboard(t, (s.case.id for s in chunk), followed)
        if number == len(chunks) and more:
            markup = InlineKeyboardMarkup([*markup.inline_keyboard, *more])
        await _reply(update, context, texts.my_subscriptions(t, list(chunk), now), markup)


async def on_subscription_button(update: Update, context: Context) -> None:
    """Subscribe or Unsubscribe pressed: act, then show the chat's new state on the buttons."""
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None
    parsed = keyboards.parse_callback(query.data or "")
    if parsed is None or chat is None:
        await query.answer()
        return
    t = context.t
    if not await may_change_subscriptions(update, context):
        await query.answer(chat_texts.only_admins(t, chat.type), show_alert=True)
        return
    action, case_id = parsed
    async with context.bot_data.database.writing() as session:
        if action == keyboards.SUBSCRIBE:
            result = await subscriptions.subscribe(
                session,
                chat_id=chat.id,
                chat_type=ChatType(chat.type),
                case_id=case_id,
                language=context.turn.detected,
                thread_id=topic_of(update),
            )
            outcome = {
                SubscribeResult.SUBSCRIBED: "subscribed",
                # Moved to the topic of this button: subscribed here, as far as anyone sees.
                SubscribeResult.MOVED: "subscribed",
                SubscribeResult.ALREADY_SUBSCRIBED: "already",
                SubscribeResult.NO_SUCH_CASE: "gone",
                SubscribeResult.CASE_CLOSED: "closed",
            }[result]
        else:
            removed = await subscriptions.unsubscribe(session, chat_id=chat.id, case_id=case_id)
            outcome = "unsubscribed" if removed else "not"
        followed = await subscriptions.subscribed_case_ids(session, chat_id=chat.id)
    await query.answer(texts.button_answer(t, outcome, case_id))
    message = query.message
    if isinstance(message, Message):
        markup = keyboards.refreshed(t, message.reply_markup, followed)
        if markup != message.reply_markup:
            try:
                await query.edit_message_reply_markup(markup)
            except BadRequest as exc:
                # Two quick presses race to the same state; Telegram refuses the second edit.
                if "not modified" not in exc.message.lower():
                    raise


def register(app: HearingWatchApp) -> None:
    """Add the supporters' handlers."""
    commands = {
        "start": cmd_start,
        "help": cmd_help,
        "cases": cmd_cases,
        "case": cmd_case,
        "subscribe": cmd_subscribe,
        "unsubscribe": cmd_unsubscribe,
        "mysubs": cmd_mysubs,
    }
    # In a channel, /subscribe and /unsubscribe are posts: bot.handlers.channels.
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=NEW_MESSAGES))
    app.add_handler(
        CallbackQueryHandler(on_subscription_button, pattern=keyboards.CALLBACK_PATTERN)
    )
