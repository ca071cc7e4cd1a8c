"""Moderators' broadcasts: /outcome and /update with a preview, Send and Cancel, /broadcasts.

Nothing is sent at once: the preview is exactly what subscribers will see, and Send queues it
for the delivery engine, once, however often it is pressed. The preview then shows the
progress (``jobs.progress``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import broadcast_texts as show
from bot import staff_texts as say
from bot.context import Context, HearingWatchApp
from bot.handlers.staff import Actor, schedule_changed, staff_command, staff_press
from bot.i18n import LANGUAGES, N_, NAMES, Translator, translator
from bot.parsing import parse_outcome, parse_update, parse_versions
from bot.texts import MAX_LENGTH, visible_length
from storage import broadcasts, schedule, subscriptions
from storage.errors import ScheduleError, UserError
from storage.models import Broadcast, BroadcastKind, HearingStatus, Role
from storage.payloads import NewsPayload, OutcomePayload

logger = logging.getLogger(__name__)

SEND = "bsend"
CANCEL = "bcancel"
BUTTON_PATTERN = rf"^({SEND}|{CANCEL}):\d+$"
RECENT = 10
NOT_YOURS = N_("Only the moderator who made this preview, or an admin, can send it.")


async def _preview(
    message: Message,
    context: Context,
    actor: Actor,
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
    t = actor.t
    default = context.bot_data.config.default_language
    versions = parse_versions(str(kind), raw)
    first = next(iter(versions.values()), raw)
    texts = {code: render(translator(code), versions.get(code, first)) for code in LANGUAGES}
    for text in texts.values():
        length = visible_length(text)
        if length > MAX_LENGTH:
            await message.reply_text(say.problem(show.too_long(t, length)))
            return
    async with context.bot_data.database.writing() as session:
        counts = await subscriptions.subscriber_languages(session, case_id=case_id)
        draft = await broadcasts.create_draft(
            session,
            kind=kind,
            case_id=case_id,
            text=texts[default],
            texts=texts,
            created_by=actor.user_id,
            priority=broadcasts.URGENT if kind == BroadcastKind.OUTCOME else broadcasts.NORMAL,
            payload=payload,
            now=context.bot_data.clock(),
        )
    assert draft.id is not None
    audience: Counter[str] = Counter()
    for code, count in counts.items():
        audience[code if code in LANGUAGES else default] += count
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    show.send_label(t, sum(audience.values())), callback_data=f"{SEND}:{draft.id}"
                ),
                InlineKeyboardButton(t(show.CANCEL), callback_data=f"{CANCEL}:{draft.id}"),
            ]
        ]
    )
    # The moderator's own language first, then every other one somebody reads.
    shown_languages = [t.language] + [
        code for code in LANGUAGES if code != t.language and audience[code]
    ]
    if len(shown_languages) == 1:
        blocks = [texts[t.language]]
    else:
        blocks = [
            f"<i>{show.audience(t, NAMES[code], audience[code])}</i>\n\n{texts[code]}"
            for code in shown_languages
        ]
    together = "\n\n— — —\n\n".join(blocks)
    if visible_length(together) <= MAX_LENGTH:
        blocks = [together]
    for block in blocks[:-1]:
        await message.reply_text(block)
    shown = await message.reply_text(blocks[-1], reply_markup=keyboard)
    async with context.bot_data.database.writing() as session:
        await broadcasts.set_preview(
            session,
            broadcast_id=draft.id,
            chat_id=shown.chat_id,
            message_id=shown.message_id,
            language=t.language,
        )


@staff_command(Role.MODERATOR)
async def cmd_outcome(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Preview the outcome of a hearing; Send records it and tells the subscribers."""
    request = parse_outcome(args)
    async with context.bot_data.database.reading() as session:
        hearing = await schedule.get_hearing(session, request.hearing_id)
        case = await schedule.active_case(session, hearing.case_id)
    if hearing.status not in (HearingStatus.SCHEDULED, HearingStatus.HELD):
        raise ScheduleError(
            "Hearing #{number} is {status}; it had no outcome.",
            number=hearing.id,
            status=hearing.status,
        )
    await _preview(
        message,
        context,
        actor,
        kind=BroadcastKind.OUTCOME,
        case_id=case.id,
        raw=request.text,
        render=lambda t, text: show.outcome_message(t, case, hearing, text),
        # The revision: Send refuses the preview if the hearing changed since (broadcasts.start).
        payload=OutcomePayload(request.hearing_id, request.text, hearing.revision),
    )


@staff_command(Role.MODERATOR)
async def cmd_update(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Preview news about a case; Send tells its subscribers."""
    request = parse_update(args)
    async with context.bot_data.database.reading() as session:
        case = await schedule.active_case(session, request.case_id)
    await _preview(
        message,
        context,
        actor,
        kind=BroadcastKind.UPDATE,
        case_id=case.id,
        raw=request.text,
        render=lambda t, text: show.update_message(t, case, text),
        payload=NewsPayload(request.text),
    )


@staff_command(Role.MODERATOR)
async def cmd_broadcasts(message: Message, context: Context, actor: Actor, args: str) -> None:
    """The latest broadcasts with their figures."""
    async with context.bot_data.database.reading() as session:
        items = await broadcasts.recent(session, limit=RECENT)
        titles = {
            s.case.id: s.case.title
            for s in await schedule.case_summaries(session, context.bot_data.clock())
        }
    await message.reply_text(show.recent_list(actor.t, items, titles))


async def on_button(update: Update, context: Context) -> None:
    """Send or Cancel under a preview: acts once, whoever presses again and from wherever."""
    query = update.callback_query
    assert query is not None
    action, _, raw_id = (query.data or "").partition(":")
    user_id = await staff_press(update, context, Role.MODERATOR)
    if user_id is None:
        return
    t = context.t
    broadcast_id = int(raw_id)
    if action == SEND and not await _may_send(context, broadcast_id, user_id):
        await query.answer(t(NOT_YOURS), show_alert=True)
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
    else:
        await query.answer(t(show.CANCELLED_ANSWER))
        text = show.cancelled(t, broadcast)
    try:
        await query.edit_message_text(text, reply_markup=None)
    except (Forbidden, BadRequest) as exc:
        # Blocked the bot, or deleted the preview: the broadcast goes out all the same.
        logger.warning("cannot show broadcast %s under its preview: %s", broadcast_id, exc)


async def _may_send(context: Context, broadcast_id: int, user_id: int) -> bool:
    """Only the moderator who made a preview, or an admin, sends it: a preview says what its
    author checked, and another moderator may not know what that was."""
    async with context.bot_data.database.reading() as session:
        draft = await session.get(Broadcast, broadcast_id)
    return draft is None or draft.created_by == user_id or context.turn.role == Role.ADMIN


def register(app: HearingWatchApp) -> None:
    """Add the broadcast handlers."""
    commands = {"outcome": cmd_outcome, "update": cmd_update, "broadcasts": cmd_broadcasts}
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_button, pattern=BUTTON_PATTERN))
