"""python-telegram-bot behind the delivery engine's ``send``: the one module outside ``bot/``
that imports telegram. Telegram's answers become the engine's plain results."""

from __future__ import annotations

from datetime import timedelta

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from jobs.delivery import Failed, Migrated, RetryLater, SendFn, SendResult, Sent, Unreachable


def _seconds(period: int | timedelta) -> float:
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


def telegram_send(bot: Bot, *, paid_broadcast: bool = False) -> SendFn:
    """A ``send`` for the engine that sends HTML text with ``bot``."""
    paid = True if paid_broadcast else None

    async def send(chat_id: int, text: str) -> SendResult:
        try:
            await bot.send_message(chat_id, text, allow_paid_broadcast=paid)
        except RetryAfter as exc:
            return RetryLater(_seconds(exc.retry_after))
        except ChatMigrated as exc:
            return Migrated(exc.new_chat_id)
        except Forbidden as exc:  # blocked, kicked, deactivated
            return Unreachable(exc.message)
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                return Unreachable(exc.message)
            return Failed(exc.message, transient=False)
        except NetworkError as exc:  # 5xx, timeouts, connection trouble
            return Failed(exc.message, transient=True)
        except TelegramError as exc:
            return Failed(exc.message, transient=False)
        return Sent()

    return send
