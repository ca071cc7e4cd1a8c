"""What the bot says to staff, and the notices staff actions send to subscribers; in the
reader's language (bot/i18n.py)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from bot.i18n import LANGUAGES, N_, NC_, Translator, translator
from bot.parsing import EXAMPLES, UsageError
from bot.texts import escape, format_place, format_when, title_of
from storage.errors import UserError
from storage.models import AuditEntry, Case, Hearing, Role
from storage.schedule import local_start

NOT_STAFF = N_("This command is for the schedule's staff.")
ADMINS_ONLY = N_(
    "Only admins can do that; moderators post /outcome and /update, /postpone hearings and see"
    " /hearings."
)
ANONYMOUS = N_(
    "I can't tell who sent this: it came on behalf of a chat (an anonymous group admin or a"
    " channel). Staff commands must come from your own account, in a private chat with me."
)
# The answer to a staff command in a group, whoever sends it.
PRIVATE_ONLY = N_(
    "Staff commands work only in a private chat with me, so that no schedule detail reaches a"
    " group by accident. Open a chat with me and send it there."
)
# A forwarded staff command (or one sent through an inline bot): the same line for everyone.
RELAYED = N_(
    "Staff commands count only when you type them yourself: not forwarded, and not sent"
    " through another bot."
)
ALREADY_DONE = N_("This was done already; nothing changed.")
KEPT = N_("Nothing changed.")
CLOSE_THE_CASE = N_("Close the case")
CANCEL_THE_HEARING = N_("Cancel the hearing")
KEEP_IT = N_("Keep it")
POSTPONE_IT = N_("Postpone it")
CORRECT_IT = N_("Correct it")
MAKE_MODERATOR = N_("Make a moderator")
NOT_YOURS_TO_CONFIRM = N_(
    "Only the staff member who asked for this, or an admin, can confirm or cancel it."
)
CONFIRMATION_EXPIRED = N_(
    "This is more than a day old, so nothing was changed or sent. Send the command again."
)
# Guided commands (bot.guided, bot.handlers.guided).
CHOOSE_PERSON = N_("Choose a person")
SKIP = NC_("guided question: leave it unanswered", "Skip")
CANCEL_FLOW = NC_("guided command: stop it", "Cancel")
FLOW_CANCELLED = N_("Stopped. Nothing changed.")
NOTHING_TO_CANCEL = N_("There is nothing to cancel.")
FLOW_EXPIRED = N_(
    "That question expired: nothing was answered for 15 minutes, so nothing changed. Send"
    " /{command} to start again."
)
FLOW_REPLACED = N_("The /{command} you had begun is dropped; nothing of it was saved.")
QUESTION_CLOSED = N_("This question is closed.")
ALREADY_ANSWERED = N_("This question was answered already.")
PAST_DAY = N_("That day is past; choose a later one.")
FIELDS = {
    "title": N_("title"),
    "description": N_("description"),
    "court": N_("court"),
    "city": N_("city"),
    "address": N_("address"),
    "zone": N_("time zone"),
    "time": N_("time"),
    "date": N_("date"),
    "reason": N_("reason"),
    "text": N_("text"),
}
# Words that errors put into their messages: the hearing's state, or the field at fault.
WORD_VALUES = ("what", "field", "status")
WORDS = FIELDS | {
    "scheduled": N_("scheduled"),
    "postponed": N_("postponed"),
    "held": N_("held"),
    "cancelled": N_("cancelled"),
}
ROLES = {Role.MODERATOR: N_("moderator"), Role.ADMIN: N_("admin")}

STAFF_COMMANDS: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.MODERATOR: (
        ("outcome", N_("Post a hearing's outcome: /outcome #N <text>")),
        ("update", N_("Post news of a case: /update <case-id> <text>")),
        ("broadcasts", N_("Recent broadcasts and their figures")),
        ("postpone", N_("Postpone a hearing: /postpone #N YYYY-MM-DD HH:MM|tba [reason]")),
        ("hearings", N_("Upcoming hearings with their ids")),
        ("staff", N_("Admins and moderators")),
        ("cancel", N_("Leave a command half-way, changing nothing")),
    ),
    Role.ADMIN: (
        ("addcase", N_("Add a case: /addcase <id> <title>")),
        ("editcase", N_("Edit a case: /editcase <id> title|description <value>")),
        ("closecase", N_("Close a case")),
        ("addhearing", N_("Add a hearing: /addhearing <case> <date> <time|tba> <court>; <city>")),
        (
            "edithearing",
            N_("Edit a hearing: /edithearing #N court|city|address|zone|time|date <value>"),
        ),
        ("cancelhearing", N_("Cancel a hearing: /cancelhearing #N [reason]")),
        ("grant", N_("Make a moderator: /grant <user-id>")),
        ("revoke", N_("Remove a moderator: /revoke <user-id>")),
        ("audit", N_("Latest staff actions: /audit [n]")),
    ),
}


def staff_commands(role: Role) -> tuple[tuple[str, str], ...]:
    """The staff commands a role may use (descriptions still to be translated)."""
    if role == Role.ADMIN:
        return STAFF_COMMANDS[Role.MODERATOR] + STAFF_COMMANDS[Role.ADMIN]
    return STAFF_COMMANDS[Role.MODERATOR]


def chats(t: Translator, count: int) -> str:
    """'1 subscribed chat', '3 subscribed chats'."""
    return t.plural("{count} subscribed chat", "{count} subscribed chats", count)


def problem(text: str) -> str:
    """A refusal staff can act on: marked so that it stands out on a phone."""
    return f"⚠️ {escape(text)}"


def explain(t: Translator, error: UserError, *, example: bool = True) -> str:
    """An error staff can act on, in their language (with an example for a usage mistake,
    unless ``example`` is False: a guided question says what it expects itself)."""
    # Only the words the code put in (a field's or a state's name); never what staff typed.
    values = {
        key: t(WORDS[value]) if key in WORD_VALUES and value in WORDS else value
        for key, value in error.values.items()
    }
    if isinstance(error, UsageError) and example:
        text = t(error.message, **values)
        return text + "\n" + t("For example: {example}", example=t(EXAMPLES[error.command]))
    return t(error.message, **values)


def hearing_block(t: Translator, hearing: Hearing) -> str:
    """A hearing as staff refer to it: its id, when and where."""
    return f"<b>#{hearing.id}</b> · {format_when(t, hearing)}\n{format_place(t, hearing)}"


def case_added(t: Translator, case: Case) -> str:
    return t(
        "Added the case <code>{case_id}</code>: <b>{title}</b>\n"
        "/case {case_id} shows it as supporters see it.",
        case_id=case.id,
        title=title_of(t, case),
    )


def case_edited(t: Translator, case: Case, field: str) -> str:
    return t(
        "Changed the {field} of <code>{case_id}</code>. /case {case_id} shows it as supporters"
        " see it.",
        field=t(FIELDS[field]),
        case_id=case.id,
    )


def hearing_added(t: Translator, case: Case, hearing: Hearing) -> str:
    head = t(
        "Added hearing #{number} to <b>{title}</b>:", number=hearing.id, title=title_of(t, case)
    )
    return f"{head}\n\n{hearing_block(t, hearing)}"


def hearing_edited(t: Translator, hearing: Hearing, field: str) -> str:
    head = t("Changed the {field} of hearing #{number}:", field=t(FIELDS[field]), number=hearing.id)
    return f"{head}\n\n{hearing_block(t, hearing)}"


def hearings_list(t: Translator, hearings: list[Hearing], titles: dict[str, str]) -> str:
    if not hearings:
        return t("No upcoming hearings.")
    blocks = [
        f"{hearing_block(t, h)}\n<code>{h.case_id}</code> · {escape(titles.get(h.case_id, ''))}"
        for h in hearings
    ]
    title = t("Upcoming hearings")
    return f"<b>{title}</b>\n\n" + "\n\n".join(blocks)


def staff_list(t: Translator, members: list[tuple[int, Role]]) -> str:
    title = t("Staff")
    lines = [f"<b>{title}</b>"] + [
        f"<code>{user_id}</code> · {t(ROLES[role])}" for user_id, role in members
    ]
    return "\n".join(lines)


def granted(t: Translator, user_id: int, *, new: bool) -> str:
    if not new:
        return t("<code>{user_id}</code> is a moderator already.", user_id=user_id)
    return t(
        "<code>{user_id}</code> is now a moderator: they can /postpone hearings and see /hearings.",
        user_id=user_id,
    )


def revoked(t: Translator, user_id: int, *, was: bool) -> str:
    if not was:
        return t("<code>{user_id}</code> was not a moderator.", user_id=user_id)
    return t("<code>{user_id}</code> is no longer a moderator.", user_id=user_id)


def _values(values: dict[str, object] | None) -> str:
    return escape(json.dumps(values, ensure_ascii=False, default=str)) if values else "–"


def audit_list(t: Translator, entries: list[AuditEntry]) -> str:
    if not entries:
        return t("The audit trail is empty.")
    lines = [t("<b>Latest staff actions</b>, newest first")]
    for entry in entries:
        if entry.actor_id is not None:
            who = t("user {user_id}", user_id=entry.actor_id)
        else:
            who = t("operator (command line)")
        lines.append(
            f"\n{entry.at:%Y-%m-%d %H:%M} UTC · {who} · <b>{entry.action}</b>"
            f" {escape(entry.subject)}\n"
            + t("before: {values}", values=_values(entry.before))
            + "\n"
            + t("after: {values}", values=_values(entry.after))
        )
    return "\n".join(lines)


def confirm_close(t: Translator, case: Case, subscribers: int) -> str:
    return t(
        "Close the case <b>{title}</b> (<code>{case_id}</code>)? It leaves /cases, keeps its"
        " history, and a notice goes to {chats}.",
        title=title_of(t, case),
        case_id=case.id,
        chats=chats(t, subscribers),
    )


def confirm_cancel(t: Translator, hearing: Hearing, subscribers: int) -> str:
    text = t("Cancel this hearing? A notice goes to {chats}.", chats=chats(t, subscribers))
    return f"{text}\n\n{hearing_block(t, hearing)}"


def confirm_postpone(t: Translator, hearing: Hearing, subscribers: int) -> str:
    text = t("Postpone this hearing? A notice goes to {chats}.", chats=chats(t, subscribers))
    return f"{text}\n\n{hearing_block(t, hearing)}"


def confirm_correction(t: Translator, hearing: Hearing, subscribers: int) -> str:
    text = t(
        "Correct when this hearing takes place? It is not postponed; a notice goes to {chats}.",
        chats=chats(t, subscribers),
    )
    return f"{text}\n\n{hearing_block(t, hearing)}"


def confirm_grant(t: Translator, user_id: int, name: str | None) -> str:
    """Asked before someone becomes a moderator; ``name`` is Telegram's, shown this once."""
    if name:
        return t(
            "Make {name} (<code>{user_id}</code>) a moderator? They will be able to post"
            " outcomes and news and postpone hearings.",
            name=escape(name),
            user_id=user_id,
        )
    return t(
        "Make <code>{user_id}</code> a moderator? They will be able to post outcomes and news"
        " and postpone hearings.",
        user_id=user_id,
    )


