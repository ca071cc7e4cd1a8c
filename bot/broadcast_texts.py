"""Broadcasts as subscribers see them, and as moderators follow them."""

from __future__ import annotations

from collections import Counter

from bot.i18n import LANGUAGES, N_, NAMES, NC_, Translator, translator
from bot.texts import MAX_LENGTH, escape, format_place, format_when, title_of, visible_length
from jobs.progress import Buttons
from storage.broadcasts import Progress
from storage.models import Broadcast, BroadcastStatus, Case, Hearing

CANCELLED = N_("Cancelled: nothing was sent.")
ALREADY_HANDLED = N_("This broadcast was sent or cancelled already.")
CANCEL = NC_("broadcast preview: do not send", "Cancel")
CANCELLED_ANSWER = N_("Cancelled.")
KINDS = {
    "outcome": N_("outcome"),
    "update": N_("news"),
    "notice": N_("notice"),
    "reminder": N_("reminder"),
}
# A broadcast's state, in a list of broadcasts ("cancelled" is not a hearing's cancellation).
STATUSES = {
    "draft": NC_("a broadcast's status", "draft"),
    "sending": NC_("a broadcast's status", "sending"),
    "done": NC_("a broadcast's status", "done"),
    "cancelled": NC_("a broadcast's status", "cancelled"),
    "stopped": NC_("a broadcast's status", "stopped"),
}
# Stopping a broadcast under way: the button under its progress, and the question it asks.
STOP = "bstop"
STOP_YES = "bstopyes"
STOP_NO = "bstopno"
STOP_LABEL = N_("Stop sending")
STOP_THE_REST = N_("Stop the rest")
KEEP_SENDING = N_("Keep sending")
STILL_SENDING = N_("Still sending.")
NOT_SENDING = N_("It is not being sent any more: nothing to stop.")
NOT_YOURS_TO_STOP = N_("Only the staff member who sent this, or an admin, can stop it.")
NOT_YOURS_TO_CANCEL = N_("Only the moderator who made this preview, or an admin, can cancel it.")
WHAT_SUBSCRIBERS_READ = N_("What subscribers will read:")


def audience_of(counts: dict[str | None, int], default_language: str) -> Counter[str]:
    """Chats by the language they will read (a chat of no known language reads the default)."""
    audience: Counter[str] = Counter()
    for code, count in counts.items():
        audience[code if code in LANGUAGES else default_language] += count
    return audience


def preview_blocks(
    t: Translator, texts: dict[str, str], audience: Counter[str], *, heading: bool = True
) -> list[str]:
    """What each language's chats will read, as staff check it before it goes: their own
    language first, then every other one somebody reads, each under how many chats read it;
    one message when it fits, else one per language. When all read the staff member's
    language, the text alone (under "What subscribers will read", with ``heading``)."""
    shown = [t.language] + [code for code in LANGUAGES if code != t.language and audience[code]]
    if len(shown) == 1:
        text = texts[t.language]
        blocks = [f"<i>{t(WHAT_SUBSCRIBERS_READ)}</i>\n\n{text}" if heading else text]
    else:
        blocks = [
            f"<i>{audience_line(t, NAMES[code], audience[code])}</i>\n\n{texts[code]}"
            for code in shown
        ]
    together = "\n\n— — —\n\n".join(blocks)
    return [together] if visible_length(together) <= MAX_LENGTH else blocks


def stop_buttons(t: Translator, broadcast: Broadcast) -> Buttons:
    """The Stop button under a broadcast's progress while it is being sent."""
    if broadcast.status != BroadcastStatus.SENDING or broadcast.id is None:
        return ()
    return (((t(STOP_LABEL), f"{STOP}:{broadcast.id}"),),)


def stop_question(t: Translator, broadcast_id: int, progress: Progress) -> str:
    return t(
        "Stop broadcast #{number}? {sent} of {total} chats have it; the other {left} will not"
        " get it. Chats that got it keep it.",
        number=broadcast_id,
        sent=t.number(progress.sent),
        total=t.number(progress.total),
        left=t.number(progress.pending),
    )


def stopped(t: Translator, broadcast_id: int, progress: Progress) -> str:
    return t(
        "Broadcast #{number} is stopped: {figures}.",
        number=broadcast_id,
        figures=figures(t, progress),
    )


def outcome_message(t: Translator, case: Case, hearing: Hearing, text: str) -> str:
    """What subscribers receive for /outcome."""
    head = t("<b>Outcome of the hearing</b>: {title}", title=title_of(t, case))
    return (
        f"{head}\n{format_when(t, hearing)}, {format_place(t, hearing)}\n\n"
        f"{escape(text)}\n\n/case {case.id}"
    )


def update_message(t: Translator, case: Case, text: str) -> str:
    """What subscribers receive for /update."""
    head = t("<b>News</b>: {title}", title=title_of(t, case))
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


def audience_line(t: Translator, language_name: str, chats: int) -> str:
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
    if progress.stopped:
        text += " · " + t("{stopped} stopped", stopped=t.number(progress.stopped))
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
    elif broadcast.status == BroadcastStatus.STOPPED:
        head = "<i>" + t("Stopped: {figures}.", figures=figures(t, progress)) + "</i>"
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
        marked = STATUSES.get(str(broadcast.status))
        status = t.marked(marked) if marked else str(broadcast.status)
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
        return progress_view(self._translator(language), broadcast, progress)

    def buttons(self, language: str | None, broadcast: Broadcast) -> Buttons:
        return stop_buttons(self._translator(language), broadcast)

    def _translator(self, language: str | None) -> Translator:
        return translator(language if language in LANGUAGES else self.default_language)
