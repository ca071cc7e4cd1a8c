"""python-telegram-bot behind the jobs' ``send`` and ``edit``: the one module in ``jobs/`` that
imports telegram. Telegram's answers become the jobs' plain results."""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import ssl
from datetime import timedelta

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Defaults, ExtBot
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from jobs.delivery import (
    Failed,
    Migrated,
    RetryLater,
    SendFn,
    SendResult,
    Sent,
    TopicGone,
    Unavailable,
    Unreachable,
)
from jobs.progress import Buttons, Edited, EditFn

# httpcore scans its whole pool for each request it queues; with hundreds of connections in one
# pool that scan costs more than the request (measured: 63 requests a second with 100 open).
# Many small pools keep it short.
CONNECTIONS_PER_POOL = 4
# A request may wait this long for a free connection of its pool.
POOL_TIMEOUT = 60.0
# How Telegram refuses a message for a forum topic that was deleted or closed (lower case).
TOPIC_GONE = ("message thread not found", "topic_closed")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of the process, with httpx's default trust (certifi, or
    SSL_CERT_FILE/SSL_CERT_DIR).

    Each httpx client would otherwise build its own and load the CA bundle into it: 50 pools
    cost 44 MiB and 2 s at start (measured), one shared context 4 MiB and 0.14 s.
    """
    return httpx.create_ssl_context()


def http_request(
    connections: int, *, read_timeout: float = 5.0, pool_timeout: float = 1.0
) -> HTTPXRequest:
    """python-telegram-bot's httpx request (its default timeouts) with the shared TLS context."""
    return HTTPXRequest(
        connection_pool_size=connections,
        read_timeout=read_timeout,
        pool_timeout=pool_timeout,
        httpx_kwargs={"verify": tls_context()},
    )


class ShardedHTTPXRequest(BaseRequest):
    """httpx requests spread round-robin over several small connection pools."""

    def __init__(self, connections: int, *, read_timeout: float = 10.0) -> None:
        pools = max(1, math.ceil(connections / CONNECTIONS_PER_POOL))
        self._pools = [
            http_request(CONNECTIONS_PER_POOL, read_timeout=read_timeout, pool_timeout=POOL_TIMEOUT)
            for _ in range(pools)
        ]
        self._next = itertools.cycle(self._pools)

    @property
    def read_timeout(self) -> float | None:
        return self._pools[0].read_timeout

    async def initialize(self) -> None:
        await asyncio.gather(*(pool.initialize() for pool in self._pools))

    async def shutdown(self) -> None:
        await asyncio.gather(*(pool.shutdown() for pool in self._pools))

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        return await next(self._next).do_request(
            url,
            method,
            request_data,
            read_timeout,  # type: ignore[arg-type]
            write_timeout,  # type: ignore[arg-type]
            connect_timeout,  # type: ignore[arg-type]
            pool_timeout,  # type: ignore[arg-type]
        )


def sending_bot(
    token: str, *, base_url: str, defaults: Defaults | None, connections: int
) -> ExtBot[None]:
    """A bot for broadcasts only, with enough connections for the engine's concurrency."""
    return ExtBot(
        token,
        base_url=base_url,
        defaults=defaults,
        request=ShardedHTTPXRequest(connections),
    )


def _seconds(period: int | timedelta) -> float:
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


def telegram_send(bot: Bot, *, paid_broadcast: bool = False) -> SendFn:
    """A ``send`` for the engine that sends HTML text with ``bot``."""
    paid = True if paid_broadcast else None

    async def send(chat_id: int, text: str, thread_id: int | None) -> SendResult:
        try:
            await bot.send_message(
                chat_id, text, message_thread_id=thread_id, allow_paid_broadcast=paid
            )
        except RetryAfter as exc:
            return RetryLater(_seconds(exc.retry_after))
        except ChatMigrated as exc:
            return Migrated(exc.new_chat_id)
        except Forbidden as exc:  # blocked, kicked, deactivated
            return Unreachable(exc.message)
        except BadRequest as exc:
            reason = exc.message.lower()
            if "chat not found" in reason:
                return Unreachable(exc.message)
            if thread_id is not None and any(words in reason for words in TOPIC_GONE):
                return TopicGone(exc.message)
            return Failed(exc.message, transient=False)
        except TimedOut as exc:
            if isinstance(exc.__cause__, httpx.ConnectTimeout):  # never left: not an attempt
                return Unavailable(exc.message)
            return Failed(exc.message, transient=True)  # it may have arrived: an attempt
        except NetworkError as exc:
            if isinstance(exc.__cause__, httpx.TransportError):  # no answer from Telegram at all
                return Unavailable(exc.message)
            return Failed(exc.message, transient=True)  # 5xx
        except TelegramError as exc:
            return Failed(exc.message, transient=False)
        return Sent()

    return send


def telegram_edit(bot: Bot) -> EditFn:
    """An ``edit`` for the progress reports: replace a message's text (HTML) and its buttons
    (none: the buttons go) with ``bot``."""

    async def edit(chat_id: int, message_id: int, text: str, buttons: Buttons = ()) -> Edited:
        rows = [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in buttons
        ]
        markup = InlineKeyboardMarkup(rows) if rows else None
        try:
            await bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return Edited.DONE
            return Edited.GONE  # the staff member deleted the preview
        except Forbidden:
            # The staff member blocked the bot: no edit will ever go through again.
            return Edited.GONE
        except TelegramError:  # passing trouble (a timeout, a 429)
            return Edited.LATER
        return Edited.DONE

    return edit
