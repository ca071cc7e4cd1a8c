"""Staff commands: admins keep the schedule, moderators postpone hearings.

Every command that takes arguments is a guided flow (``bot.guided``): given in one line it acts
at once, given without them it asks. What tells subscribers something (a postponement, an hour
or date corrected, a cancellation, a closed case) ends on a preview of the notice as each
language's chats will read it, with Confirm and Keep it: nothing changes and nothing is queued
before Confirm, and Confirm re-checks that the hearing is still as the preview showed it
(``bot.staff_actions``). /grant asks to confirm too. Authorisation: ``staff_access``.
"""

from __future__ import annotations

import datetime as dt
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import broadcast_texts as show
from bot import staff_actions
from bot import staff_texts as say
from bot.context import Context, HearingWatchApp
from bot.guided import Answers
from bot.handlers.guided import Call, flow_command
from bot.handlers.staff_access import (
    Actor,
    Handler,
    schedule_changed,
    staff_command,
    staff_press,
)
from bot.i18n import LANGUAGES, Translator, translator
from bot.menus import set_staff_menu
from bot.parsing import parse_audit, parse_optional_case_id
from bot.staff_actions import Proposal
from bot.texts import split_message
from storage import broadcasts, editing, schedule, staff, subscriptions
from storage.errors import ScheduleError, UserError
from storage.models import Broadcast, Case, PendingKind, Role

logger = logging.getLogger(__name__)

CONFIRM = "confirm"
KEEP = "keep"
CONFIRMATION_PATTERN = rf"^({CONFIRM}|{KEEP}):\d+$"
# Who may confirm what: the author, or an admin (the rule of a broadcast's Send); and a
# moderator only what moderators may ask for.
MODERATORS_MAY_CONFIRM = frozenset({PendingKind.POSTPONE})


def _confirmation_keyboard(
    t: Translator, pending_id: int, confirm_label: str
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(confirm_label), callback_data=f"{CONFIRM}:{pending_id}"),
                InlineKeyboardButton(t(say.KEEP_IT), callback_data=f"{KEEP}:{pending_id}"),
            ]
        ]
    )


async def follow_progress(
    context: Context, broadcast: Broadcast, shown: Message, language: str
) -> None:
    """Wake the engine, and show the broadcast's progress on ``shown`` as it goes."""
    await context.bot_data.signals.deliveries_queued()
    assert broadcast.id is not None
    async with context.bot_data.database.writing() as session:
        await broadcasts.set_preview(
            session,
            broadcast_id=broadcast.id,
            chat_id=shown.chat_id,
            message_id=shown.message_id,
            language=language,
        )


def stop_keyboard(t: Translator, broadcast: Broadcast) -> InlineKeyboardMarkup | None:
    """The Stop button under a broadcast's progress, while it is being sent."""
    rows = show.stop_buttons(t, broadcast)
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


async def _case(context: Context, case_id: str) -> Case:
    async with context.bot_data.database.reading() as session:
        case = await schedule.get_case(session, case_id)
    if case is None:
        raise ScheduleError("There is no case “{case_id}”. /cases lists them.", case_id=case_id)
    return case


def _now(call: Call) -> dt.datetime:
    return call.context.bot_data.clock()


def _text(answers: Answers, name: str) -> str:
    value = answers[name]
    assert value is not None
    return value


async def _ask_to_confirm(
    call: Call, proposal: Proposal, question: str, confirm_label: str
) -> None:
    """The preview of a change that tells subscribers: what each language's chats will read,
    how many chats, and Confirm / Keep it. Only a confirmation is stored."""
    t = call.actor.t
    config = call.context.bot_data.config
    texts = {code: proposal.notice(translator(code)) for code in LANGUAGES}
    async with call.context.bot_data.database.reading() as session:
        counts = await subscriptions.subscriber_languages(session, case_id=proposal.case_id)
    audience = show.audience_of(counts, config.default_language)
    async with call.context.bot_data.database.writing() as session:
        pending_id = await staff.create_pending(
            session, actor=call.actor.user_id, request=proposal.request, now=_now(call)
        )
    head = f"{question}\n\n<i>{t(say.NOTHING_BEFORE_CONFIRM)}</i>"
    blocks = show.preview_blocks(t, texts, audience)
    messages = [f"{head}\n\n{blocks[0]}", *blocks[1:]]
    for text in messages[:-1]:
        await call.send(text)
    await call.send(messages[-1], _confirmation_keyboard(t, pending_id, confirm_label))


