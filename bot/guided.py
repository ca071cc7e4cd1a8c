"""Guided staff commands: a command given without its arguments asks for them one at a time.

Each command is a ``Flow``: its steps in order, each a question (with buttons for the likely
answers: the active cases, a case's upcoming hearings, a month calendar, common hours, the
courts and cities the case has used) and a reading of the answer. A button stands for what one
would type (the calendar's 21 is "2026-01-21"), and typing works at every step, so the one-line
form and the guided form are the same flow: ``/postpone #12 2026-01-21`` is the flow with its
first two steps answered, and asks for the hour. Every typed answer goes through the same
parsing helpers as the one-line form (``bot.parsing``), so it meets the same checks.

Where a flow stands lives in the database (``storage.flows``), read and written on every answer,
not in python-telegram-bot's ``ConversationHandler`` with a persistence: that persistence reads
the conversations' states once, when the Application initialises, keeps them in memory and
writes them back every ``update_interval`` (60 s by default). A standby instance that receives
the next answer in webhook mode would not know the flow, and a restart would lose up to a minute
of it. A row per staff member, read and written with each answer, is continued by any instance.

No Telegram here: questions are plain data (``Question``), turned into keyboards by
``bot.handlers.guided``; the steps (``bot.guided_steps``) read the database through ``Env``;
the commands are in ``bot.guided_flows``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from bot.context import Config
from bot.i18n import Translator
from bot.parsing import UsageError
from storage.database import Database
from storage.errors import ScheduleError, UserError
from storage.models import Role

# An answer: what the staff member typed or pressed, read and normalised ("12", "2026-01-21",
# "10:00" or "tba", a text); None for a skipped optional step (or a cleared address).
Answers = dict[str, str | None]

SKIP_WORDS: Final = ("-", "skip")

# Button tokens (what a press stands for; bot.handlers.guided puts them in callback data).
TYPED: Final = "="  # "=<answer>": as if typed
OFFERED: Final = "o"  # "o<n>": the n-th value in Question.offered
MONTH: Final = "m"  # "mYYYY-MM": show another month of the calendar
PAST: Final = "p"  # a day before the first allowed: refused
INERT: Final = "-"  # a label (a weekday's name, padding): nothing


@dataclass(frozen=True, slots=True)
class Button:
    """One button: its label and what pressing it stands for (a token, above)."""

    label: str
    token: str


@dataclass(frozen=True, slots=True)
class Question:
    """What a step asks, as plain data: its text, its buttons, the long values behind the
    ``OFFERED`` buttons, and whether it offers Telegram's person picker."""

    text: str
    rows: tuple[tuple[Button, ...], ...] = ()
    offered: tuple[str, ...] = ()
    pick_person: bool = False


@dataclass(frozen=True, slots=True)
class Env:
    """What a step may read: the database, the time, the settings, and who answers."""

    database: Database
    now: dt.datetime
    config: Config
    t: Translator
    user_id: int
    role: Role


Ask = Callable[[Env, Answers, str | None], Awaitable[Question]]  # (env, answers, month shown)
Take = Callable[[Env, Answers, str], Awaitable[str | None]]
Check = Callable[[Env, Answers], Awaitable[None]]


async def no_check(_env: Env, _answers: Answers) -> None:
    """Nothing to check beyond reading the answer."""


def always(_answers: Answers) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Step:
    """One question of a flow.

    ``take`` reads a typed answer (or a pressed one) into its normal form, or raises a
    UserError saying what was expected; ``check`` then checks it against the schedule with the
    answers before it (a date still free, a time in the future). ``word``: the one-line form
    gives this step as one word (an id, a date), so a line can answer it in advance.
    """

    name: str
    ask: Ask
    take: Take
    check: Check = no_check
    optional: bool = False
    word: bool = True
    applies: Callable[[Answers], bool] = always


@dataclass(frozen=True, slots=True)
class Flow:
    """A staff command as a sequence of steps; ``from_line`` reads its whole one-line form."""

    command: str
    minimum: Role
    steps: tuple[Step, ...]
    from_line: Callable[[str], Answers]

    def next_step(self, answers: Answers) -> Step | None:
        """The first step that applies and is not answered yet; None when all are."""
        return next(
            (step for step in self.steps if step.name not in answers and step.applies(answers)),
            None,
        )

    def step(self, name: str) -> Step | None:
        """The step of this name (None: the flow has none, say after an upgrade)."""
        return next((step for step in self.steps if step.name == name), None)


async def answer(env: Env, flow: Flow, step: Step, answers: Answers, text: str) -> Answers:
    """The answers with ``text`` read as the answer to ``step`` and checked; a UserError
    (changing nothing) when it is not an answer to it."""
    value: str | None
    if step.optional and text.strip().lower() in SKIP_WORDS:
        value = None
    else:
        value = await step.take(env, answers, text)
    given = answers | {step.name: value}
    await step.check(env, given)
    return given


async def skip(env: Env, flow: Flow, step: Step, answers: Answers) -> Answers:
    """The answers with an optional step skipped."""
    if not step.optional:
        raise UsageError(flow.command, "This question cannot be skipped.")
    given = answers | {step.name: None}
    await step.check(env, given)
    return given


async def from_line(env: Env, flow: Flow, text: str) -> tuple[Answers, UserError | None]:
    """The answers a command's text gives in advance, and the mistake at the step to ask next.

    The whole one-line form answers every step. A line that stops early (``/postpone #12``)
    answers its first steps, one word each, checked as they would be when asked. A line with
    more than those words that does not read as the one-line form is refused as before, with
    the one-line form's own explanation (a ``UsageError`` raised from here).
    """
    if not text.strip():
        return {}, None
    try:
        return flow.from_line(text), None
    except UsageError as whole:
        mistake: UsageError = whole
    answers: Answers = {}
    words = text.split()
    while words:
        step = flow.next_step(answers)
        if step is None or not step.word:
            raise mistake
        try:
            answers = await answer(env, flow, step, answers, words.pop(0))
        except UsageError as error:
            if words:  # more typed after a wrong word: the one-line form's explanation
                raise mistake from error
            return answers, error
        except ScheduleError as error:
            return answers, error
    return answers, None
