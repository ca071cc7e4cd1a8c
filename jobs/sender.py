"""The one path by which the bot sends a notice to every subscriber of a case.

This module and ``bot/`` are the only ones that import telegram. The delivery engine of a later
issue replaces the loop below (a database-backed queue, per-chat and per-group limits, restarts);
callers keep calling ``notify_subscribers``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from storage import subscriptions
from storage.database import Database

logger = logging.getLogger(__name__)

# Telegram's bulk limit is about 30 messages a second; stay under it.
MESSAGES_PER_SECOND = 25
PAGE = 500


@dataclass(slots=True)
class NoticeReport:
    """What became of one notice."""

    sent: int = 0
    unreachable: int = 0
    failed: int = 0


def _seconds(period: int | timedelta) -> float:
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


async def _send_one(bot: Bot, database: Database, chat_id: int, text: str) -> str:
    """'sent', 'unreachable' or 'failed'."""
    for _ in range(2):
        try:
            await bot.send_message(chat_id, text)
        except RetryAfter as exc:
            await asyncio.sleep(_seconds(exc.retry_after))
            continue
        except (Forbidden, BadRequest) as exc:
            if isinstance(exc, BadRequest) and "chat not found" not in exc.message.lower():
                logger.warning("notice to chat %s refused: %s", chat_id, exc.message)
                return "failed"
            async with database.writing() as session:
                await subscriptions.mark_unreachable(session, chat_id=chat_id)
            return "unreachable"
        except TelegramError as exc:
            logger.warning("notice to chat %s failed: %s", chat_id, exc)
            return "failed"
        return "sent"
    return "failed"


async def notify_subscribers(
    bot: Bot, database: Database, *, case_id: str, text: str
) -> NoticeReport:
    """Send ``text`` (HTML) to every reachable chat that follows ``case_id``."""
    report = NoticeReport()
    after: int | None = None
    while True:
        async with database.reading() as session:
            page = await subscriptions.subscriber_chat_ids(
                session, case_id=case_id, after=after, limit=PAGE
            )
        if not page:
            break
        for chat_id in page:
            outcome = await _send_one(bot, database, chat_id, text)
            setattr(report, outcome, getattr(report, outcome) + 1)
            await asyncio.sleep(1 / MESSAGES_PER_SECOND)
        after = page[-1]
    logger.info(
        "notice for case %s: %s sent, %s unreachable, %s failed",
        case_id,
        report.sent,
        report.unreachable,
        report.failed,
    )
    return report