async def _subscribers(call: Call, case_id: str) -> int:
    async with call.context.bot_data.database.reading() as session:
        return await subscriptions.count_subscribers(session, case_id=case_id)


async def finish_addcase(call: Call, answers: Answers) -> None:
    """Add a case."""
    async with call.context.bot_data.database.writing() as session:
        case = await editing.add_case(
            session,
            actor=call.actor.user_id,
            case_id=_text(answers, "case"),
            title=_text(answers, "title"),
            description=answers.get("description") or "",
        )
    await call.send(say.case_added(call.actor.t, case))


async def finish_editcase(call: Call, answers: Answers) -> None:
    """Change a case's title or description."""
    field: editing.CaseField = "title" if answers["field"] == "title" else "description"
    async with call.context.bot_data.database.writing() as session:
        case = await editing.edit_case(
            session,
            actor=call.actor.user_id,
            case_id=_text(answers, "case"),
            field=field,
            value=_text(answers, "value"),
        )
    await call.send(say.case_edited(call.actor.t, case, field))


async def finish_closecase(call: Call, answers: Answers) -> None:
    """Preview closing a case, with its notice."""
    case = await _case(call.context, _text(answers, "case"))
    async with call.context.bot_data.database.reading() as session:
        proposal = await staff_actions.propose_close(session, case_id=case.id)
    subscribers = await _subscribers(call, case.id)
    question = say.confirm_close(call.actor.t, case, subscribers)
    await _ask_to_confirm(call, proposal, question, say.CLOSE_THE_CASE)


async def finish_addhearing(call: Call, answers: Answers) -> None:
    """Add a hearing to a case."""
    config = call.context.bot_data.config
    case_id = _text(answers, "case")
    at = answers["time"]
    async with call.context.bot_data.database.writing() as session:
        hearing = await editing.add_hearing(
            session,
            actor=call.actor.user_id,
            case_id=case_id,
            day=dt.date.fromisoformat(_text(answers, "date")),
            at=None if at in (None, "tba") else dt.time.fromisoformat(str(at)),
            court=_text(answers, "court"),
            city=_text(answers, "city"),
            address=answers.get("address"),
            zone=answers.get("zone") or config.timezone,
            now=_now(call),
        )
        case = await schedule.get_case(session, case_id)
    assert case is not None  # add_hearing checked it
    await schedule_changed(call.context)
    await call.send(say.hearing_added(call.actor.t, case, hearing))


async def finish_edithearing(call: Call, answers: Answers) -> None:
    """Change a hearing's court, city, address or zone at once; preview an hour or a date
    corrected, with its notice."""
    hearing_id = int(_text(answers, "hearing"))
    field = next(name for name in editing.HEARING_FIELDS if name == answers["field"])
    value = answers.get("value")
    if field in editing.WHEN_FIELDS:
        async with call.context.bot_data.database.reading() as session:
            proposal = await staff_actions.propose_correction(
                session, hearing_id=hearing_id, field=field, value=str(value), now=_now(call)
            )
            hearing = await schedule.get_hearing(session, hearing_id)
        subscribers = await _subscribers(call, hearing.case_id)
        question = say.confirm_correction(call.actor.t, hearing, subscribers)
        await _ask_to_confirm(call, proposal, question, say.CORRECT_IT)
        return
    async with call.context.bot_data.database.writing() as session:
        hearing = await editing.edit_hearing(
            session,
            actor=call.actor.user_id,
            hearing_id=hearing_id,
            field=field,
            value=value,
            now=_now(call),
        )
    await schedule_changed(call.context)
    await call.send(say.hearing_edited(call.actor.t, hearing, field))


