"""Staff commands: admins keep the schedule, moderators postpone hearings.

Authorisation always goes by the sender's numeric user id, in a private chat; one wrapper,
``staff_command``, does it for every command here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import staff_texts as say
from bot.context import Context, HearingWatchApp
from bot.i18n import Translator
from bot.menus import set_staff_menu
from bot.parsing import (
    arguments,
    parse_addcase,
    parse_addhearing,
    parse_audit,
    parse_cancelhearing,
    parse_case_id,
    parse_editcase,
    parse_edithearing,
    parse_optional_case_id,
    parse_postpone,
    parse_user_id,
)
from bot.texts import split_message
from jobs import logref
from storage import broadcasts, editing, schedule, staff, subscriptions
from storage.errors import ScheduleError, UserError
from storage.models import (
    Broadcast,
    BroadcastKind,
    Case,
    CaseStatus,
    PendingAction,
    Role,
)
from storage.schedule import local_start

logger = logging.getLogger(__name__)

CONFIRM = "confirm"
KEEP = "keep"
CONFIRMATION_PATTERN = rf"^({CONFIRM}|{KEEP}):\d+$"


@dataclass(frozen=True, slots=True)
class Actor:
    """The staff member behind a command, and the language they read."""

    user_id: int
    role: Role
    t: Translator


StaffCallback = Callable[[Message, Context, Actor, str], Awaitable[None]]
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


def staff_command(minimum: Role) -> Callable[[StaffCallback], Handler]:
    """Let the callback run only for staff of at least ``minimum``, in a private chat.

    The callback gets the message, the context, the actor and the text after the command; a
    UserError it raises (a UsageError, a ScheduleError, a StaffError) becomes a reply that says
    what to fix.
    """

    def decorate(callback: StaffCallback) -> Handler:
        @functools.wraps(callback)
        async def handler(update: Update, context: Context) -> None:
            message, chat, user = (
                update.effective_message,
                update.effective_chat,
                update.effective_user,
            )
            if message is None or chat is None:
                return
            t = context.t
            command = callback.__name__.removeprefix("cmd_")
            if chat.type != ChatType.PRIVATE:
                # One answer for everyone, asked before anything else: a group must not learn
                # who in it is staff.
                await message.reply_text(t(say.PRIVATE_ONLY))
                return
            if message.sender_chat is not None or user is None:
                logger.warning("staff command /%s refused: sent on behalf of a chat", command)
                await message.reply_text(t(say.ANONYMOUS))
                return
            role = context.turn.role
            if role is None:
                logger.warning(
                    "staff command /%s refused: user %s is not staff", command, logref.ref(user.id)
                )
                await message.reply_text(t(say.NOT_STAFF))
                return
            if minimum == Role.ADMIN and role != Role.ADMIN:
                logger.warning(
                    "staff command /%s refused: user %s is a moderator",
                    command,
                    logref.ref(user.id),
                )
                await message.reply_text(t(say.ADMINS_ONLY))
                return
            try:
                await callback(
                    message, context, Actor(user.id, role, t), arguments(message.text or "")
                )
            except UserError as exc:
                await message.reply_text(say.problem(say.explain(t, exc)))

        return handler

    return decorate


async def _reply_long(message: Message, text: str) -> None:
    """Send a long text as several messages, split between paragraphs or lines."""
    for part in split_message(text):
        await message.reply_text(part)


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


async def schedule_changed(context: Context) -> None:
    """Have the reminder jobs rebuilt from the database after a change to the schedule."""
    await context.bot_data.signals.schedule_changed()


async def queue_notice(
    session: AsyncSession,
    context: Context,
    *,
    case_id: str,
    render: Callable[[Translator], str],
    actor: int,
) -> Broadcast:
    """Queue a notice to a case's subscribers, each in their language, in the caller's
    transaction, so that the change and its notice are stored together; the delivery engine
    sends it once committed."""
    text, texts = say.in_every_language(render, context.bot_data.config.default_language)
    return await broadcasts.start_now(
        session,
        kind=BroadcastKind.NOTICE,
        case_id=case_id,
        text=text,
        texts=texts,
        created_by=actor,
        now=context.bot_data.clock(),
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


async def _count(context: Context, case_id: str) -> int:
    async with context.bot_data.database.reading() as session:
        return await subscriptions.count_subscribers(session, case_id=case_id)


async def _case(context: Context, case_id: str) -> Case:
    async with context.bot_data.database.reading() as session:
        case = await schedule.get_case(session, case_id)
    if case is None:
        raise ScheduleError("There is no case “{case_id}”. /cases lists them.", case_id=case_id)
    return case


@staff_command(Role.ADMIN)
async def cmd_addcase(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Add a case: /addcase <id> <title>, further lines the description."""
    request = parse_addcase(args)
    async with context.bot_data.database.writing() as session:
        case = await editing.add_case(
            session,
            actor=actor.user_id,
            case_id=request.case_id,
            title=request.title,
            description=request.description,
        )
    await message.reply_text(say.case_added(actor.t, case))


