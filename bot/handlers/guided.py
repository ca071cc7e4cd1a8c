"""Guided staff commands in the chat: the questions with their buttons, and the answers, typed,
pressed or picked with Telegram's person picker (the flows themselves are in ``bot.guided``).

Every answer reads the flow from the database and writes it back (``storage.flows``), so any
instance continues it, and a button carries its flow's id and step, so that a press on an old
question answers nothing. One flow per staff member: a flow command replaces an open flow, and
says so; the read-only commands (/hearings, /staff, /audit, /broadcasts) leave it open, so that
one can look something up half-way. ``/cancel`` or the Cancel button leaves it; left alone for
``storage.flows.FLOW_LIFETIME`` it expires, and an answer after that is told so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestUsers,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import guided
from bot import staff_texts as say
from bot.context import Context, HearingWatchApp
from bot.guided import Answers, Flow, Question, Step
from bot.guided_flows import FLOWS
from bot.handlers.staff_access import Actor, Handler, relayed, staff_command
from bot.texts import split_message
from jobs import logref
from storage import flows
from storage.errors import UserError
from storage.flows import FlowState
from storage.models import Role

logger = logging.getLogger(__name__)

PREFIX = "fl"
BUTTON_PATTERN = rf"^{PREFIX}:\d+:\w+:"
SKIP = "s"
CANCEL = "x"
# Telegram's limit on a button's callback data, in bytes.
MAX_CALLBACK_DATA = 64

ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup


@dataclass
class Call:
    """A staff member's turn in a guided command: who, in which chat, and how to answer.

    ``remove_keyboard``: the person picker still shows, and the next message takes it away.
    ``shared_name``: the name Telegram gave with a picked person, shown once and never stored.
    """

    context: Context
    actor: Actor
    chat_id: int
    remove_keyboard: bool = False
    shared_name: str | None = None

    async def send(self, text: str, markup: ReplyMarkup | None = None) -> Message:
        """Send a message (HTML) with its buttons, taking the person picker away first."""
        bot = self.context.bot
        if isinstance(markup, ReplyKeyboardMarkup):
            self.remove_keyboard = False  # a new reply keyboard takes the old one's place
        if not self.remove_keyboard:
            return await bot.send_message(self.chat_id, text, reply_markup=markup)
        self.remove_keyboard = False
        # A message carries one keyboard: it removes the picker, then gets its own buttons.
        sent = await bot.send_message(self.chat_id, text, reply_markup=ReplyKeyboardRemove())
        if isinstance(markup, InlineKeyboardMarkup):
            edited = await bot.edit_message_reply_markup(
                self.chat_id, sent.message_id, reply_markup=markup
            )
            if isinstance(edited, Message):
                return edited
        return sent

    async def send_long(self, text: str) -> None:
        """A long text as several messages, split between paragraphs or lines."""
        for part in split_message(text):
            await self.send(part)


# What a flow does once every step is answered: the command itself (bot.handlers.staff and
# bot.handlers.broadcasts). A UserError it raises asks the last question again.
Finisher = Callable[[Call, Answers], Awaitable[None]]
_FINISHERS: dict[str, Finisher] = {}


def _env(context: Context, actor: Actor) -> guided.Env:
    data = context.bot_data
    return guided.Env(
        database=data.database,
        now=data.clock(),
        config=data.config,
        t=actor.t,
        user_id=actor.user_id,
        role=actor.role,
    )


def _actor(context: Context, user_id: int) -> Actor | None:
    role = context.turn.role
    return None if role is None else Actor(user_id, role, context.t)


def _allowed(flow: Flow, actor: Actor) -> bool:
    return flow.minimum != Role.ADMIN or actor.role == Role.ADMIN


def _data(flow_id: int, step: Step, token: str) -> str:
    return f"{PREFIX}:{flow_id}:{step.name}:{token}"


def _markup(call: Call, flow_id: int, step: Step, question: Question) -> ReplyMarkup:
    """The question's buttons: Telegram's person picker, or inline buttons with Skip (for an
    optional step) and Cancel."""
    t = call.actor.t
    if question.pick_person:
        picker = KeyboardButtonRequestUsers(
            request_id=flow_id, user_is_bot=False, max_quantity=1, request_name=True
        )
        return ReplyKeyboardMarkup(
            [[KeyboardButton(t(say.CHOOSE_PERSON), request_users=picker)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    rows = [
        [
            InlineKeyboardButton(button.label, callback_data=_data(flow_id, step, button.token))
            for button in row
            # A value too long for a button's data is typed instead.
            if len(_data(flow_id, step, button.token).encode()) <= MAX_CALLBACK_DATA
        ]
        for row in question.rows
    ]
    last = [
        InlineKeyboardButton(t.marked(say.CANCEL_FLOW), callback_data=_data(flow_id, step, CANCEL))
    ]
    if step.optional:
        last.insert(
            0, InlineKeyboardButton(t.marked(say.SKIP), callback_data=_data(flow_id, step, SKIP))
        )
    return InlineKeyboardMarkup([row for row in rows if row] + [last])


async def _ask(
    call: Call,
    flow: Flow,
    answers: Answers,
    *,
    problem: UserError | None = None,
    state: FlowState | None = None,
) -> None:
    """Ask the flow's next question (after a ⚠️ line when the last answer was wrong), and
    store where the flow stands: a new flow, or ``state`` moved on."""
    step = flow.next_step(answers)
    assert step is not None
    env = _env(call.context, call.actor)
    question = await step.ask(env, answers, None)
    now = call.context.bot_data.clock()
    async with call.context.bot_data.database.writing() as session:
        if state is None:
            flow_id = await flows.begin(
                session,
                user_id=call.actor.user_id,
                command=flow.command,
                step=step.name,
                answers=answers,
                offered=list(question.offered),
                reply_keyboard=question.pick_person,
                now=now,
            )
        elif await flows.advance(
            session,
            flow=state,
            step=step.name,
            answers=answers,
            offered=list(question.offered),
            reply_keyboard=question.pick_person,
            now=now,
        ):
            flow_id = state.id
        else:
            return  # answered meanwhile, from another device: that answer goes on
    if state is not None and state.reply_keyboard and not question.pick_person:
        call.remove_keyboard = True
    text = question.text
    if problem is not None:
        text = f"{say.problem(say.explain(call.actor.t, problem, example=False))}\n\n{text}"
    await call.send(text, _markup(call, flow_id, step, question))


async def _finish(call: Call, flow: Flow, answers: Answers, state: FlowState | None) -> None:
    """Every step is answered: end the flow and do the command. A refusal asks the last
    question again (a one-line command's is just said)."""
    if state is not None:
        async with call.context.bot_data.database.writing() as session:
            if not await flows.finish(session, flow=state):
                return  # finished meanwhile, from another device
        if state.reply_keyboard:
            call.remove_keyboard = True
    try:
        await _FINISHERS[flow.command](call, answers)
    except UserError as error:
        if state is None:
            await call.send(say.problem(say.explain(call.actor.t, error)))
            return
        before = {name: value for name, value in answers.items() if name != state.step}
        await _ask(call, flow, before, problem=error)


async def _go_on(call: Call, flow: Flow, state: FlowState, answers: Answers) -> None:
    """After an accepted answer: the next question, or the command itself."""
    if flow.next_step(answers) is None:
        await _finish(call, flow, answers, state)
    else:
        await _ask(call, flow, answers, state=state)


async def start(message: Message, context: Context, actor: Actor, flow: Flow, args: str) -> None:
    """A flow command: do it when its text answers every step, else ask what is missing.
    An open flow of this staff member ends, and they are told so."""
    call = Call(context, actor, message.chat_id)
    async with context.bot_data.database.writing() as session:
        dropped = await flows.end(session, user_id=actor.user_id)
    if dropped is not None and dropped.reply_keyboard:
        call.remove_keyboard = True
    try:
        answers, problem = await guided.from_line(_env(context, actor), flow, args)
    except UserError as error:
        await call.send(say.problem(say.explain(actor.t, error)))
    else:
        if flow.next_step(answers) is None:
            await _finish(call, flow, answers, None)
        else:
            await _ask(call, flow, answers, problem=problem)
    if dropped is not None:
        await call.send(f"<i>{actor.t(say.FLOW_REPLACED, command=dropped.command)}</i>")


def flow_command(command: str, finisher: Finisher) -> Handler:
    """The handler of a flow command: staff only, then the flow (``finisher`` at its end)."""
    flow = FLOWS[command]
    _FINISHERS[command] = finisher

    async def callback(message: Message, context: Context, actor: Actor, args: str) -> None:
        await start(message, context, actor, flow, args)

    callback.__name__ = f"cmd_{command}"  # what refusals are logged as
    callback.__doc__ = f"/{command}, guided or in one line."
    return staff_command(flow.minimum)(callback)


async def _open_flow(
    call: Call, *, answered_late: Callable[[str], Awaitable[None]]
) -> tuple[Flow, FlowState] | None:
    """The staff member's flow, if open and theirs to answer; an expired one is ended and
    ``answered_late`` is told so."""
    async with call.context.bot_data.database.reading() as session:
        state = await flows.current(session, user_id=call.actor.user_id)
    if state is None:
        return None
    flow = FLOWS.get(state.command)
    expired = state.expired(call.context.bot_data.clock())
    if flow is None or expired or not _allowed(flow, call.actor):
        async with call.context.bot_data.database.writing() as session:
            await flows.end(session, user_id=call.actor.user_id)
        call.remove_keyboard = state.reply_keyboard
        if flow is not None and not _allowed(flow, call.actor):
            await answered_late(call.actor.t(say.ADMINS_ONLY))
        else:
            await answered_late(call.actor.t(say.FLOW_EXPIRED, command=state.command))
        return None
    return flow, state


async def on_text(update: Update, context: Context) -> None:
    """A staff member typed something: the answer to their flow's question, if one is open."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.text is None:
        return
    actor = _actor(context, user.id)
    if actor is None:
        return  # not staff: nothing was asked
    call = Call(context, actor, message.chat_id)

    async def late(text: str) -> None:
        await call.send(text)

    opened = await _open_flow(call, answered_late=late)
    if opened is None:
        return
    flow, state = opened
    if relayed(message):
        logger.warning("answer refused: forwarded or via a bot (user %s)", logref.ref(user.id))
        await message.reply_text(actor.t(say.RELAYED))
        return
    await _answered(call, flow, state, message.text)


async def _answered(call: Call, flow: Flow, state: FlowState, text: str) -> None:
    """Take ``text`` as the answer to the open question: go on, or ask again saying why."""
    step = flow.step(state.step)
    if step is None:  # a step this version no longer has: start the flow again
        await _ask(call, flow, {}, state=state)
        return
    try:
        answers = await guided.answer(
            _env(call.context, call.actor), flow, step, state.answers, text
        )
    except UserError as error:
        await _ask(call, flow, state.answers, problem=error, state=state)
        return
    await _go_on(call, flow, state, answers)


async def on_users_shared(update: Update, context: Context) -> None:
    """A person picked with Telegram's picker: the answer to the flow asking for one."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.users_shared is None:
        return
    actor = _actor(context, user.id)
    if actor is None:
        return
    call = Call(context, actor, message.chat_id, remove_keyboard=True)
    told = False

    async def late(text: str) -> None:
        nonlocal told
        told = True
        await call.send(text)

    opened = await _open_flow(call, answered_late=late)
    shared = message.users_shared
    if told:
        return
    if opened is None or opened[1].id != shared.request_id or not shared.users:
        await call.send(actor.t(say.QUESTION_CLOSED))  # and the picker goes
        return
    person = shared.users[0]
    # Shown once in the confirmation, never stored or logged.
    call.shared_name = " ".join(part for part in (person.first_name, person.last_name) if part)
    call.shared_name = call.shared_name or (f"@{person.username}" if person.username else None)
    await _answered(call, *opened, str(person.user_id))


async def on_button(update: Update, context: Context) -> None:
    """A button under a question: an answer, Skip, Cancel, or another month of the calendar."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None or not isinstance(query.message, Message):
        return
    _, raw_id, step_name, token = (query.data or "").split(":", 3)
    actor = _actor(context, user.id)
    if actor is None:
        logger.warning("button refused: user %s is not staff", logref.ref(user.id))
        await query.answer(context.t(say.NOT_STAFF), show_alert=True)
        return
    shown = query.message
    call = Call(context, actor, shown.chat_id)
    told = False

    async def late(text: str) -> None:
        nonlocal told
        told = True
        await query.answer(text, show_alert=True)
        await _close(shown)

    opened = await _open_flow(call, answered_late=late)
    if told:
        return
    if opened is None or opened[1].id != int(raw_id):
        await query.answer(actor.t(say.QUESTION_CLOSED))
        await _close(shown)
        return
    flow, state = opened
    step = flow.step(state.step)
    if step_name != state.step or step is None:
        await query.answer(actor.t(say.ALREADY_ANSWERED))
        return
    env = _env(context, actor)
    if token == guided.INERT:
        await query.answer()
    elif token == guided.PAST:
        await query.answer(actor.t(say.PAST_DAY))
    elif token.startswith(guided.MONTH):
        question = await step.ask(env, state.answers, token.removeprefix(guided.MONTH))
        await query.answer()
        await _edit_buttons(shown, _markup(call, state.id, step, question))
    elif token == CANCEL:
        async with context.bot_data.database.writing() as session:
            await flows.end(session, user_id=actor.user_id)
        await query.answer()
        await _close(shown, actor.t(say.FLOW_CANCELLED))
    elif token == SKIP:
        await query.answer()
        try:
            answers = await guided.skip(env, flow, step, state.answers)
        except UserError as error:
            await _ask(call, flow, state.answers, problem=error, state=state)
            return
        await _close(shown, "→ " + actor.t.marked(say.SKIP))
        await _go_on(call, flow, state, answers)
    else:
        await query.answer()
        value = _pressed(state, token)
        label = _label(shown, query.data or "")
        # A calendar's day says little by itself ("21"): its date, then.
        await _close(shown, "→ " + (value if label.isdigit() else label))
        await _answered(call, flow, state, value)


def _pressed(state: FlowState, token: str) -> str:
    """What a pressed button stands for, as if typed."""
    if token.startswith(guided.OFFERED) and token[1:].isdigit():
        index = int(token[1:])
        return state.offered[index] if index < len(state.offered) else ""
    return token.removeprefix(guided.TYPED)


def _label(message: Message, data: str) -> str:
    markup = message.reply_markup
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return ""


async def _edit_buttons(message: Message, markup: ReplyMarkup) -> None:
    if not isinstance(markup, InlineKeyboardMarkup):
        return
    try:
        await message.edit_reply_markup(reply_markup=markup)
    except BadRequest as exc:  # pressed twice: the same month is shown already
        if "not modified" not in exc.message.lower():
            raise


async def _close(message: Message, note: str | None = None) -> None:
    """Take an answered (or closed) question's buttons away, noting what became of it."""
    try:
        if note:
            await message.edit_text(f"{message.text_html}\n\n<i>{note}</i>", reply_markup=None)
        else:
            await message.edit_reply_markup(reply_markup=None)
    except BadRequest as exc:  # deleted, or closed already by another press
        logger.info("could not close a question: %s", exc.message)


async def cmd_cancel(update: Update, context: Context) -> None:
    """Leave the guided command under way, changing nothing."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    ended = None
    if context.turn.role is not None:
        async with context.bot_data.database.writing() as session:
            ended = await flows.end(session, user_id=user.id)
    t = context.t
    if ended is None:
        await message.reply_text(t(say.NOTHING_TO_CANCEL))
        return
    markup = ReplyKeyboardRemove() if ended.reply_keyboard else None
    await message.reply_text(t(say.FLOW_CANCELLED), reply_markup=markup)


def register(app: HearingWatchApp) -> None:
    """Add /cancel, the flows' buttons, and the answers typed or picked in private chats.

    The flow commands themselves are registered by the modules that finish them
    (``flow_command``).
    """
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("cancel", cmd_cancel, filters=private))
    app.add_handler(CallbackQueryHandler(on_button, pattern=BUTTON_PATTERN))
    app.add_handler(MessageHandler(private & filters.StatusUpdate.USERS_SHARED, on_users_shared))
    # Text that is no command: an answer, if a question is open (else nothing was asked).
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_text))