async def finish_postpone(call: Call, answers: Answers) -> None:
    """Preview a postponement, with its notice."""
    hearing_id = int(_text(answers, "hearing"))
    at = answers["time"]
    async with call.context.bot_data.database.reading() as session:
        proposal = await staff_actions.propose_postpone(
            session,
            hearing_id=hearing_id,
            day=dt.date.fromisoformat(_text(answers, "date")),
            at=None if at in (None, "tba") else dt.time.fromisoformat(str(at)),
            reason=answers.get("reason"),
            now=_now(call),
        )
        hearing = await schedule.get_hearing(session, hearing_id)
    subscribers = await _subscribers(call, hearing.case_id)
    question = say.confirm_postpone(call.actor.t, hearing, subscribers)
    await _ask_to_confirm(call, proposal, question, say.POSTPONE_IT)


async def finish_cancelhearing(call: Call, answers: Answers) -> None:
    """Preview a cancellation, with its notice."""
    hearing_id = int(_text(answers, "hearing"))
    async with call.context.bot_data.database.reading() as session:
        proposal = await staff_actions.propose_cancel(
            session, hearing_id=hearing_id, reason=answers.get("reason")
        )
        hearing = await schedule.get_hearing(session, hearing_id)
    subscribers = await _subscribers(call, hearing.case_id)
    question = say.confirm_cancel(call.actor.t, hearing, subscribers)
    await _ask_to_confirm(call, proposal, question, say.CANCEL_THE_HEARING)


async def finish_grant(call: Call, answers: Answers) -> None:
    """Ask to confirm making someone a moderator, naming them."""
    user_id = int(_text(answers, "user"))
    admins = call.context.bot_data.config.admins
    async with call.context.bot_data.database.reading() as session:
        already = await staff.is_moderator(session, user_id, admins)
    t = call.actor.t
    if already:
        await call.send(say.granted(t, user_id, new=False))
        return
    async with call.context.bot_data.database.writing() as session:
        pending_id = await staff.create_pending(
            session, actor=call.actor.user_id, request=staff.Granting(user_id), now=_now(call)
        )
    await call.send(
        say.confirm_grant(t, user_id, call.shared_name),
        _confirmation_keyboard(t, pending_id, say.MAKE_MODERATOR),
    )


async def finish_revoke(call: Call, answers: Answers) -> None:
    """Take the moderator role away."""
    user_id = int(_text(answers, "user"))
    config = call.context.bot_data.config
    async with call.context.bot_data.database.writing() as session:
        was = await staff.revoke(
            session, actor=call.actor.user_id, user_id=user_id, admins=config.admins
        )
    if was:
        await set_staff_menu(call.context.bot, user_id, None, config.default_language)
    await call.send(say.revoked(call.actor.t, user_id, was=was))


