"""The steps of the guided staff commands: each asks one thing (with buttons for the likely
answers) and reads the answer typed or pressed, through the same parsing helpers as the
one-line form (``bot.parsing``), and checks it against the schedule."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from typing import Final
from zoneinfo import ZoneInfo

from babel.dates import get_day_names

from bot.guided import (
    INERT,
    MONTH,
    OFFERED,
    PAST,
    TYPED,
    Answers,
    Button,
    Check,
    Env,
    Question,
    Step,
    always,
    no_check,
)
from bot.i18n import N_, Translator
from bot.parsing import (
    UsageError,
    _case_id,
    _date,
    _hearing_id,
    _message_text,
    _reason,
    _time,
    _worded,
    _zone,
    parse_user_id,
)
from bot.staff_texts import FIELDS
from storage import editing, schedule, staff, wording
from storage.errors import ScheduleError
from storage.models import Case, Hearing, HearingStatus, Role

HEARING_BUTTONS: Final = 8
CASE_BUTTONS: Final = 10
PLACE_BUTTONS: Final = 6
# Hours courts usually sit at; any other is typed.
HOURS: Final = (
    ("09:00", "09:30", "10:00", "10:30"),
    ("11:00", "11:30", "12:00", "14:00"),
    ("14:30", "15:00", "15:30", "16:00"),
)
MONTHS_AHEAD: Final = 24  # how far the calendar's arrow goes
WHICH_HEARING = N_("Which hearing?")
CHOOSE_OR_TYPE_CASE = N_("Choose one, or type its id.")
CHOOSE_OR_TYPE_HEARING = N_("Choose one, or type its number as #N; /hearings lists them all.")
NOT_ANNOUNCED = N_("Not announced")
NO_ADDRESS = N_("No address")
NO_CASES = N_("There is no active case. /addcase adds one.")
NO_HEARINGS = N_("No hearing is coming up; type the number of the one you mean as #N.")
MESSAGE_HINT = N_(
    "Write it as subscribers should read it: one text for everyone, or a version per language,"
    " each starting with kk:, ru: or en: on a line of its own."
)


# --- reading the schedule -------------------------------------------------------------------


async def _active_cases(env: Env) -> list[Case]:
    async with env.database.reading() as session:
        summaries = await schedule.case_summaries(session, env.now)
    return [summary.case for summary in summaries]


async def _hearing(env: Env, hearing_id: str | None) -> Hearing:
    assert hearing_id is not None
    async with env.database.reading() as session:
        return await schedule.get_hearing(session, int(hearing_id))


async def _case_of(env: Env, answers: Answers) -> str:
    """The case a flow is about: answered, or the answered hearing's."""
    case_id = answers.get("case")
    if case_id is not None:
        return case_id
    return (await _hearing(env, answers.get("hearing"))).case_id


def _zone_of(env: Env, answers: Answers, hearing: Hearing | None) -> str:
    if hearing is not None:
        return hearing.timezone
    return answers.get("zone") or env.config.timezone


def _short_when(t: Translator, hearing: Hearing) -> str:
    """'21 Jan · 10:00', or '21 Jan · —' when the hour is not announced: for a button."""
    start = schedule.local_start(hearing)
    day = t.short_date(start.date())
    return f"{day} · {'—' if hearing.time_tba else f'{start:%H:%M}'}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- steps ------------------------------------------------------------------------------------


def case_step(command: str, *, question: str = N_("Which case?")) -> Step:
    """An active case: a button each, or its id typed."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        cases = (await _active_cases(env))[:CASE_BUTTONS]
        hint = env.t(CHOOSE_OR_TYPE_CASE) if cases else env.t(NO_CASES)
        language = env.t.language
        rows = tuple(
            (Button(_cut(f"{case.worded('title', language)} · {case.id}", 60), TYPED + case.id),)
            for case in cases
        )
        return Question(f"{env.t(question)}\n{hint}", rows)

    async def take(env: Env, _answers: Answers, text: str) -> str:
        case_id = _case_id(command, text.strip())
        async with env.database.reading() as session:
            await schedule.active_case(session, case_id)
        return case_id

    return Step("case", ask, take)


def new_case_step() -> Step:
    """The id of a case that does not exist yet."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        return Question(
            env.t(
                "What is the new case's id? Lowercase Latin letters, digits and dashes, for"
                " example <code>free-ali</code>: links and commands use it."
            )
        )

    async def take(env: Env, _answers: Answers, text: str) -> str:
        case_id = _case_id("addcase", text.strip())
        async with env.database.reading() as session:
            if await schedule.get_case(session, case_id) is not None:
                raise ScheduleError(
                    "A case with the id {case_id} exists already; /editcase changes it.",
                    case_id=case_id,
                )
        return case_id

    return Step("case", ask, take)


