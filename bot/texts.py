"""What the bot says. Everything dynamic is escaped for Telegram's HTML parse mode."""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime, timedelta

from jobs.reminders import describe_duration, parse_duration, until
from storage.models import Case, CaseStatus, Hearing, HearingStatus
from storage.schedule import CaseSummary, is_upcoming, local_start

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# Keeps /case under Telegram's 4,096 characters however long a case runs.
MAX_HEARINGS_SHOWN = 25

COMMANDS: tuple[tuple[str, str], ...] = (
    ("cases", "Cases we follow and their next hearings"),
    ("case", "One case with all its hearings: /case <id>"),
    ("subscribe", "Get reminders and news of a case: /subscribe <id>"),
    ("unsubscribe", "Stop them: /unsubscribe <id> or /unsubscribe all"),
    ("mysubs", "The cases this chat follows"),
    ("calendar", "A case's hearings for your phone's calendar: /calendar <id>"),
    ("remind", "When this chat is reminded before a hearing"),
    ("help", "What this bot does"),
)

START = (
    "<b>Hearing Watch</b> tells you when and where the court hearings of refugees and"
    " activists on trial take place, reminds you before each one, and passes on what"
    " happened, so that supporters can be there.\n\n"
    "/cases shows the cases and their next hearings; press Subscribe under one to follow it."
    " In a group, the group's administrators subscribe the whole group.\n"
    "/help lists every command."
)
HELP = "\n".join(f"/{name} — {html.escape(about)}" for name, about in COMMANDS) + (
    "\n\nA subscription belongs to the chat: in a group, only its administrators change it."
    "\nThis bot keeps only this chat's numeric id and the cases it follows."
)
USAGE = {
    "case": "Which case? Send /case followed by its id, for example: /case tabarak",
    "subscribe": "Which case? Send /subscribe followed by its id, for example: /subscribe tabarak",
    "unsubscribe": (
        "Which case? Send /unsubscribe followed by its id, for example: /unsubscribe tabarak"
        " — or /unsubscribe all"
    ),
}
NO_CASES = "No case is being followed at the moment."
NO_SUBSCRIPTIONS = "This chat follows no case yet. /cases lists them."
ONLY_GROUP_ADMINS = "Only this group's administrators can change what the group follows."
APOLOGY = "Sorry, something went wrong on our side. Please try again in a minute."
DATABASE_AWAY = (
    "Sorry, the bot cannot reach its records at the moment. Nothing you asked was changed;"
    " please try again in a few minutes."
)
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."


def escape(text: str) -> str:
    """Text as Telegram's HTML parse mode shows it literally."""
    return html.escape(text, quote=False)


