"""What any supporter can do: read the schedule and (un)subscribe their chat."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import keyboards, texts
from bot.context import Context, HearingWatchApp
from bot.handlers.access import may_change_subscriptions
from bot.i18n import Translator
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


async def _reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, reply_markup=markup)


async def _unknown_case(update: Update, context: Context, t: Translator, case_id: str) -> None:
    async with context.bot_data.database.reading() as session:
        suggestions = await schedule.closest_case_ids(session, case_id)
    await _reply(update, texts.unknown_case(t, case_id, suggestions))


async def _subscribe(update: Update, context: Context, t: Translator, case_id: str) -> None:
    chat = update.effective_chat
    assert chat is not None  # every handler here is for messages in a chat
    if not await may_change_subscriptions(update, context):
        await _reply(update, t(texts.ONLY_GROUP_ADMINS))
        return
    async with context.bot_data.database.writing() as session:
        result = await subscriptions.subscribe(
            session,
            chat_id=chat.id,
            chat_type=ChatType(chat.type),
            case_id=case_id,
            language=context.turn.detected,
        )
        case = await schedule.get_case(session, case_id)
    if result is SubscribeResult.NO_SUCH_CASE or case is None:
        await _unknown_case(update, context, t, case_id)
    elif result is SubscribeResult.CASE_CLOSED:
        await _reply(update, texts.case_closed(t, case))
    elif result is SubscribeResult.ALREADY_SUBSCRIBED:
        await _reply(update, texts.already_subscribed(t, case))
    else:
        await _reply(update, texts.subscribed(t, case))


async def cmd_start(update: Update, context: Context) -> None:
    """Greet; with a deep-link payload (t.me/<bot>?start=<case-id>), subscribe at once."""
    t = context.t
    if context.args:
        await _subscribe(update, context, t, schedule.normalise_case_id(context.args[0]))
        return
    await _reply(update, t(texts.START))


async def cmd_help(update: Update, context: Context) -> None:
    """List the commands."""
    await _reply(update, texts.help_text(context.t))


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
        await _reply(update, t(texts.NO_CASES))
        return
    for chunk in batched(summaries, CASES_PER_MESSAGE):
        markup = keyboards.subscription_keyboard(t, (s.case.id for s in chunk), followed)
        await _reply(update, texts.case_list(t, chunk, now), markup)


async def cmd_case(update: Update, context: Context) -> None:
    """One case with every hearing, postponements included."""
    chat = update.effective_chat
    assert chat is not None
    t = context.t
    if not context.args:
        await _reply(update, texts.usage(t, "case"))
        return
    case_id = schedule.normalise_case_id(context.args[0])
    async with context.bot_data.database.reading() as session:
        case = await schedule.get_case(session, case_id)
        hearings = await schedule.hearings_of(session, case_id) if case else []
        followed = await subscriptions.subscribed_case_ids(session, chat_id=chat.id)
    if case is None:
        await _unknown_case(update, context, t, case_id)
        return
    markup = None
    if case.status == CaseStatus.ACTIVE or case.id in followed:
        markup = keyboards.subscription_keyboard(t, [case.id], followed)
    now = context.bot_data.clock()
    *first, last = texts.case_details(t, case, hearings, now)
    for text in first:
        await _reply(update, text)
    await _reply(update, last, markup)  # the button under the end of the case


async def cmd_subscribe(update: Update, context: Context) -> None:
    """Subscribe this chat to a case."""
    t = context.t
    if not context.args:
        await _reply(update, texts.usage(t, "subscribe"))
        return
    await _subscribe(update, context, t, schedule.normalise_case_id(context.args[0]))


async def cmd_unsubscribe(update: Update, context: Context) -> None:
    """Unsubscribe this chat from a case, or from all with 'all'."""
    chat = update.effective_chat
    assert chat is not None
    t = context.t
    if not context.args:
        await _reply(update, texts.usage(t, "unsubscribe"))
        return
    case_id = schedule.normalise_case_id(context.args[0])
    if not await may_change_subscriptions(update, context):
        await _reply(update, t(texts.ONLY_GROUP_ADMINS))
        return
    if case_id == "all":
        async with context.bot_data.database.writing() as session:
            removed = await subscriptions.unsubscribe_all(session, chat_id=chat.id)
        await _reply(update, texts.unsubscribed_all(t, removed))
        return
    async with context.bot_data.database.writing() as session:
        removed_one = await subscriptions.unsubscribe(session, chat_id=chat.id, case_id=case_id)
        exists = await schedule.get_case(session, case_id) is not None
    if removed_one:
        await _reply(update, texts.unsubscribed(t, case_id))
    elif exists:
        await _reply(update, texts.not_subscribed(t, case_id))
    else:
        await _unknown_case(update, context, t, case_id)


async def cmd_mysubs(update: Update, context: Context) -> None:
    """The cases this chat follows."""
    chat = update.effective_chat
    assert chat is not None
    t = context.t
    now = context.bot_data.clock()
    async with context.bot_data.database.reading() as session:
        summaries = await schedule.case_summaries(session, now, followed_by=chat.id)
    if not summaries:
        await _reply(update, t(texts.NO_SUBSCRIPTIONS))
        return
    followed = {summary.case.id for summary in summaries}
    for chunk in batched(summaries, CASES_PER_MESSAGE):
        markup = keyboards.subscription_keyboard(t, (s.case.id for s in chunk), followed)
        await _reply(update, texts.my_subscriptions(t, list(chunk), now), markup)


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
        await query.answer(t(texts.ONLY_GROUP_ADMINS), show_alert=True)
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
            )
            outcome = {
                SubscribeResult.SUBSCRIBED: "subscribed",
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
        shown = keyboards.case_ids_in(message.reply_markup)
        markup = keyboards.subscription_keyboard(t, shown, followed)
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
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=NEW_MESSAGES))
    app.add_handler(
        CallbackQueryHandler(on_subscription_button, pattern=keyboards.CALLBACK_PATTERN)
    )
