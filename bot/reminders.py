"""Reminders as APScheduler jobs (through PTB's JobQueue), rebuilt from the database.

``reconcile`` makes the jobs match the schedule: one job per (hearing, offset) with a
deterministic id, replaced in place; it runs at start, after every schedule change, and every few
minutes (which also catches a `hearing-watch import` run from another process). A job that fires
queues a reminder broadcast for the delivery engine, once per (hearing, instant, offset).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot import texts
from bot.context import BotData, Context, HearingWatchApp
from bot.handlers.access import may_change_subscriptions
from bot.handlers.language import translator_for
from bot.i18n import LANGUAGES, Translator, translator
from jobs.delivery import PrepareFn
from jobs.reminders import Plan, Reminder, has_begun, keys_of, plan
from storage import deliveries, editing, schedule, subscriptions
from storage.models import Case, CaseStatus, ChatType, Hearing, HearingStatus

logger = logging.getLogger(__name__)

JOB_PREFIX = "reminder:"
RECONCILE = "reconcile"
RECONCILE_INTERVAL = 300.0  # seconds
# Hearings this far in the past are still looked at, to count reminders dropped while down.
LOOK_BACK = timedelta(days=2)
CHOICE = "remind"
CHOICE_PATTERN = rf"^{CHOICE}:"
ALL, NONE = "all", "none"


async def reconcile(app: HearingWatchApp) -> Plan:
    """Make the reminder jobs match the database; send what fell due while the bot was down."""
    # One at a time: updates run concurrently, and a rebuild that read the database earlier
    # must not finish after, and so undo, one that read it later.
    async with app.bot_data.reconciling:
        return await _reconcile(app)


async def _reconcile(app: HearingWatchApp) -> Plan:
    data = app.bot_data
    rules = data.settings.reminders.rules
    now = data.clock()
    async with data.database.reading() as session:
        hearings = await editing.scheduled_since(session, now - LOOK_BACK)
        handled = await deliveries.handled_reminders(session, keys_of(hearings, rules))
    result = plan(hearings, rules, now, handled)

    job_queue = app.job_queue
    assert job_queue is not None
    wanted = {reminder.job_id for reminder in result.schedule}
    for job in job_queue.jobs():
        if job.name and job.name.startswith(JOB_PREFIX) and job.name not in wanted:
            job.schedule_removal()
    for reminder in result.schedule:
        # A delay from the bot's clock, so that tests that set the clock schedule consistently.
        delay = (reminder.due - now).total_seconds()
        job_queue.run_once(
            fire,
            when=delay,
            data=reminder,
            name=reminder.job_id,
            # Deterministic id: a moved hearing's job is replaced in place. No misfire grace: a
            # late job still runs, and fire() itself refuses a hearing that has begun.
            job_kwargs={
                "id": reminder.job_id,
                "replace_existing": True,
                "misfire_grace_time": None,
            },
        )
    for reminder in result.send_now:
        await send_reminder(app, reminder)
    if result.skipped or result.dropped:
        await _mark_handled(app, result.skipped + result.dropped)
    if result.dropped:
        logger.warning(
            "%d reminders fell due while the bot was down and their hearings have begun: dropped",
            len(result.dropped),
        )
    if result.skipped:
        logger.info("%d overdue reminders superseded by a later one: skipped", len(result.skipped))
    return result


async def _mark_handled(app: HearingWatchApp, reminders: list[Reminder]) -> None:
    data = app.bot_data
    async with data.database.writing() as session:
        for reminder in reminders:
            hearing = await session.get(Hearing, reminder.hearing_id)
            if hearing is not None:
                await deliveries.skip_reminder(
                    session, key=reminder.key, case_id=hearing.case_id, now=data.clock()
                )


async def send_reminder(app: HearingWatchApp, reminder: Reminder) -> int | None:
    """Queue a reminder for its chats, unless it is stale or handled; how many chats, or None."""
    data = app.bot_data
    now = data.clock()
    async with data.database.writing() as session:
        hearing = await session.get(Hearing, reminder.hearing_id)
        if (
            hearing is None
            or hearing.status != HearingStatus.SCHEDULED
            or hearing.starts_at != reminder.starts_at
        ):
            return None  # the hearing moved or ended; reconcile has replaced or removed this job
        case = await schedule.get_case(session, hearing.case_id)
        if case is None or case.status != CaseStatus.ACTIVE:
            return None
        if has_begun(hearing, now):
            await deliveries.skip_reminder(session, key=reminder.key, case_id=case.id, now=now)
            logger.warning("reminder %s came after its hearing began: dropped", reminder.key)
            return None
        broadcast = await deliveries.start_reminder(
            session,
            key=reminder.key,
            case_id=case.id,
            hearing_id=reminder.hearing_id,
            offset=reminder.offset,
            merged=reminder.merged,
            due=reminder.due,
            text=texts.reminder(
                translator(data.settings.i18n.default_language), case, hearing, now
            ),
            texts={
                code: texts.reminder(translator(code), case, hearing, now) for code in LANGUAGES
            },
            now=now,
        )
    if broadcast is None:
        return None
    data.engine.wake()
    logger.info("reminder %s queued for %d chats", reminder.key, broadcast.total)
    return broadcast.total


def prepare_for_sending(data: BotData) -> PrepareFn:
    """The engine's hook: a reminder rendered again as each chat's turn comes, so that "starts in
    2 hours" holds when it arrives (a reminder to thousands of chats at 30 a second takes
    minutes), and none sent once its hearing has begun (after a crash or an outage). Any other
    broadcast goes as it was stored."""

    def prepare(payload: Mapping[str, Any], language: str | None, text: str) -> str | None:
        about, where = payload.get("case"), payload.get("hearing")
        if not isinstance(about, dict) or not isinstance(where, dict):
            return text  # not a reminder, or one queued before reminders carried their hearing
        hearing = Hearing(
            case_id=about["id"],
            court=where["court"],
            city=where["city"],
            address=where["address"],
            starts_at=datetime.fromisoformat(where["starts_at"]),
            timezone=where["timezone"],
            time_tba=where["time_tba"],
        )
        now = data.clock()
        if has_begun(hearing, now):
            return None
        code = language if language in LANGUAGES else data.settings.i18n.default_language
        case = Case(id=about["id"], title=about["title"])
        return texts.reminder(translator(code), case, hearing, now)

    return prepare


def _app(context: Context) -> HearingWatchApp:
    # PTB types a job's application loosely; it is the one build_application made.
    return cast(HearingWatchApp, context.application)


async def fire(context: Context) -> None:
    """A reminder job is due."""
    assert context.job is not None
    reminder = context.job.data
    assert isinstance(reminder, Reminder)
    await send_reminder(_app(context), reminder)


async def reconcile_job(context: Context) -> None:
    """The periodic safety net: changes made elsewhere (an import) are picked up here."""
    await reconcile(_app(context))


def _choice_keyboard(t: Translator, offsets: tuple[str, ...]) -> InlineKeyboardMarkup:
    row = [
        InlineKeyboardButton(texts.offset_label(t, offset), callback_data=f"{CHOICE}:{offset}")
        for offset in offsets
    ]
    both = t(texts.BUTTON_BOTH) if len(offsets) == 2 else t(texts.BUTTON_ALL)
    return InlineKeyboardMarkup(
        [
            row,
            [
                InlineKeyboardButton(both, callback_data=f"{CHOICE}:{ALL}"),
                InlineKeyboardButton(t(texts.BUTTON_NONE), callback_data=f"{CHOICE}:{NONE}"),
            ],
        ]
    )


async def cmd_remind(update: Update, context: Context) -> None:
    """Show this chat's reminders with buttons to choose them."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None:
        return
    t = await translator_for(update, context)
    offsets = context.bot_data.settings.reminders.rules.offset_names
    async with context.bot_data.database.reading() as session:
        choice = await subscriptions.reminder_choice(session, chat_id=chat.id)
    await message.reply_text(
        texts.reminder_choice(t, choice, offsets), reply_markup=_choice_keyboard(t, offsets)
    )


