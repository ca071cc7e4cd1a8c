"""What the bot says to supporters, in their language. Everything dynamic is escaped for
Telegram's HTML parse mode; every word goes through a Translator (bot/i18n.py)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from telegram.constants import MessageLimit

from bot.i18n import LANGUAGES, N_, NC_, Translator, translator
from bot.parsing import UsageError, parse_versions
from jobs.reminder_plan import parse_duration
from storage.models import Case, CaseStatus, Hearing, HearingStatus
from storage.schedule import CaseSummary, is_upcoming, local_start

# Telegram's limit on a message's text, counted as visible_length counts.
MAX_LENGTH = int(MessageLimit.MAX_TEXT_LENGTH)
# /case shows the latest hearings of a long case; its reply goes out in as many messages as it
# needs (case_details), but a case that ran for years should not fill the screen.
MAX_HEARINGS_SHOWN = 25

COMMANDS: tuple[tuple[str, str], ...] = (
    ("cases", N_("Cases we follow and their next hearings")),
    ("case", N_("One case with all its hearings: /case <id>")),
    ("subscribe", N_("Get reminders and news of a case: /subscribe <id>")),
    ("unsubscribe", N_("Stop them: /unsubscribe <id> or /unsubscribe all")),
    ("mysubs", N_("The cases this chat follows")),
    ("calendar", N_("A case's hearings for your phone's calendar: /calendar <id>")),
    ("remind", N_("When this chat is reminded before a hearing")),
    ("language", N_("The language I write in")),
    ("forget", N_("Erase everything this bot keeps about this chat")),
    ("help", N_("What this bot does")),
)

START = N_(
    "<b>Hearing Watch</b> tells you when and where the court hearings of refugees and"
    " activists on trial take place, reminds you before each one, and passes on what"
    " happened, so that supporters can be there.\n\n"
    "/cases shows the cases and their next hearings; press Subscribe under one to follow it."
    " In a group, the group's administrators subscribe the whole group.\n"
    "/help lists every command; /forget erases everything the bot keeps about this chat."
)
HELP_FOOTER = N_(
    "A subscription belongs to the chat: in a group, only its administrators change it."
    "\nThis bot keeps only this chat's numeric id, its language, its reminder choice and the"
    " cases it follows, and for a few days which of its messages reached this chat."
    " /forget erases all of it at once."
)
USAGE = {
    "case": N_("Which case? Send /case followed by its id, for example: /case tabarak"),
    "subscribe": N_(
        "Which case? Send /subscribe followed by its id, for example: /subscribe tabarak"
    ),
    "unsubscribe": N_(
        "Which case? Send /unsubscribe followed by its id, for example: /unsubscribe tabarak"
        " — or /unsubscribe all"
    ),
}
NO_CASES = N_("No case is being followed at the moment.")
NO_SUBSCRIPTIONS = N_("This chat follows no case yet. /cases lists them.")
ONLY_GROUP_ADMINS = N_("Only this group's administrators can change what the group follows.")
APOLOGY = N_("Sorry, something went wrong on our side. Please try again in a minute.")
DATABASE_AWAY = N_(
    "Sorry, the bot cannot reach its records at the moment. Nothing you asked was changed;"
    " please try again in a few minutes."
)
UNKNOWN_COMMAND = N_("I don't know that command. /help lists what I can do.")
SAVED = N_("Saved.")
CHOICE_OUT_OF_DATE = N_("That choice is out of date; send /remind again.")
LANGUAGE_CHOICE = N_("Choose the language I write to this chat in:")
LANGUAGE_SET = N_("From now on I write to this chat in English.")
LANGUAGE_USAGE = N_("Send /language followed by kk, ru or en, or choose:")
FORGET_QUESTION = N_(
    "Erase everything this bot keeps about this chat? That is the cases it follows, its"
    " reminder and language choices, and the record of the messages sent to it."
    " It cannot be undone."
)
FORGET_BUTTON = N_("Forget this chat")
KEEP_BUTTON = NC_("forget: the button that keeps everything", "Keep")
FORGET_KEPT = N_("Nothing was erased.")
ONLY_GROUP_ADMINS_FORGET = N_("Only this group's administrators can make the bot forget it.")
BUTTON_SUBSCRIBE = N_("Subscribe · {case_id}")
BUTTON_UNSUBSCRIBE = N_("Unsubscribe · {case_id}")
BUTTON_ALL = NC_("reminders: every offset", "All")
BUTTON_BOTH = NC_("reminders: both offsets", "Both")
BUTTON_NONE = NC_("reminders: no reminder", "None")


def escape(text: str) -> str:
    """Text as Telegram's HTML parse mode shows it literally."""
    return html.escape(text, quote=False)


