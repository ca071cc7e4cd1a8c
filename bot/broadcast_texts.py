"""Broadcasts as subscribers see them, and as moderators follow them."""

from __future__ import annotations

from telegram.constants import MessageLimit

from bot.texts import escape, format_place, format_when
from storage.deliveries import Progress
from storage.models import Broadcast, BroadcastStatus, Case, Hearing

MAX_LENGTH = int(MessageLimit.MAX_TEXT_LENGTH)
CANCELLED = "<i>Cancelled: nothing was sent.</i>"
ALREADY_HANDLED = "This broadcast was sent or cancelled already."


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


def outcome_message(case: Case, hearing: Hearing, text: str) -> str:
    """What subscribers receive for /outcome."""
    return (
        f"<b>Outcome of the hearing</b>: {escape(case.title)}\n"
        f"{format_when(hearing)}, {format_place(hearing)}\n\n"
        f"{escape(text)}\n\n/case {case.id}"
    )


def update_message(case: Case, text: str) -> str:
    """What subscribers receive for /update."""
    return f"<b>News</b>: {escape(case.title)}\n\n{escape(text)}\n\n/case {case.id}"


def too_long(length: int) -> str:
    return (
        f"With the bot's framing this message is {length:,} characters long; Telegram's limit is"
        f" {MAX_LENGTH:,}. Shorten it by {length - MAX_LENGTH:,} characters and send it again."
    )


def send_label(chats: int) -> str:
    return f"Send to {chats:,} chat" + ("" if chats == 1 else "s")


def figures(progress: Progress) -> str:
    """'120/3,000 sent · 1 unreachable · 0 failed'."""
    text = (
        f"{progress.sent:,}/{progress.total:,} sent · {progress.unreachable:,} unreachable"
        f" · {progress.failed:,} failed"
    )
    if progress.failure_reasons:
        reasons = ", ".join(
            f"{escape(reason[:60])} ×{count}" for reason, count in progress.failure_reasons.items()
        )
        text += f" ({reasons})"
    return text


def progress_view(broadcast: Broadcast, progress: Progress) -> str:
    """The preview message while sending, and its final report."""
    if broadcast.status == BroadcastStatus.DONE:
        head = f"<i>Done: {figures(progress)}.</i>"
    else:
        head = f"<i>Sending: {figures(progress)}…</i>"
    return _with_body(head, broadcast.text)


def cancelled(broadcast: Broadcast) -> str:
    return _with_body(CANCELLED, broadcast.text)


def _with_body(head: str, body: str) -> str:
    """A status line above the broadcast's text, cut so that the whole stays within the limit."""
    room = MAX_LENGTH - visible_length(head) - 2
    if visible_length(body) <= room:
        return f"{head}\n\n{body}"
    return head  # the subscribers' text is in the chat history above; the figures matter now


def recent_list(items: list[tuple[Broadcast, Progress]], titles: dict[str, str]) -> str:
    if not items:
        return "No broadcasts yet."
    lines = ["<b>Recent broadcasts</b>, newest first"]
    for broadcast, progress in items:
        when = broadcast.started_at or broadcast.created_at
        lines.append(
            f"\n#{broadcast.id} · {broadcast.kind} · <code>{broadcast.case_id}</code>"
            f" {escape(titles.get(broadcast.case_id, ''))}\n"
            f"{when:%Y-%m-%d %H:%M} UTC · {broadcast.status} · {figures(progress)}"
        )
    return "\n".join(lines)
