"""Moderators' broadcasts: /outcome and /update with a preview, Send and Cancel, /broadcasts,
and Stop under a broadcast being sent.

Nothing is sent at once: the preview is exactly what subscribers will see, and Send queues it
for the delivery engine, once, however often it is pressed. The preview then shows the
progress (``jobs.progress``) with a Stop button, which asks once more and then stops the rest:
the chats that got it keep it, and the broadcast records what was sent and what was stopped.
Send, Cancel and Stop are for the staff member who made the broadcast, or an admin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import broadcast_texts as show
from bot import staff_texts as say
from bot.context import Context, HearingWatchApp
from bot.guided import Answers
from bot.handlers.guided import Call, flow_command
from bot.handlers.staff import stop_keyboard
from bot.handlers.staff_access import Actor, schedule_changed, staff_command, staff_press
from bot.i18n import LANGUAGES, N_, Translator, translator
from bot.parsing import parse_versions
from bot.texts import MAX_LENGTH, visible_length
from storage import broadcasts, schedule, subscriptions
from storage.errors import ScheduleError, UserError
from storage.models import Broadcast, BroadcastKind, BroadcastStatus, HearingStatus, Role
from storage.payloads import NewsPayload, OutcomePayload

logger = logging.getLogger(__name__)

SEND = "bsend"
CANCEL = "bcancel"
BUTTON_PATTERN = rf"^({SEND}|{CANCEL}):\d+$"
STOP_PATTERN = rf"^({show.STOP}|{show.STOP_YES}|{show.STOP_NO}):\d+$"
RECENT = 10
NOT_YOURS = N_("Only the moderator who made this preview, or an admin, can send it.")


async def _preview(
    call: Call,
    *,
    kind: BroadcastKind,
    case_id: str,
    raw: str,
    render: Callable[[Translator, str], str],
    payload: OutcomePayload | NewsPayload,
) -> None:
    """Store a draft and show it exactly as subscribers will see it, with Send and Cancel.

    ``raw`` is what the moderator wrote: one text, or a version per language (see
    parse_versions); each chat gets its language's version, else the first one given, framed
    by ``render`` in its language.
    """
    t = call.actor.t
    context = call.context
    default = context.bot_data.config.default_language
    versions = parse_versions(str(kind), raw)
    first = next(iter(versions.values()), raw)
    texts = {code: render(translator(code), versions.get(code, first)) for code in LANGUAGES}
    for text in texts.values():
        length = visible_length(text)
        if length > MAX_LENGTH:
            raise TooLongError(show.too_long(t, length))
    async with context.bot_data.database.writing() as session:
        counts = await subscriptions.subscriber_languages(session, case_id=case_id)
        draft = await broadcasts.create_draft(
            session,
            kind=kind,
            case_id=case_id,
            text=texts[default],
            texts=texts,
            created_by=call.actor.user_id,
            priority=broadcasts.URGENT if kind == BroadcastKind.OUTCOME else broadcasts.NORMAL,
            payload=payload,
            now=context.bot_data.clock(),
        )
    assert draft.id is not None
    audience = show.audience_of(counts, default)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    show.send_label(t, sum(audience.values())), callback_data=f"{SEND}:{draft.id}"
                ),
                InlineKeyboardButton(t.marked(show.CANCEL), callback_data=f"{CANCEL}:{draft.id}"),
            ]
        ]
    )
    # One language: the message itself, as it will arrive.
    blocks = show.preview_blocks(t, texts, audience, heading=False)
    for block in blocks[:-1]:
        await call.send(block)
    shown = await call.send(blocks[-1], keyboard)
    async with context.bot_data.database.writing() as session:
        await broadcasts.set_preview(
            session,
            broadcast_id=draft.id,
            chat_id=shown.chat_id,
            message_id=shown.message_id,
            language=t.language,
        )


class TooLongError(UserError):
    """A broadcast that would exceed Telegram's limit once framed; its message is in the
    staff member's words already (with the figures written as their language writes them)."""


async def finish_outcome(call: Call, answers: Answers) -> None:
    """Preview the outcome of a hearing; Send records it and tells the subscribers."""
    hearing_id = int(answers["hearing"] or 0)
    text = str(answers["text"])
    async with call.context.bot_data.database.reading() as session:
        hearing = await schedule.get_hearing(session, hearing_id)
        case = await schedule.active_case(session, hearing.case_id)
    if hearing.status not in (HearingStatus.SCHEDULED, HearingStatus.HELD):
        raise ScheduleError(
            "Hearing #{number} is {status}; it had no outcome.",
            number=hearing.id,
            status=hearing.status,
        )
    await _preview(
        call,
        kind=BroadcastKind.OUTCOME,
        case_id=case.id,
        raw=text,
        render=lambda t, version: show.outcome_message(t, case, hearing, version),
        # The revision: Send refuses the preview if the hearing changed since (broadcasts.start).
        payload=OutcomePayload(hearing_id, text, hearing.revision),
    )


async def finish_update(call: Call, answers: Answers) -> None:
    """Preview news about a case; Send tells its subscribers."""
    text = str(answers["text"])
    async with call.context.bot_data.database.reading() as session:
        case = await schedule.active_case(session, str(answers["case"]))
    await _preview(
        call,
        kind=BroadcastKind.UPDATE,
        case_id=case.id,
        raw=text,
        render=lambda t, version: show.update_message(t, case, version),
        payload=NewsPayload(text),
    )


