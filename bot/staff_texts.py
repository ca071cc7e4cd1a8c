"""What the bot says to staff, and the notices staff actions send to subscribers."""

from __future__ import annotations

import json

from bot.texts import escape, format_place, format_when
from storage.models import AuditEntry, Case, Hearing, Role

NOT_STAFF = "This command is for the schedule's staff."
ADMINS_ONLY = (
    "Only admins can do that; moderators post /outcome and /update, /postpone hearings and see"
    " /hearings."
)
ANONYMOUS = (
    "I can't tell who sent this: it came on behalf of a chat (an anonymous group admin or a"
    " channel). Staff commands must come from your own account, in a private chat with me."
)
PRIVATE_ONLY = (
    "Staff commands work only in a private chat with me, so that no schedule detail reaches a"
    " group by accident. Open a chat with me and send it there."
)
ALREADY_DONE = "This was done already; nothing changed."
KEPT = "Nothing changed."

STAFF_COMMANDS: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.MODERATOR: (
        ("outcome", "Post a hearing's outcome: /outcome #N <text>"),
        ("update", "Post news of a case: /update <case-id> <text>"),
        ("broadcasts", "Recent broadcasts and their figures"),
        ("postpone", "Postpone a hearing: /postpone #N YYYY-MM-DD HH:MM|tba [reason]"),
        ("hearings", "Upcoming hearings with their ids"),
        ("staff", "Admins and moderators"),
    ),
    Role.ADMIN: (
        ("addcase", "Add a case: /addcase <id> <title>"),
        ("editcase", "Edit a case: /editcase <id> title|description <value>"),
        ("closecase", "Close a case"),
        ("addhearing", "Add a hearing: /addhearing <case> <date> <time|tba> <court>; <city>"),
        ("edithearing", "Edit a hearing: /edithearing #N court|city|address|zone <value>"),
        ("cancelhearing", "Cancel a hearing: /cancelhearing #N [reason]"),
        ("grant", "Make a moderator: /grant <user-id>"),
        ("revoke", "Remove a moderator: /revoke <user-id>"),
        ("audit", "Latest staff actions: /audit [n]"),
    ),
}


def staff_commands(role: Role) -> tuple[tuple[str, str], ...]:
    """The staff commands a role may use."""
    if role == Role.ADMIN:
        return STAFF_COMMANDS[Role.MODERATOR] + STAFF_COMMANDS[Role.ADMIN]
    return STAFF_COMMANDS[Role.MODERATOR]


def chats(count: int) -> str:
    """'1 subscribed chat', '3 subscribed chats'."""
    return f"{count} subscribed chat" + ("" if count == 1 else "s")


def problem(text: str) -> str:
    """A refusal staff can act on: marked so that it stands out on a phone."""
    return f"⚠️ {escape(text)}"


def hearing_block(hearing: Hearing) -> str:
    """A hearing as staff refer to it: its id, when and where."""
    return f"<b>#{hearing.id}</b> · {format_when(hearing)}\n{format_place(hearing)}"


def case_added(case: Case) -> str:
    return (
        f"Added the case <code>{case.id}</code>: <b>{escape(case.title)}</b>\n"
        f"/case {case.id} shows it as supporters see it."
    )


def case_edited(case: Case, field: str) -> str:
    return (
        f"Changed the {field} of <code>{case.id}</code>."
        f" /case {case.id} shows it as supporters see it."
    )


def hearing_added(case: Case, hearing: Hearing) -> str:
    return (
        f"Added hearing #{hearing.id} to <b>{escape(case.title)}</b>:\n\n{hearing_block(hearing)}"
    )


def hearing_edited(hearing: Hearing, field: str) -> str:
    return f"Changed the {field} of hearing #{hearing.id}:\n\n{hearing_block(hearing)}"


def hearings_list(hearings: list[Hearing], titles: dict[str, str]) -> str:
    if not hearings:
        return "No upcoming hearings."
    blocks = [
        f"{hearing_block(h)}\n<code>{h.case_id}</code> · {escape(titles.get(h.case_id, ''))}"
        for h in hearings
    ]
    return "<b>Upcoming hearings</b>\n\n" + "\n\n".join(blocks)


def staff_list(members: list[tuple[int, Role]]) -> str:
    lines = ["<b>Staff</b>"] + [f"<code>{user_id}</code> · {role}" for user_id, role in members]
    return "\n".join(lines)


def granted(user_id: int, *, new: bool) -> str:
    if not new:
        return f"<code>{user_id}</code> is a moderator already."
    return (
        f"<code>{user_id}</code> is now a moderator: they can /postpone hearings and see /hearings."
    )


def revoked(user_id: int, *, was: bool) -> str:
    if not was:
        return f"<code>{user_id}</code> was not a moderator."
    return f"<code>{user_id}</code> is no longer a moderator."


def _values(values: dict[str, object] | None) -> str:
    return escape(json.dumps(values, ensure_ascii=False, default=str)) if values else "–"


def audit_list(entries: list[AuditEntry]) -> str:
    if not entries:
        return "The audit trail is empty."
    lines = ["<b>Latest staff actions</b>, newest first"]
    for entry in entries:
        who = f"user {entry.actor_id}" if entry.actor_id is not None else "operator (command line)"
        lines.append(
            f"\n{entry.at:%Y-%m-%d %H:%M} UTC · {who} · <b>{entry.action}</b>"
            f" {escape(entry.subject)}"
            f"\nbefore: {_values(entry.before)}\nafter: {_values(entry.after)}"
        )
    return "\n".join(lines)


def confirm_close(case: Case, subscribers: int) -> str:
    return (
        f"Close the case <b>{escape(case.title)}</b> (<code>{case.id}</code>)? It leaves /cases,"
        f" keeps its history, and a notice goes to {chats(subscribers)}."
    )


def confirm_cancel(hearing: Hearing, reason: str | None, subscribers: int) -> str:
    return (
        f"Cancel this hearing? A notice goes to {chats(subscribers)}.\n\n"
        f"{hearing_block(hearing)}" + (f"\nReason: {escape(reason)}" if reason else "")
    )


def case_closed_notice(case: Case) -> str:
    return (
        f"<b>Case closed</b>: {escape(case.title)}\n"
        f"Thank you for following it. Its history stays at /case {case.id}."
    )


def postponed_notice(case: Case, old: Hearing, new: Hearing) -> str:
    lines = [
        f"<b>Hearing postponed</b>: {escape(case.title)}",
        f"Was: {format_when(old)}",
        f"Now: <b>{format_when(new)}</b>",
        format_place(new),
    ]
    if old.reason:
        lines.append(f"Reason: {escape(old.reason)}")
    lines.append(f"/case {case.id}")
    return "\n".join(lines)


def cancelled_notice(case: Case, hearing: Hearing) -> str:
    lines = [
        f"<b>Hearing cancelled</b>: {escape(case.title)}",
        f"{format_when(hearing)}, {format_place(hearing)}",
    ]
    if hearing.reason:
        lines.append(f"Reason: {escape(hearing.reason)}")
    lines.append(f"/case {case.id}")
    return "\n".join(lines)


def notice_sent(notice: str, subscribers: int) -> str:
    return f"{notice}\n\n<i>Sending this to {chats(subscribers)}.</i>"