@staff_command(Role.MODERATOR)
async def cmd_hearings(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Upcoming hearings with their ids, of all active cases or of one."""
    case_id = parse_optional_case_id("hearings", args)
    if case_id is not None:
        await _case(context, case_id)
    async with context.bot_data.database.reading() as session:
        hearings = await schedule.upcoming_hearings(session, context.bot_data.clock(), case_id)
        titles = {
            s.case.id: s.case.worded("title", actor.t.language)
            for s in await schedule.case_summaries(session, context.bot_data.clock())
        }
    for part in split_message(say.hearings_list(actor.t, hearings, titles)):
        await message.reply_text(part)


@staff_command(Role.MODERATOR)
async def cmd_staff(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Admins and moderators."""
    async with context.bot_data.database.reading() as session:
        members = await staff.staff_members(session, context.bot_data.config.admins)
    await message.reply_text(say.staff_list(actor.t, members))


@staff_command(Role.ADMIN)
async def cmd_audit(message: Message, context: Context, actor: Actor, args: str) -> None:
    """The latest staff actions."""
    limit = parse_audit(args)
    async with context.bot_data.database.reading() as session:
        entries = await staff.latest_audit(session, limit)
    for part in split_message(say.audit_list(actor.t, entries)):
        await message.reply_text(part)


async def on_confirmation(update: Update, context: Context) -> None:
    """Confirm or Keep it under a preview: acts once, whoever presses again and from wherever;
    its author or an admin may press, within a day."""
    query = update.callback_query
    assert query is not None
    action, _, raw_id = (query.data or "").partition(":")
    user_id = await staff_press(update, context, Role.MODERATOR)
    if user_id is None:
        return
    t = context.t
    data = context.bot_data
    now = data.clock()
    pending_id = int(raw_id)
    async with data.database.reading() as session:
        pending = await staff.get_pending(session, pending_id)
    if pending is None or pending.done_at is not None:
        await query.answer(t(say.ALREADY_DONE))
        return
    admin = context.turn.role == Role.ADMIN
    if not admin and (
        pending.actor_id != user_id or PendingKind(pending.kind) not in MODERATORS_MAY_CONFIRM
    ):
        await query.answer(t(say.NOT_YOURS_TO_CONFIRM), show_alert=True)
        return
    if staff.expired(pending, now):
        async with data.database.writing() as session:
            await staff.close_pending(session, pending_id=pending_id, now=now)
        await query.answer(t(say.CONFIRMATION_EXPIRED), show_alert=True)
        await _refused(query.message, say.problem(t(say.CONFIRMATION_EXPIRED)))
        return
    done: staff_actions.Done | None
    try:
        async with data.database.writing() as session:
            claimed = await staff.claim_pending(
                session, pending_id=pending_id, actor=user_id, now=now, for_anyone=admin
            )
            if claimed is None:
                done = None
            elif action == KEEP:
                done = staff_actions.Done(lambda tr: tr(say.KEPT))
            else:
                done = await staff_actions.carry_out(
                    session,
                    request=staff.request_of(claimed),
                    actor=user_id,
                    now=now,
                    default_language=data.config.default_language,
                    admins=data.config.admins,
                )
    except UserError as error:
        # Refused (the hearing changed meanwhile): nothing was changed or queued, and this
        # preview can never be right again.
        async with data.database.writing() as session:
            await staff.close_pending(session, pending_id=pending_id, now=now)
        await query.answer(say.explain(t, error), show_alert=True)
        await _refused(query.message, say.problem(say.explain(t, error)))
        return
    if done is None:
        await query.answer(t(say.ALREADY_DONE))
        return
    await query.answer()
    if done.granted is not None:
        await set_staff_menu(
            context.bot, done.granted, Role.MODERATOR, data.config.default_language
        )
    if done.schedule_changed:
        await schedule_changed(context)
    broadcast = done.broadcast
    markup = stop_keyboard(t, broadcast) if broadcast is not None else None
    shown = await query.edit_message_text(done.says(t), reply_markup=markup)
    if broadcast is not None and isinstance(shown, Message):
        await follow_progress(context, broadcast, shown, t.language)


async def _refused(message: object, text: str) -> None:
    """Show under a preview why it was refused, and take its buttons away."""
    if not isinstance(message, Message):
        return
    try:
        await message.edit_text(f"{message.text_html}\n\n{text}", reply_markup=None)
    except BadRequest as exc:
        logger.info("could not mark a refused preview: %s", exc.message)


FINISHERS = {
    "addcase": finish_addcase,
    "editcase": finish_editcase,
    "closecase": finish_closecase,
    "addhearing": finish_addhearing,
    "edithearing": finish_edithearing,
    "postpone": finish_postpone,
    "cancelhearing": finish_cancelhearing,
    "grant": finish_grant,
    "revoke": finish_revoke,
}


def register(app: HearingWatchApp) -> None:
    """Add the staff handlers."""
    commands: dict[str, Handler] = {
        name: flow_command(name, finisher) for name, finisher in FINISHERS.items()
    } | {"hearings": cmd_hearings, "staff": cmd_staff, "audit": cmd_audit}
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_confirmation, pattern=CONFIRMATION_PATTERN))