@staff_command(Role.MODERATOR)
async def cmd_broadcasts(message: Message, context: Context, actor: Actor, args: str) -> None:
    """The latest broadcasts with their figures."""
    async with context.bot_data.database.reading() as session:
        items = await broadcasts.recent(session, limit=RECENT)
        titles = {
            s.case.id: s.case.worded("title", actor.t.language)
            for s in await schedule.case_summaries(session, context.bot_data.clock())
        }
    await message.reply_text(show.recent_list(actor.t, items, titles))


async def on_button(update: Update, context: Context) -> None:
    """Send or Cancel under a preview: acts once, whoever presses again and from wherever; its
    author or an admin may press."""
    query = update.callback_query
    assert query is not None
    action, _, raw_id = (query.data or "").partition(":")
    user_id = await staff_press(update, context, Role.MODERATOR)
    if user_id is None:
        return
    t = context.t
    broadcast_id = int(raw_id)
    if not await _may_act(context, broadcast_id, user_id):
        await query.answer(
            t(NOT_YOURS if action == SEND else show.NOT_YOURS_TO_CANCEL), show_alert=True
        )
        return
    try:
        async with context.bot_data.database.writing() as session:
            if action == SEND:
                broadcast = await broadcasts.start(
                    session, broadcast_id=broadcast_id, now=context.bot_data.clock()
                )
            else:
                cancelled = await broadcasts.cancel_draft(session, broadcast_id=broadcast_id)
                broadcast = await session.get(Broadcast, broadcast_id) if cancelled else None
    except UserError as error:  # the preview is out of date: nothing was queued
        await query.answer(say.explain(t, error), show_alert=True)
        return
    if broadcast is None:
        await query.answer(t(show.ALREADY_HANDLED))
        return
    markup = None
    if action == SEND:
        await context.bot_data.signals.deliveries_queued()
        if broadcast.kind == BroadcastKind.OUTCOME:
            await schedule_changed(context)  # the hearing is held: its reminders go
        await query.answer(
            t.plural("Sending to {count} chat.", "Sending to {count} chats.", broadcast.total)
        )
        async with context.bot_data.database.reading() as session:
            progress = await broadcasts.progress(session, broadcast_id=broadcast_id)
        text = show.progress_view(t, broadcast, progress)
        context.bot_data.progress.shown(broadcast_id, text)
        markup = stop_keyboard(t, broadcast)
    else:
        await query.answer(t(show.CANCELLED_ANSWER))
        text = show.cancelled(t, broadcast)
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except (Forbidden, BadRequest) as exc:
        # Blocked the bot, or deleted the preview: the broadcast goes out all the same.
        logger.warning("cannot show broadcast %s under its preview: %s", broadcast_id, exc)


async def _may_act(context: Context, broadcast_id: int, user_id: int) -> bool:
    """Only the staff member who made a broadcast, or an admin, sends, cancels or stops it: a
    preview says what its author checked, and another moderator may not know what that was."""
    async with context.bot_data.database.reading() as session:
        found = await session.get(Broadcast, broadcast_id)
    return found is None or found.created_by == user_id or context.turn.role == Role.ADMIN


async def on_stop(update: Update, context: Context) -> None:
    """Stop under a broadcast's progress asks once more; Stop the rest stops it."""
    query = update.callback_query
    assert query is not None
    action, _, raw_id = (query.data or "").partition(":")
    user_id = await staff_press(update, context, Role.MODERATOR)
    if user_id is None:
        return
    t = context.t
    broadcast_id = int(raw_id)
    if not await _may_act(context, broadcast_id, user_id):
        await query.answer(t(show.NOT_YOURS_TO_STOP), show_alert=True)
        return
    data = context.bot_data
    if action == show.STOP_NO:
        await query.answer()
        await query.edit_message_text(t(show.STILL_SENDING), reply_markup=None)
        return
    if action == show.STOP:
        async with data.database.reading() as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            progress = await broadcasts.progress(session, broadcast_id=broadcast_id)
        if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
            await query.answer(t(show.NOT_SENDING), show_alert=True)
            return
        await query.answer()
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        t(show.STOP_THE_REST), callback_data=f"{show.STOP_YES}:{broadcast_id}"
                    ),
                    InlineKeyboardButton(
                        t(show.KEEP_SENDING), callback_data=f"{show.STOP_NO}:{broadcast_id}"
                    ),
                ]
            ]
        )
        await context.bot.send_message(
            query.from_user.id, show.stop_question(t, broadcast_id, progress), reply_markup=keyboard
        )
        return
    async with data.database.writing() as session:
        stopped = await broadcasts.stop(
            session, broadcast_id=broadcast_id, actor=user_id, now=data.clock()
        )
    if stopped is None:
        await query.answer(t(show.NOT_SENDING), show_alert=True)
        await query.edit_message_text(t(show.NOT_SENDING), reply_markup=None)
        return
    # The engine looks now, here or (through the database) on the active instance, and drops
    # what it read of this broadcast and has not sent.
    await data.signals.deliveries_queued()
    await query.answer()
    await query.edit_message_text(show.stopped(t, broadcast_id, stopped), reply_markup=None)


def register(app: HearingWatchApp) -> None:
    """Add the broadcast handlers."""
    commands = {
        "outcome": flow_command("outcome", finish_outcome),
        "update": flow_command("update", finish_update),
        "broadcasts": cmd_broadcasts,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_button, pattern=BUTTON_PATTERN))
    app.add_handler(CallbackQueryHandler(on_stop, pattern=STOP_PATTERN))
