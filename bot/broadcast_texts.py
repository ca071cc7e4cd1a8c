"""Broadcasts as subscribers see them, and as moderators follow them."""

from __future__ import annotations

from bot.i18n import LANGUAGES, N_, Translator, translator
from bot.texts import MAX_LENGTH, escape, format_place, format_when, visible_length
from storage.broadcasts import Progress
from storage.models import Broadcast, BroadcastStatus, Case, Hearing

CANCELLED = N_("Cancelled: nothing was sent.")
ALREADY_HANDLED = N_("This broadcast was sent or cancelled already.")
CANCEL = N_("Cancel")
CANCELLED_ANSWER = N_("Cancelled.")
KINDS = {
    "outcome": N_("outcome"),
    "update": N_("news"),
    "notice": N_("notice"),
    "reminder": N_("reminder"),
}
STATUSES = {
    "draft": N_("draft"),
    "sending": N_("sending"),
    "done": N_("done"),
    "cancelled": N_("cancelled"),
}


def outcome_message(t: Translator, case: Case, hearing: Hearing, text: str) -> str:
    """What subscribers receive for /outcome."""
    head = t("<b>Outcome of the hearing</b>: {title}", title=escape(case.title))
    return (
        f"{head}\n{format_when(t, hearing)}, {format_place(hearing)}\n\n"
        f"{escape(text)}\n\n/case {case.id}"
    )


def update_message(t: Translator, case: Case, text: str) -> str:
    """What subscribers receive for /update."""
    head = t("<b>News</b>: {title}", title=escape(case.title))
    return f"{head}\n\n{escape(text)}\n\n/case {case.id}"


def too_long(t: Translator, length: int) -> str:
    return t(
        "With the bot's framing this message is {length} characters long; Telegram's limit is"
        " {limit}. Shorten it by {excess} characters and send it again.",
        length=t.number(length),
        limit=t.number(MAX_LENGTH),
        excess=t.number(length - MAX_LENGTH),
    )


def send_label(t: Translator, chats: int) -> str:
    return t.plural("Send to {count} chat", "Send to {count} chats", chats)


def audience(t: Translator, language_name: str, chats: int) -> str:
    """'Русский — 12 chats': who gets the version below."""
    return t.plural(
        "{language} — {count} chat", "{language} — {count} chats", chats, language=language_name
    )


def figures(t: Translator, progress: Progress) -> str:
    """'120/3,000 sent · 1 unreachable · 0 failed'."""
    text = t(
        "{sent}/{total} sent · {unreachable} unreachable · {failed} failed",
        sent=t.number(progress.sent),
        total=t.number(progress.total),
        unreachable=t.number(progress.unreachable),
        failed=t.number(progress.failed),
    )
    if progress.failure_reasons:
        reasons = ", ".join(
            f"{escape(reason[:60])} ×{count}" for reason, count in progress.failure_reasons.items()
        )
        text += f" ({reasons})"
    return text


def progress_view(t: Translator, broadcast: Broadcast, progress: Progress) -> str:
    """The preview message while sending, and its final report."""
    if broadcast.status == BroadcastStatus.DONE:
        head = "<i>" + t("Done: {figures}.", figures=figures(t, progress)) + "</i>"
    else:
        head = "<i>" + t("Sending: {figures}…", figures=figures(t, progress)) + "</i>"
    return _with_body(head, broadcast.texts.get(t.language, broadcast.text))


def cancelled(t: Translator, broadcast: Broadcast) -> str:
    return _with_body(f"<i>{t(CANCELLED)}</i>", broadcast.texts.get(t.language, broadcast.text))


def _with_body(head: str, body: str) -> str:
    """A status line above the broadcast's text, cut so that the whole stays within the limit."""
    room = MAX_LENGTH - visible_length(head) - 2
    if visible_length(body) <= room:
        return f"{head}\n\n{body}"
    return head  # the subscribers' text is in the chat history above; the figures matter now


def recent_list(
    t: Translator, items: list[tuple[Broadcast, Progress]], titles: dict[str, str]
) -> str:
    if not items:
        return t("No broadcasts yet.")
    lines = [t("<b>Recent broadcasts</b>, newest first")]
    for broadcast, progress in items:
        when = broadcast.started_at or broadcast.created_at
        kind = t(KINDS.get(str(broadcast.kind), str(broadcast.kind)))
        status = t(STATUSES.get(str(broadcast.status), str(broadcast.status)))
        lines.append(
            f"\n#{broadcast.id} · {kind} · <code>{broadcast.case_id}</code>"
            f" {escape(titles.get(broadcast.case_id, ''))}\n"
            f"{when:%Y-%m-%d %H:%M} UTC · {status} · {figures(t, progress)}"
        )
    return "\n".join(lines)


class ProgressWording:
    """A preview with its figures in its staff member's language, for ``jobs.progress``."""

    def __init__(self, default_language: str) -> None:
        self.default_language = default_language

    def __call__(self, language: str | None, broadcast: Broadcast, progress: Progress) -> str:
        code = language if language in LANGUAGES else self.default_language
        return progress_view(translator(code), broadcast, progress)