def text_step(
    command: str,
    name: str,
    question: str,
    *,
    what: str,
    limit: int,
    optional: bool = False,
    multiline: bool = False,
    applies: Callable[[Answers], bool] = always,
) -> Step:
    """Text staff type (a title, a description), once for everyone or in blocks per language,
    bounded and checked as the one-line form checks it (only a ``multiline`` one may hold line
    breaks within a version)."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        return Question(env.t(question))

    async def take(_env: Env, _answers: Answers, text: str) -> str | None:
        value = _worded(command, what, text, limit, required=not optional, multiline=multiline)
        return value or None

    return Step(name, ask, take, optional=optional, word=False, applies=applies)


def reason_step(command: str, question: str) -> Step:
    """Why a hearing moves or is cancelled, as subscribers will read it; optional."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        return Question(env.t(question))

    async def take(_env: Env, _answers: Answers, text: str) -> str | None:
        return _reason(command, text)

    return Step("reason", ask, take, optional=True, word=False)


def message_step(command: str, question: str) -> Step:
    """A moderator's text for subscribers (one, or a version per language)."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        return Question(f"{env.t(question)}\n{env.t(MESSAGE_HINT)}")

    async def take(_env: Env, _answers: Answers, text: str) -> str:
        return _message_text(command, text)

    return Step("text", ask, take, word=False)


HearingRule = Callable[[Hearing], None]


def scheduled_to_move(hearing: Hearing) -> None:
    if hearing.status != HearingStatus.SCHEDULED:
        raise ScheduleError(
            "Hearing #{number} is {status}; only a scheduled one moves.",
            number=hearing.id,
            status=hearing.status,
        )


def may_have_outcome(hearing: Hearing) -> None:
    if hearing.status not in (HearingStatus.SCHEDULED, HearingStatus.HELD):
        raise ScheduleError(
            "Hearing #{number} is {status}; it had no outcome.",
            number=hearing.id,
            status=hearing.status,
        )


def any_hearing(_hearing: Hearing) -> None:
    """Any hearing's court or address can be mended."""


def hearing_step(command: str, rule: HearingRule, *, recent: bool = False) -> Step:
    """A hearing: a button for each of the next few (``recent``: those of the last days, whose
    outcome is due), or its number typed."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        async with env.database.reading() as session:
            if recent:
                hearings = [
                    hearing
                    for hearing in await schedule.scheduled_since(
                        session, env.now - dt.timedelta(days=3)
                    )
                    if hearing.starts_at <= env.now + dt.timedelta(hours=12)
                ][::-1]
            if not recent or not hearings:
                hearings = await schedule.upcoming_hearings(session, env.now)
        hearings = hearings[:HEARING_BUTTONS]
        language = env.t.language
        rows = tuple(
            (
                Button(
                    _cut(
                        f"#{h.id} · {_short_when(env.t, h)} · {h.worded('court', language)}"
                        f" · {h.case_id}",
                        64,
                    ),
                    f"{TYPED}#{h.id}",
                ),
            )
            for h in hearings
        )
        hint = env.t(CHOOSE_OR_TYPE_HEARING) if hearings else env.t(NO_HEARINGS)
        return Question(f"{env.t(WHICH_HEARING)}\n{hint}", rows)

    async def take(env: Env, _answers: Answers, text: str) -> str:
        number = _hearing_id(command, text.strip())
        async with env.database.reading() as session:
            hearing = await schedule.get_hearing(session, number)
            rule(hearing)
            await schedule.active_case(session, hearing.case_id)
        return str(number)

    return Step("hearing", ask, take)


def choice_step(
    command: str,
    name: str,
    question: str,
    choices: tuple[str, ...],
    problem: str,
) -> Step:
    """One of a few words (a field's name), each a button labelled in the staff's language."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        rows = tuple(
            tuple(Button(env.t(FIELDS[word]), TYPED + word) for word in choices[i : i + 3])
            for i in range(0, len(choices), 3)
        )
        return Question(env.t(question), rows)

    async def take(_env: Env, _answers: Answers, text: str) -> str:
        word = text.strip().lower()
        if word not in choices:
            raise UsageError(command, problem, word=text.strip()[:50])
        return word

    return Step(name, ask, take)