def visible_length(text: str) -> int:
    """How long Telegram counts a text after parsing its HTML (UTF-16 code units)."""
    plain = []
    inside_tag = False
    for char in text:
        if char == "<":
            inside_tag = True
        elif char == ">":
            inside_tag = False
        elif not inside_tag:
            plain.append(char)
    visible = "".join(plain).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return len(visible.encode("utf-16-le")) // 2


_TOKEN = re.compile(r"<[^>]*>|&[#\w]+;|.", re.DOTALL)
_TAG = re.compile(r"<(/?)(\w+)[^>]*>")


def _units(token: str) -> int:
    """How many of Telegram's characters (UTF-16 code units) a token shows as."""
    if token.startswith("<") and token.endswith(">"):
        return 0
    if token.startswith("&") and token.endswith(";"):
        return 1
    return len(token.encode("utf-16-le")) // 2


def pack(blocks: Iterable[str], *, joiner: str = "\n\n", limit: int = MAX_LENGTH) -> list[str]:
    """Blocks of HTML (paragraphs, hearings) as few messages as Telegram's limit allows: split
    between blocks, never inside one that fits; one that does not fit alone is cut (see cut)."""
    messages: list[str] = []
    for block in blocks:
        for piece in cut(block, limit):
            if messages and visible_length(messages[-1] + joiner + piece) <= limit:
                messages[-1] += joiner + piece
            else:
                messages.append(piece)
    return messages


def split_message(text: str, limit: int = MAX_LENGTH) -> list[str]:
    """A long HTML text as messages of at most ``limit``, split between paragraphs."""
    return pack(text.split("\n\n"), joiner="\n\n", limit=limit)


def cut(block: str, limit: int = MAX_LENGTH) -> list[str]:
    """An HTML block as pieces of at most ``limit`` visible characters: cut at a line break or a
    space where it can, never inside a tag or an entity such as ``&amp;``; a tag open at a cut
    is closed there and opened again in the next piece."""
    pieces: list[str] = []
    open_tags: list[tuple[str, str]] = []  # (name, the opening tag as written)
    piece: list[str] = []
    units = 0
    # Where the piece could end: (index in piece, tags open there), last seen
    best: tuple[int, list[tuple[str, str]]] | None = None
    for token in _TOKEN.findall(block):
        size = _units(token)
        if units + size > limit and piece:
            end, tags = best if best is not None else (len(piece), list(open_tags))
            head, rest = piece[:end], piece[end:]
            pieces.append("".join(head) + "".join(f"</{name}>" for name, _ in reversed(tags)))
            piece = [opening for _, opening in tags] + rest
            units = sum(_units(part) for part in piece)
            best = None
        piece.append(token)
        units += size
        tag = _TAG.fullmatch(token)
        if tag is not None:
            closing, name = tag.group(1), tag.group(2)
            if closing and open_tags and open_tags[-1][0] == name:
                open_tags.pop()
            elif not closing:
                open_tags.append((name, token))
        elif token in ("\n", " "):
            best = (len(piece), list(open_tags))
    pieces.append("".join(piece))
    return pieces