def format_date(moment: datetime) -> str:
    """'21 January 2020'."""
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def format_offset(offset: timedelta | None) -> str:
    """'UTC+6', 'UTC+5:30', 'UTC-3', 'UTC'."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def format_when(hearing: Hearing) -> str:
    """'21 January 2020, 10:00 (Asia/Almaty, UTC+6)' or '…, time not announced'."""
    start = local_start(hearing)
    if hearing.time_tba:
        return f"{format_date(start)}, time not announced"
    zone = f"{hearing.timezone}, {format_offset(start.utcoffset())}"
    return f"{format_date(start)}, {start:%H:%M} ({zone})"


def format_place(hearing: Hearing) -> str:
    """'Zaisan district court, Zaisan' with the address when known."""
    parts = [hearing.court, hearing.city] + ([hearing.address] if hearing.address else [])
    return escape(", ".join(parts))


def _status_line(hearing: Hearing, by_id: dict[int, Hearing], now: datetime) -> str:
    if hearing.status == HearingStatus.POSTPONED:
        target = by_id.get(hearing.postponed_to_id) if hearing.postponed_to_id else None
        return f"Postponed to {format_date(local_start(target))}" if target else "Postponed"
    if hearing.status == HearingStatus.SCHEDULED and not is_upcoming(hearing, now):
        return "Date passed; no outcome recorded yet"
    return str(hearing.status).capitalize()


def case_summary(summary: CaseSummary, now: datetime) -> str:
    """A case as one entry of /cases."""
    lines = [f"<b>{escape(summary.case.title)}</b> · <code>{summary.case.id}</code>"]
    hearing = summary.hearing
    if hearing is None:
        lines.append("No hearing announced yet.")
    else:
        label = "Next hearing" if summary.upcoming else "Last hearing"
        lines.append(f"{label}: {format_when(hearing)}")
        lines.append(format_place(hearing))
        if hearing.status != HearingStatus.SCHEDULED:
            lines.append(_status_line(hearing, {}, now))
    return "\n".join(lines)


def case_list(summaries: Iterable[CaseSummary], now: datetime) -> str:
    """One message of /cases."""
    return "\n\n".join(case_summary(summary, now) for summary in summaries)


def case_details(case: Case, hearings: list[Hearing], now: datetime) -> str:
    """/case: the case, its description and every hearing, postponements included."""
    lines = [f"<b>{escape(case.title)}</b> · <code>{case.id}</code>"]
    if case.status == CaseStatus.CLOSED:
        lines.append("<i>This case is closed.</i>")
    if case.description:
        lines += ["", escape(case.description)]
    lines += ["", "<b>Hearings</b>"]
    if not hearings:
        lines.append("None announced yet.")
    by_id = {h.id: h for h in hearings if h.id is not None}
    hidden = max(0, len(hearings) - MAX_HEARINGS_SHOWN)
    if hidden:
        lines.append(f"<i>{hidden} earlier hearings not shown.</i>")
    for hearing in hearings[hidden:]:
        lines.append(f"• {format_when(hearing)}")
        lines.append(f"  {format_place(hearing)}")
        lines.append(f"  {_status_line(hearing, by_id, now)}")
        if hearing.outcome:
            lines.append(f"  Outcome: {escape(hearing.outcome)}")
    return "\n".join(lines)


def unknown_case(wanted: str, suggestions: list[str]) -> str:
    """The answer to an id that names no case."""
    text = f"There is no case “{escape(wanted[:60])}”."
    if suggestions:
        ids = ", ".join(f"<code>{case_id}</code>" for case_id in suggestions)
        return f"{text} Did you mean {ids}? /cases lists them all."
    return f"{text} /cases lists them all."


def subscribed(case: Case) -> str:
    return (
        f"This chat now follows <b>{escape(case.title)}</b>. You will get a reminder before"
        f" each hearing and the news after it. /unsubscribe {case.id} stops them."
    )


def already_subscribed(case: Case) -> str:
    return f"Good news: this chat already follows <b>{escape(case.title)}</b>."


def case_closed(case: Case) -> str:
    return f"<b>{escape(case.title)}</b> is closed; there is nothing more to follow."


def unsubscribed(case_id: str) -> str:
    return f"This chat no longer follows <code>{case_id}</code>."


def not_subscribed(case_id: str) -> str:
    return f"This chat was not following <code>{case_id}</code>. /mysubs shows what it follows."


def unsubscribed_all(case_ids: list[str]) -> str:
    if not case_ids:
        return "This chat was not following any case."
    ids = ", ".join(f"<code>{case_id}</code>" for case_id in case_ids)
    return f"This chat no longer follows any case (it followed {ids})."


def my_subscriptions(summaries: list[CaseSummary], now: datetime) -> str:
    return "<b>This chat follows</b>\n\n" + case_list(summaries, now)


def reminder(case: Case, hearing: Hearing, now: datetime) -> str:
    """The reminder before a hearing; how long until it starts is computed as it is sent."""
    start = local_start(hearing)
    if hearing.time_tba:
        today = now.astimezone(start.tzinfo).date()
        day = "Today" if start.date() == today else "Tomorrow"
        if start.date() > today + timedelta(days=1):
            day = f"On {format_date(start)}"
        when = f"{day}; the hour is not announced yet."
    else:
        when = f"Starts {until(hearing.starts_at, now)}."
    return (
        f"⏰ <b>Reminder</b>: {escape(case.title)}\n"
        f"Hearing: {format_when(hearing)}\n"
        f"{format_place(hearing)}\n"
        f"{when}\n/case {case.id}"
    )


def reminder_choice(choice: list[str] | None, offsets: tuple[str, ...]) -> str:
    """What /remind says about this chat's reminders."""
    chosen = list(offsets) if choice is None else [o for o in offsets if o in choice]
    if not chosen:
        now = "no reminders"
    else:
        now = "reminders " + " and ".join(f"{offset_label(o)} before" for o in chosen)
        now += " each hearing"
    default = " (the default)" if choice is None else ""
    return (
        f"This chat gets {now}{default}. A hearing whose hour is not announced is reminded the"
        " evening before and on its morning. Choose:"
    )


def offset_label(offset: str) -> str:
    """'1d' → '1 day', '2h' → '2 hours', '30m' → '30 minutes'."""
    return describe_duration(parse_duration(offset))