@staff_command(Role.ADMIN)
async def cmd_editcase(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Change a case's title or description."""
    request = parse_editcase(args)
    async with context.bot_data.database.writing() as session:
        case = await editing.edit_case(
            session,
            actor=actor.user_id,
            case_id=request.case_id,
            field=request.field,
            value=request.value,
        )
    await message.reply_text(say.case_edited(actor.t, case, request.field))


@staff_command(Role.ADMIN)
async def cmd_closecase(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Ask to confirm closing a case."""
    case = await _case(context, parse_case_id("closecase", args))
    if case.status == CaseStatus.CLOSED:
        raise ScheduleError("The case {case_id} is closed already.", case_id=case.id)
    subscribers = await _count(context, case.id)
    async with context.bot_data.database.writing() as session:
        pending_id = await staff.create_pending(
            session, actor=actor.user_id, request=staff.ClosingCase(case.id)
        )
    await message.reply_text(
        say.confirm_close(actor.t, case, subscribers),
        reply_markup=_confirmation_keyboard(actor.t, pending_id, say.CLOSE_THE_CASE),
    )


@staff_command(Role.ADMIN)
async def cmd_addhearing(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Add a hearing to a case."""
    request = parse_addhearing(args)
    async with context.bot_data.database.writing() as session:
        hearing = await editing.add_hearing(
            session,
            actor=actor.user_id,
            case_id=request.case_id,
            day=request.day,
            at=request.at,
            court=request.court,
            city=request.city,
            address=request.address,
            zone=request.zone or context.bot_data.config.timezone,
            now=context.bot_data.clock(),
        )
        case = await schedule.get_case(session, request.case_id)
    assert case is not None  # add_hearing checked it
    await schedule_changed(context)
    await message.reply_text(say.hearing_added(actor.t, case, hearing))


@staff_command(Role.ADMIN)
async def cmd_edithearing(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Change a hearing's court, city, address or zone; or announce its hour, or correct its
    date, and tell the case's subscribers."""
    request = parse_edithearing(args)
    render: Callable[[Translator], str] | None = None
    async with context.bot_data.database.writing() as session:
        hearing = await schedule.get_hearing(session, request.hearing_id)
        # Read before the change: the notice says what it was.
        was, was_tba = local_start(hearing), hearing.time_tba
        hearing = await editing.edit_hearing(
            session,
            actor=actor.user_id,
            hearing_id=request.hearing_id,
            field=request.field,
            value=request.value,
            now=context.bot_data.clock(),
        )
        if request.field in editing.WHEN_FIELDS:
            case = await schedule.get_case(session, hearing.case_id)
            assert case is not None  # edit_hearing checked it
            found, corrected = case, hearing
            render = lambda t: say.corrected_notice(t, found, corrected, was, was_tba)  # noqa: E731
            broadcast = await queue_notice(
                session, context, case_id=case.id, render=render, actor=actor.user_id
            )
    await schedule_changed(context)
    if render is None:
        await message.reply_text(say.hearing_edited(actor.t, hearing, request.field))
        return
    shown = await message.reply_text(say.notice_sent(actor.t, render(actor.t), broadcast.total))
    await follow_progress(context, broadcast, shown, actor.t.language)


@staff_command(Role.MODERATOR)
async def cmd_postpone(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Postpone a hearing to a new date and tell the case's subscribers."""
    request = parse_postpone(args)
    async with context.bot_data.database.writing() as session:
        old, new = await editing.postpone(
            session,
            actor=actor.user_id,
            hearing_id=request.hearing_id,
            day=request.day,
            at=request.at,
            reason=request.reason,
            now=context.bot_data.clock(),
        )
        case = await schedule.get_case(session, old.case_id)
        assert case is not None  # postpone checked it
        broadcast = await queue_notice(
            session,
            context,
            case_id=case.id,
            render=lambda t: say.postponed_notice(t, case, old, new),
            actor=actor.user_id,
        )
    await schedule_changed(context)
    notice = say.postponed_notice(actor.t, case, old, new)
    shown = await message.reply_text(say.notice_sent(actor.t, notice, broadcast.total))
    await follow_progress(context, broadcast, shown, actor.t.language)


@staff_command(Role.ADMIN)
async def cmd_cancelhearing(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Ask to confirm cancelling a hearing."""
    request = parse_cancelhearing(args)
    async with context.bot_data.database.reading() as session:
        hearing = await schedule.get_hearing(session, request.hearing_id)
    editing.check_cancellable(hearing)  # before asking to confirm what cannot be done
    subscribers = await _count(context, hearing.case_id)
    async with context.bot_data.database.writing() as session:
        assert hearing.id is not None
        pending_id = await staff.create_pending(
            session,
            actor=actor.user_id,
            request=staff.CancellingHearing(hearing.id, request.reason),
        )
    await message.reply_text(
        say.confirm_cancel(actor.t, hearing, request.reason, subscribers),
        reply_markup=_confirmation_keyboard(actor.t, pending_id, say.CANCEL_THE_HEARING),
    )


@staff_command(Role.MODERATOR)
async def cmd_hearings(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Upcoming hearings with their ids, of all active cases or of one."""
    case_id = parse_optional_case_id("hearings", args)
    if case_id is not None:
        await _case(context, case_id)
    async with context.bot_data.database.reading() as session:
        hearings = await schedule.upcoming_hearings(session, context.bot_data.clock(), case_id)
        titles = {
            s.case.id: s.case.title
            for s in await schedule.case_summaries(session, context.bot_data.clock())
        }
    await _reply_long(message, say.hearings_list(actor.t, hearings, titles))


@staff_command(Role.MODERATOR)
async def cmd_staff(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Admins and moderators."""
    async with context.bot_data.database.reading() as session:
        members = await staff.staff_members(session, context.bot_data.config.admins)
    await message.reply_text(say.staff_list(actor.t, members))


@staff_command(Role.ADMIN)
async def cmd_grant(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Make someone a moderator."""
    user_id = parse_user_id("grant", args)
    async with context.bot_data.database.writing() as session:
        new = await staff.grant(
            session,
            actor=actor.user_id,
            user_id=user_id,
            admins=context.bot_data.config.admins,
        )
    if new:
        default = context.bot_data.config.default_language
        await set_staff_menu(context.bot, user_id, Role.MODERATOR, default)
    await message.reply_text(say.granted(actor.t, user_id, new=new))


@staff_command(Role.ADMIN)
async def cmd_revoke(message: Message, context: Context, actor: Actor, args: str) -> None:
    """Take the moderator role away."""
    user_id = parse_user_id("revoke", args)
    async with context.bot_data.database.writing() as session:
        was = await staff.revoke(
            session,
            actor=actor.user_id,
            user_id=user_id,
            admins=context.bot_data.config.admins,
        )
    if was:
        default = context.bot_data.config.default_language
        await set_staff_menu(context.bot, user_id, None, default)
    await message.reply_text(say.revoked(actor.t, user_id, was=was))


@staff_command(Role.ADMIN)
async def cmd_audit(message: Message, context: Context, actor: Actor, args: str) -> None:
    """The latest staff actions."""
    limit = parse_audit(args)
    async with context.bot_data.database.reading() as session:
        entries = await staff.latest_audit(session, limit)
    await _reply_long(message, say.audit_list(actor.t, entries))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a confirmed action did: the text for the staff member, and a notice to send."""

    text: str
    broadcast: Broadcast | None = None


async def _carry_out(
    session: AsyncSession, context: Context, pending: PendingAction, actor: int, t: Translator
) -> Outcome:
    """Do a confirmed destructive action, in the transaction that claimed it."""
    render: Callable[[Translator], str]
    match staff.request_of(pending):
        case staff.ClosingCase(case_id):
            case = await editing.close_case(session, actor=actor, case_id=case_id)
            if case is None:
                return Outcome(t(say.ALREADY_DONE))
            closed = case
            render = lambda tr: say.case_closed_notice(tr, closed)  # noqa: E731
        case staff.CancellingHearing(hearing_id, reason):
            hearing = await editing.cancel_hearing(
                session, actor=actor, hearing_id=hearing_id, reason=reason
            )
            if hearing is None:
                return Outcome(t(say.ALREADY_DONE))
            found = await schedule.get_case(session, hearing.case_id)
            assert found is not None  # a hearing's case is never deleted
            case, cancelled = found, hearing
            render = lambda tr: say.cancelled_notice(tr, found, cancelled)  # noqa: E731
    broadcast = await queue_notice(session, context, case_id=case.id, render=render, actor=actor)
    return Outcome(say.notice_sent(t, render(t), broadcast.total), broadcast)


async def staff_press(update: Update, context: Context, minimum: Role) -> int | None:
    """The user id behind a button press if they are staff of at least ``minimum``; otherwise
    the press is answered with the neutral line, logged, and None returned."""
    query, user = update.callback_query, update.effective_user
    assert query is not None
    if user is None:
        await query.answer()
        return None
    role = context.turn.role
    if role is None or (minimum == Role.ADMIN and role != Role.ADMIN):
        logger.warning("button refused: user %s is not %s", logref.ref(user.id), minimum)
        await query.answer(context.t(say.NOT_STAFF), show_alert=True)
        return None
    return user.id


async def on_confirmation(update: Update, context: Context) -> None:
    """Confirm or Keep pressed under a destructive command: act once, whoever presses again."""
    query = update.callback_query
    assert query is not None
    action, _, raw_id = (query.data or "").partition(":")
    user_id = await staff_press(update, context, Role.ADMIN)
    if user_id is None:
        return
    t = context.t
    try:
        async with context.bot_data.database.writing() as session:
            pending = await staff.claim_pending(session, pending_id=int(raw_id), actor=user_id)
            if pending is None:
                outcome = None
            elif action == KEEP:
                outcome = Outcome(t(say.KEPT))
            else:
                outcome = await _carry_out(session, context, pending, user_id, t)
    except UserError as exc:
        await query.answer(say.explain(t, exc), show_alert=True)
        return
    if outcome is None:
        await query.answer(t(say.ALREADY_DONE))
        return
    await schedule_changed(context)
    await query.answer()
    shown = await query.edit_message_text(outcome.text)
    if outcome.broadcast is not None and isinstance(shown, Message):
        await follow_progress(context, outcome.broadcast, shown, t.language)


def register(app: HearingWatchApp) -> None:
    """Add the staff handlers."""
    commands: dict[str, Handler] = {
        "addcase": cmd_addcase,
        "editcase": cmd_editcase,
        "closecase": cmd_closecase,
        "addhearing": cmd_addhearing,
        "edithearing": cmd_edithearing,
        "postpone": cmd_postpone,
        "cancelhearing": cmd_cancelhearing,
        "hearings": cmd_hearings,
        "staff": cmd_staff,
        "grant": cmd_grant,
        "revoke": cmd_revoke,
        "audit": cmd_audit,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_confirmation, pattern=CONFIRMATION_PATTERN))