def usage(t: Translator, command: str) -> str:
    """How to use a supporter's command that needs an argument."""
    return t(USAGE[command])


def help_text(t: Translator) -> str:
    lines = [f"/{name} — {escape(t(about))}" for name, about in COMMANDS]
    return "\n".join(lines) + "\n\n" + t(HELP_FOOTER)


def format_when(t: Translator, hearing: Hearing) -> str:
    """'21 January 2020, 10:00 (Almaty time, UTC+6)' or '…, time not announced': the zone
    named as the reader would, with its offset on the hearing's own date."""
    start = local_start(hearing)
    if hearing.time_tba:
        return t("{date}, time not announced", date=t.date(start))
    return f"{t.date(start)}, {start:%H:%M} ({t.zone(hearing.timezone, start)})"


def format_place(t: Translator, hearing: Hearing) -> str:
    """'Zaisan district court, Zaisan' with the address when known, in the reader's language
    where the schedule has it (else as first given)."""
    parts = [hearing.worded(field, t.language) for field in ("court", "city", "address")]
    return escape(", ".join(part for part in parts if part))


def title_of(t: Translator, case: Case) -> str:
    """A case's title as the reader's language has it, escaped for HTML."""
    return escape(case.worded("title", t.language))


STATUS = {
    HearingStatus.SCHEDULED: NC_("a hearing's status", "Scheduled"),
    HearingStatus.POSTPONED: NC_("a hearing's status", "Postponed"),
    HearingStatus.HELD: NC_("a hearing's status", "Held"),
    HearingStatus.CANCELLED: NC_("a hearing's status", "Cancelled"),
}


def _status_line(t: Translator, hearing: Hearing, by_id: dict[int, Hearing], now: datetime) -> str:
    if hearing.status == HearingStatus.POSTPONED:
        target = by_id.get(hearing.postponed_to_id) if hearing.postponed_to_id else None
        if target is not None:
            return t("Postponed to {date}", date=t.date(local_start(target)))
    if hearing.status == HearingStatus.SCHEDULED and not is_upcoming(hearing, now):
        return t("Date passed; no outcome recorded yet")
    return t.marked(STATUS[HearingStatus(hearing.status)])


def case_summary(t: Translator, summary: CaseSummary, now: datetime) -> str:
    """A case as one entry of /cases."""
    lines = [f"<b>{title_of(t, summary.case)}</b> · <code>{summary.case.id}</code>"]
    hearing = summary.hearing
    if hearing is None:
        lines.append(t("No hearing announced yet."))
    else:
        if summary.upcoming:
            lines.append(t("Next hearing: {when}", when=format_when(t, hearing)))
        else:
            lines.append(t("Previous hearing: {when}", when=format_when(t, hearing)))
        lines.append(format_place(t, hearing))
        if hearing.status != HearingStatus.SCHEDULED:
            lines.append(_status_line(t, hearing, {}, now))
    return "\n".join(lines)


def case_list(t: Translator, summaries: Iterable[CaseSummary], now: datetime) -> str:
    """One message of /cases."""
    return "\n\n".join(case_summary(t, summary, now) for summary in summaries)


def case_details(t: Translator, case: Case, hearings: list[Hearing], now: datetime) -> list[str]:
    """/case: the case, its description and every hearing, postponements included, in as many
    messages as Telegram's limit needs (split between hearings, never inside one)."""
    lines = [f"<b>{title_of(t, case)}</b> · <code>{case.id}</code>"]
    if case.status == CaseStatus.CLOSED:
        closed = t("This case is closed: the bot no longer follows it.")
        lines.append(f"<i>{closed}</i>")
    description = case.worded("description", t.language)
    if description:
        lines += ["", escape(description)]
    heading = t("Hearings")
    lines += ["", f"<b>{heading}</b>"]
    if not hearings:
        lines.append(t("None announced yet."))
    by_id = {h.id: h for h in hearings if h.id is not None}
    hidden = max(0, len(hearings) - MAX_HEARINGS_SHOWN)
    if hidden:
        shown = t.plural(
            "{count} earlier hearing not shown.", "{count} earlier hearings not shown.", hidden
        )
        lines.append(f"<i>{shown}</i>")
    blocks = ["\n".join(lines)] + [_hearing_block(t, h, by_id, now) for h in hearings[hidden:]]
    return pack(blocks, joiner="\n")