def month_of(env: Env, zone: str, shown: str | None) -> dt.date:
    """The first day of the calendar's month: the one asked for, else the current one."""
    today = env.now.astimezone(ZoneInfo(zone)).date()
    if shown is not None:
        try:
            first = dt.date.fromisoformat(f"{shown}-01")
        except ValueError:
            first = today.replace(day=1)
        latest = _add_months(today.replace(day=1), MONTHS_AHEAD)
        return min(max(first, today.replace(day=1)), latest)
    return today.replace(day=1)


def _add_months(first: dt.date, months: int) -> dt.date:
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def calendar_rows(t: Translator, first: dt.date, today: dt.date) -> tuple[tuple[Button, ...], ...]:
    """A month as buttons: its name between arrows, the weekdays, and its days; today and
    before are greyed out (a dot) and refused when pressed."""
    previous = _add_months(first, -1)
    following = _add_months(first, 1)
    back = (
        Button("«", f"{MONTH}{previous:%Y-%m}")
        if previous >= today.replace(day=1)
        else Button(" ", INERT)
    )
    ahead = (
        Button("»", f"{MONTH}{following:%Y-%m}")
        if following <= _add_months(today.replace(day=1), MONTHS_AHEAD)
        else Button(" ", INERT)
    )
    title = t.month(first)
    names = get_day_names("short", context="stand-alone", locale=t.language)
    rows: list[tuple[Button, ...]] = [
        (back, Button(title, INERT), ahead),
        tuple(Button(str(names[day]), INERT) for day in range(7)),
    ]
    for week in calendar.Calendar().monthdatescalendar(first.year, first.month):
        row = []
        for day in week:
            if day.month != first.month:
                row.append(Button(" ", INERT))
            elif day <= today:
                row.append(Button("·", PAST))
            else:
                row.append(Button(str(day.day), TYPED + day.isoformat()))
        rows.append(tuple(row))
    return tuple(rows)


def date_step(command: str, question: str, *, name: str = "date", check: Check = no_check) -> Step:
    """A date on a month's calendar, or typed; none in the past."""

    async def zone(env: Env, answers: Answers) -> str:
        hearing = await _hearing(env, answers["hearing"]) if answers.get("hearing") else None
        return _zone_of(env, answers, hearing)

    async def ask(env: Env, answers: Answers, shown: str | None) -> Question:
        where = await zone(env, answers)
        today = env.now.astimezone(ZoneInfo(where)).date()
        first = month_of(env, where, shown)
        text = f"{env.t(question)}\n" + env.t("Choose a day, or type it as YYYY-MM-DD.")
        return Question(text, calendar_rows(env.t, first, today))

    async def take(env: Env, answers: Answers, text: str) -> str:
        day = _date(command, text.strip())
        where = await zone(env, answers)
        today = env.now.astimezone(ZoneInfo(where)).date()
        if day < today:
            raise ScheduleError(
                "{when} is in the past in {zone}; give a date from {today} on.",
                when=day.isoformat(),
                zone=where,
                today=today.isoformat(),
            )
        return day.isoformat()

    return Step(name, ask, take, check=check)