NOTHING_BEFORE_CONFIRM = N_("Nothing changes and nothing is sent before you confirm.")


def case_closed_notice(t: Translator, case: Case) -> str:
    return t(
        # Not "the trial is over": an appeal or a retrial may come; the bot only stops.
        "<b>No longer followed</b>: {title}\nThe bot no longer follows this case, so no"
        " reminders or news of it will come here. Thank you for following it. Its history"
        " stays at /case {case_id}.",
        title=title_of(t, case),
        case_id=case.id,
    )


def postponed_notice(t: Translator, case: Case, old: Hearing, new: Hearing) -> str:
    lines = [
        t("<b>Hearing postponed</b>: {title}", title=title_of(t, case)),
        t("Was: {when}", when=format_when(t, old)),
        t("Now: <b>{when}</b>", when=format_when(t, new)),
        format_place(t, new),
    ]
    if old.reason:
        lines.append(t("Reason: {reason}", reason=escape(old.reason)))
    lines.append(f"/case {case.id}")
    return "\n".join(lines)


def _hour(t: Translator, hearing: Hearing) -> str:
    """'10:00 (Almaty time, UTC+5)'."""
    start = local_start(hearing)
    return f"{start:%H:%M} ({t.zone(hearing.timezone, start)})"


def corrected_notice(
    t: Translator, case: Case, hearing: Hearing, was: dt.datetime, was_tba: bool
) -> str:
    """A hearing's hour announced, or its hour or date corrected: not a postponement.

    ``was`` is the hearing's local start before the change, ``was_tba`` whether its hour was
    not announced.
    """
    start = local_start(hearing)
    if start.date() != was.date():
        lines = [
            t("<b>Date corrected</b>: {title}", title=title_of(t, case)),
            t(
                "The hearing is on <b>{when}</b> (it was given as {old} by mistake). The date"
                " was corrected; the hearing was not postponed.",
                when=format_when(t, hearing),
                old=t.date(was),
            ),
        ]
    elif was_tba:
        lines = [
            t("<b>Hour announced</b>: {title}", title=title_of(t, case)),
            t(
                "The hour of the hearing on {date} is announced: <b>{time}</b>",
                date=t.date(start),
                time=_hour(t, hearing),
            ),
        ]
    else:
        lines = [
            t("<b>Hour corrected</b>: {title}", title=title_of(t, case)),
            t(
                "The hearing on {date} starts at <b>{time}</b>, not at {old}.",
                date=t.date(start),
                time=_hour(t, hearing),
                old=f"{was:%H:%M}",
            ),
        ]
    lines += [format_place(t, hearing), f"/case {case.id}"]
    return "\n".join(lines)


def cancelled_notice(t: Translator, case: Case, hearing: Hearing) -> str:
    lines = [
        t("<b>Hearing cancelled</b>: {title}", title=title_of(t, case)),
        f"{format_when(t, hearing)}, {format_place(t, hearing)}",
    ]
    if hearing.reason:
        lines.append(t("Reason: {reason}", reason=escape(hearing.reason)))
    lines.append(f"/case {case.id}")
    return "\n".join(lines)


def notice_sent(t: Translator, notice: str, subscribers: int) -> str:
    sending = t("Sending this to {chats}.", chats=chats(t, subscribers))
    return f"{notice}\n\n<i>{sending}</i>"


def in_every_language(
    render: Callable[[Translator], str], default_language: str
) -> tuple[str, dict[str, str]]:
    """(the text for chats of no known language, the text in each language) of a notice."""
    texts = {code: render(translator(code)) for code in LANGUAGES}
    return texts[default_language], texts