def _hearing_block(
    t: Translator, hearing: Hearing, by_id: dict[int, Hearing], now: datetime
) -> str:
    """One hearing in /case; a very long outcome is cut so that the block fits one message."""
    lines = [
        f"• {format_when(t, hearing)}",
        f"  {format_place(t, hearing)}",
        f"  {_status_line(t, hearing, by_id, now)}",
    ]
    if not hearing.outcome:
        return "\n".join(lines)
    outcome = version_for(hearing.outcome, t.language)
    while True:
        block = "\n".join([*lines, "  " + t("Outcome: {outcome}", outcome=escape(outcome))])
        excess = visible_length(block) - MAX_LENGTH
        if excess <= 0:
            return block
        # The whole outcome went to the subscribers when it was sent; here its start will do.
        outcome = outcome[: max(0, len(outcome) - excess - 1)].rstrip() + "…"


def version_for(text: str, language: str) -> str:
    """A moderator's text as one language reads it: its version, else the first one given."""
    try:
        versions = parse_versions("outcome", text)
    except UsageError:  # stored texts were checked when written; show one as it is
        return text
    return versions.get(language) or next(iter(versions.values()), text)


def unknown_case(t: Translator, wanted: str, suggestions: list[str]) -> str:
    """The answer to an id that names no case."""
    text = t("There is no case “{wanted}”.", wanted=escape(wanted[:60]))
    if suggestions:
        ids = ", ".join(f"<code>{case_id}</code>" for case_id in suggestions)
        return text + " " + t("Did you mean {ids}? /cases lists them all.", ids=ids)
    return text + " " + t("/cases lists them all.")


def subscribed(t: Translator, case: Case) -> str:
    return t(
        "This chat now follows <b>{title}</b>. You will get a reminder before each hearing and"
        " the news after it. /unsubscribe {case_id} stops them.",
        title=title_of(t, case),
        case_id=case.id,
    )


def already_subscribed(t: Translator, case: Case) -> str:
    return t("Good news: this chat already follows <b>{title}</b>.", title=title_of(t, case))


def case_closed(t: Translator, case: Case) -> str:
    return t("<b>{title}</b> is closed: the bot no longer follows it.", title=title_of(t, case))


def unsubscribed(t: Translator, case_id: str) -> str:
    return t("This chat no longer follows <code>{case_id}</code>.", case_id=case_id)


def not_subscribed(t: Translator, case_id: str) -> str:
    return t(
        "This chat was not following <code>{case_id}</code>. /mysubs shows what it follows.",
        case_id=case_id,
    )


def unsubscribed_all(t: Translator, case_ids: list[str]) -> str:
    if not case_ids:
        return t("This chat was not following any case.")
    ids = ", ".join(f"<code>{case_id}</code>" for case_id in case_ids)
    return t("This chat no longer follows any case (it followed {ids}).", ids=ids)


def my_subscriptions(t: Translator, summaries: list[CaseSummary], now: datetime) -> str:
    heading = t("This chat follows")
    return f"<b>{heading}</b>\n\n" + case_list(t, summaries, now)


def button_answer(t: Translator, outcome: str, case_id: str) -> str:
    """The short answer to a Subscribe or Unsubscribe press."""
    answers = {
        "subscribed": N_("Subscribed to {case_id}."),
        "already": N_("Already subscribed to {case_id}."),
        "gone": N_("{case_id} is no longer in the schedule."),
        "closed": N_("{case_id} is closed."),
        "unsubscribed": N_("Unsubscribed from {case_id}."),
        "not": N_("Not subscribed to {case_id}."),
    }
    return t(answers[outcome], case_id=case_id)