async def on_choice(update: Update, context: Context) -> None:
    """A reminder button: store the chat's choice (in groups, administrators only)."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    if chat is None:
        await query.answer()
        return
    t = await translator_for(update, context)
    offsets = context.bot_data.settings.reminders.rules.offset_names
    picked = (query.data or "").partition(":")[2]
    if picked not in (*offsets, ALL, NONE):
        await query.answer(t(texts.CHOICE_OUT_OF_DATE))
        return
    if not await may_change_subscriptions(update, context):
        await query.answer(t(texts.ONLY_GROUP_ADMINS), show_alert=True)
        return
    # "All" is the configured reminders, stored as None: were it stored as today's list, a change
    # of [reminders] offsets would silently leave the chat with none of the new ones.
    choice = None if picked == ALL else [] if picked == NONE else [picked]
    async with context.bot_data.database.writing() as session:
        await subscriptions.set_reminder_choice(
            session, chat_id=chat.id, chat_type=ChatType(chat.type), offsets=choice
        )
    text = texts.reminder_choice(t, choice, offsets)
    await query.answer(t(texts.SAVED))
    if query.message is not None and getattr(query.message, "text", None) != text:
        await query.edit_message_text(text, reply_markup=_choice_keyboard(t, offsets))


def register(app: HearingWatchApp) -> None:
    """Add /remind."""
    app.add_handler(CommandHandler("remind", cmd_remind, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(on_choice, pattern=CHOICE_PATTERN))


async def activate(app: HearingWatchApp) -> None:
    """This instance became the active one: build the reminder jobs and keep them in step."""
    assert app.job_queue is not None
    app.job_queue.run_repeating(
        reconcile_job, interval=RECONCILE_INTERVAL, first=RECONCILE_INTERVAL, name=RECONCILE
    )
    await reconcile(app)


def is_active(app: HearingWatchApp) -> bool:
    """Whether this instance keeps the reminder jobs (the periodic reconciliation runs)."""
    assert app.job_queue is not None
    return bool(app.job_queue.get_jobs_by_name(RECONCILE))


def deactivate(app: HearingWatchApp) -> None:
    """This instance stands by: another one reminds, so none of its jobs may fire here."""
    assert app.job_queue is not None
    for job in app.job_queue.jobs():
        if job.name == RECONCILE or (job.name or "").startswith(JOB_PREFIX):
            job.schedule_removal()


def next_due(app: HearingWatchApp) -> datetime | None:
    """When the next reminder job fires (None on a standby, or when none is planned)."""
    assert app.job_queue is not None
    times = [
        job.next_t
        for job in app.job_queue.jobs()
        if (job.name or "").startswith(JOB_PREFIX) and job.next_t is not None
    ]
    return min(times, default=None)