def time_step(
    command: str, question: str, *, name: str = "time", tba: bool = True, check: Check = no_check
) -> Step:
    """An hour: a button for the usual ones (and Not announced), or typed as HH:MM."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        rows = [tuple(Button(hour, TYPED + hour) for hour in row) for row in HOURS]
        if tba:
            rows.append((Button(env.t(NOT_ANNOUNCED), TYPED + "tba"),))
        hint = (
            env.t("Choose an hour, type it as HH:MM, or choose Not announced.")
            if tba
            else env.t("Choose an hour, or type it as HH:MM.")
        )
        return Question(f"{env.t(question)}\n{hint}", tuple(rows))

    async def take(_env: Env, _answers: Answers, text: str) -> str:
        at = _time(command, text.strip())
        if at is None:
            if not tba:
                raise UsageError(
                    command,
                    "Give the hour as HH:MM; to make it not announced again, use /postpone.",
                )
            return "tba"
        return at.strftime("%H:%M")

    return Step(name, ask, take, check=check)


def place_step(
    command: str,
    name: str,
    question: str,
    *,
    what: str,
    limit: int,
    optional: bool = False,
    clearable: bool = False,
    applies: Callable[[Answers], bool] = always,
) -> Step:
    """A court, city or address: a button for each the case has used (labelled in the staff
    member's language, and keeping every version), or typed, once or in blocks per language."""

    async def ask(env: Env, answers: Answers, _month: str | None) -> Question:
        case_id = await _case_of(env, answers)
        async with env.database.reading() as session:
            hearings = await schedule.hearings_of(session, case_id)
        used: dict[str, str] = {}  # as typed again (blocks) → its label
        for hearing in reversed(hearings):  # the latest first
            given = wording.stored(hearing.translations).get(what)
            value = wording.typed(getattr(hearing, what), given)
            if value and value not in used:
                used[value] = hearing.worded(what, env.t.language)
        offered = list(used)[:PLACE_BUTTONS]
        rows = [
            (Button(_cut(used[value], 60), f"{OFFERED}{i}"),) for i, value in enumerate(offered)
        ]
        if clearable:
            rows.append((Button(env.t(NO_ADDRESS), TYPED + "-"),))
        return Question(env.t(question), tuple(rows), offered=tuple(offered))

    async def take(_env: Env, _answers: Answers, text: str) -> str | None:
        if clearable and text.strip().lower() in ("-", "none"):
            return None
        # One line a version, as the one-line form reads a place: checked before spaces are
        # tidied, so that a line break or another invisible character is refused, not hidden.
        return _worded(command, what, text, limit, required=not optional) or None

    return Step(name, ask, take, optional=optional, word=False, applies=applies)


def person_step(command: str, question: str) -> Step:
    """A person: Telegram's picker, or their numeric user id typed."""

    async def ask(env: Env, _answers: Answers, _month: str | None) -> Question:
        text = env.t(question)
        if command == "revoke":
            async with env.database.reading() as session:
                members = await staff.staff_members(session, env.config.admins)
            moderators = [str(user_id) for user_id, role in members if role == Role.MODERATOR]
            if moderators:
                listed = ", ".join(f"<code>{user_id}</code>" for user_id in moderators)
                text += "\n" + env.t("Moderators now: {ids}", ids=listed)
        return Question(text, pick_person=True)

    async def take(_env: Env, _answers: Answers, text: str) -> str:
        return str(parse_user_id(command, text.strip()))

    return Step("user", ask, take)


def by_field(name: str, steps: dict[str, Step]) -> Step:
    """One step whose question and reading depend on the field answered before it."""

    def chosen(answers: Answers) -> Step:
        return steps[answers.get("field") or ""]

    async def ask(env: Env, answers: Answers, shown: str | None) -> Question:
        return await chosen(answers).ask(env, answers, shown)

    async def take(env: Env, answers: Answers, text: str) -> str | None:
        return await chosen(answers).take(env, answers, text)

    async def check(env: Env, answers: Answers) -> None:
        await chosen(answers).check(env, answers)

    return Step(name, ask, take, check=check, word=False)


# --- checks against the schedule, with the answers so far ---------------------------------


def _day(answers: Answers, name: str = "date") -> dt.date:
    value = answers[name]
    assert value is not None
    return dt.date.fromisoformat(value)


def _at(answers: Answers, name: str = "time") -> dt.time | None:
    value = answers[name]
    return None if value in (None, "tba") else dt.time.fromisoformat(str(value))


async def check_postpone(env: Env, answers: Answers) -> None:
    if "time" not in answers:
        return
    async with env.database.reading() as session:
        await editing.plan_postpone(
            session,
            hearing_id=int(answers["hearing"] or 0),
            day=_day(answers),
            at=_at(answers),
            now=env.now,
        )


async def check_slot(env: Env, answers: Answers) -> None:
    if "time" not in answers:
        return
    async with env.database.reading() as session:
        await editing.check_slot(
            session,
            case_id=str(answers["case"]),
            day=_day(answers),
            at=_at(answers),
            zone=answers.get("zone") or env.config.timezone,
            now=env.now,
        )


async def check_correction(env: Env, answers: Answers) -> None:
    field_name = answers.get("field")
    value = answers.get("value")
    if field_name not in editing.WHEN_FIELDS or value is None:
        return
    async with env.database.reading() as session:
        await editing.plan_correction(
            session,
            hearing_id=int(answers["hearing"] or 0),
            field=field_name,
            value=value,
            now=env.now,
        )


async def _zone_step_take(_env: Env, _answers: Answers, text: str) -> str:
    return _zone("edithearing", text.strip())


def zone_step() -> Step:
    """A time zone for a hearing: its own and the default as buttons, or typed."""

    async def ask(env: Env, answers: Answers, _month: str | None) -> Question:
        hearing = await _hearing(env, answers.get("hearing"))
        zones = list(dict.fromkeys([hearing.timezone, env.config.timezone]))
        rows = (tuple(Button(zone, TYPED + zone) for zone in zones),)
        return Question(
            env.t("Which time zone? Type its name, for example Asia/Almaty, or choose."), rows
        )

    return Step("value", ask, _zone_step_take)