def duration(t: Translator, span: timedelta) -> str:
    """'2 hours', '1 day and 3 hours', '45 minutes' (at most two units, rounded down)."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(t.plural("{count} day", "{count} days", days))
    if hours:
        parts.append(t.plural("{count} hour", "{count} hours", hours))
    if minutes:
        parts.append(t.plural("{count} minute", "{count} minutes", minutes))
    if not parts:
        return t.plural("{count} minute", "{count} minutes", 0)
    if len(parts) == 1:
        return parts[0]
    return t("{first} and {second}", first=parts[0], second=parts[1])


def reminder(t: Translator, case: Case, hearing: Hearing, now: datetime) -> str:
    """The reminder before a hearing; how long until it starts is computed as it is sent."""
    start = local_start(hearing)
    if hearing.time_tba:
        today = now.astimezone(start.tzinfo).date()
        if start.date() == today:
            when = t("Today; the hour is not announced yet.")
        elif start.date() == today + timedelta(days=1):
            when = t("Tomorrow; the hour is not announced yet.")
        else:
            # The line above already gives the date.
            when = t("The hour is not announced yet.")
    elif hearing.starts_at - now < timedelta(minutes=1):
        when = t("Starts now.")
    else:
        when = t("Starts in {duration}.", duration=duration(t, hearing.starts_at - now))
    return (
        "⏰ " + t("<b>Reminder</b>: {title}", title=title_of(t, case)) + "\n"
        + t("Hearing: {when}", when=format_when(t, hearing)) + "\n"
        f"{format_place(t, hearing)}\n"
        f"{when}\n/case {case.id}"
    )  # fmt: skip


def reminder_choice(t: Translator, choice: list[str] | None, offsets: tuple[str, ...]) -> str:
    """What /remind says about this chat's reminders."""
    chosen = list(offsets) if choice is None else [o for o in offsets if o in choice]
    if not chosen:
        now = t("This chat gets no reminders.")
    else:
        listed = reminder_times(t, chosen)
        if choice is None:
            now = t("This chat gets reminders {times} each hearing (the default).", times=listed)
        else:
            now = t("This chat gets reminders {times} each hearing.", times=listed)
    return (
        now
        + " "
        + t(
            "A hearing whose hour is not announced is reminded the evening before and on its"
            " morning. Choose:"
        )
    )


def reminder_times(t: Translator, offsets: Iterable[str]) -> str:
    """'1 day before and 2 hours before'."""
    before = [t("{duration} before", duration=offset_label(t, o)) for o in offsets]
    if len(before) == 1:
        return before[0]
    return t("{first} and {second}", first=", ".join(before[:-1]), second=before[-1])


def offset_label(t: Translator, offset: str) -> str:
    """'1d' → '1 day', '2h' → '2 hours', '30m' → '30 minutes'."""
    return duration(t, parse_duration(offset))


def forgotten(t: Translator, subscriptions: int) -> str:
    """The answer to a confirmed /forget."""
    followed = t.plural("{count} subscription", "{count} subscriptions", subscriptions)
    return t(
        "Done: this bot keeps nothing about this chat any more. Erased: {subscriptions}, the"
        " reminder and language choices, and the record of the messages sent here."
        " If this chat writes to the bot again, it starts afresh.",
        subscriptions=followed,
    )


class ReminderWording:
    """The reminder in each language, for the reminder jobs (``jobs.reminders``)."""

    languages: tuple[str, ...] = LANGUAGES

    def __init__(self, default_language: str) -> None:
        self.default_language = default_language

    def __call__(self, language: str, case: Case, hearing: Hearing, now: datetime) -> str:
        return reminder(translator(language), case, hearing, now)
