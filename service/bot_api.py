"""HTTP to the Bot API that tells whether Telegram answers, and waits for it at start."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

import httpx
from telegram.error import InvalidToken, NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from jobs.outage import Outage

if TYPE_CHECKING:
    from bot.context import HearingWatchApp

logger = logging.getLogger(__name__)

# Waits between attempts to reach the Bot API at start: an operator's server may boot before its
# network, and a Telegram outage may last minutes. Never gives up; a refused token ends it.
START_RETRY_FIRST = 1.0
START_RETRY_MAX = 30.0
# The methods that send a message, and so count against Telegram's flood limits.
MESSAGES = frozenset({"sendMessage", "sendDocument"})
# How often a reply is sent in all when Telegram answers 429 (each after the pause it asks for).
REPLY_ATTEMPTS = 3


class WatchedRequest(HTTPXRequest):
    """python-telegram-bot's HTTPXRequest, reporting to ``outage`` whether Telegram answered.

    Any HTTP answer, an error one included, is contact; only a transport failure (no connection,
    no answer in time) counts against the Bot API. ``succeeded``, if given, hears of every 200:
    the end of a refusal that is not the network's (getUpdates' 409 Conflict, say).
    """

    def __init__(
        self,
        outage: Outage,
        *,
        succeeded: Outage | None = None,
        pace: Callable[[int], Awaitable[None]] | None = None,
        throttled: Callable[[float], None] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.outage = outage
        self.succeeded = succeeded
        # Awaited before a message leaves, with its chat: shares Telegram's limits with the
        # delivery engine (see DeliveryEngine.limiter).
        self.pace = pace
        # Told of a 429 to a paced message, with its retry_after: every message waits that long.
        self.throttled = throttled

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
        chat_id = self._paced_chat(url, request_data)
        attempt = 1
        while True:
            if chat_id is not None and self.pace is not None:
                await self.pace(chat_id)
            answer = await self._request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout,
                pool_timeout,
            )  # fmt: skip
            retry_after = _retry_after(answer)
            if (
                chat_id is None
                or retry_after is None
                or self.throttled is None
                or attempt == REPLY_ATTEMPTS
            ):
                return answer
            # A 429 delivered nothing: the answer waits out the pause, as every message does,
            # and goes again at its next turn, instead of failing the person who asked.
            self.throttled(retry_after)
            attempt += 1

    def _paced_chat(self, url: str, request_data: RequestData | None) -> int | None:
        """The chat of a message that counts against the flood limits, if paced."""
        if self.pace is None or url.rsplit("/", 1)[-1] not in MESSAGES or not request_data:
            return None
        chat_id = request_data.parameters.get("chat_id")
        digits = str(chat_id).lstrip("-")
        if isinstance(chat_id, int | str) and digits.isascii() and digits.isdigit():
            return int(chat_id)
        return None

    async def _request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None,
        read_timeout: object,
        write_timeout: object,
        connect_timeout: object,
        pool_timeout: object,
    ) -> tuple[int, bytes]:
        try:
            answer = await super().do_request(
                url,
                method,
                request_data,
                read_timeout,  # type: ignore[arg-type]
                write_timeout,  # type: ignore[arg-type]
                connect_timeout,  # type: ignore[arg-type]
                pool_timeout,  # type: ignore[arg-type]
            )
        except (TimedOut, NetworkError) as exc:
            cause = exc.__cause__
            # A full connection pool is our own congestion, not Telegram being away.
            if not isinstance(cause, httpx.PoolTimeout) and (
                isinstance(exc, TimedOut) or isinstance(cause, httpx.TransportError)
            ):
                self.outage.failed(exc)
            raise
        self.outage.ok()
        if self.succeeded is not None and answer[0] == HTTPStatus.OK:
            self.succeeded.ok()
        return answer


def _retry_after(answer: tuple[int, bytes]) -> float | None:
    """The seconds a 429 answer asks to wait, or None for any other answer."""
    status, body = answer
    if status != HTTPStatus.TOO_MANY_REQUESTS:
        return None
    try:
        seconds = json.loads(body)["parameters"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(seconds) if isinstance(seconds, int | float) and seconds >= 0 else None


async def connect(app: HearingWatchApp, base_url: str) -> None:
    """Initialise the Application, which asks Telegram who the bot is, until Telegram answers.

    One line per failed attempt and no traceback; InvalidToken (Telegram refused the token) and
    any other TelegramError (a 4xx answer) go to the caller, which stops with one line.
    """
    attempt = 0
    while True:
        try:
            await app.initialize()
        except InvalidToken:
            raise
        except NetworkError as exc:  # no connection, no answer in time, or a 5xx: wait it out
            attempt += 1
            wait = min(START_RETRY_MAX, START_RETRY_FIRST * 2 ** (attempt - 1))
            logger.warning(
                "cannot reach the Bot API at %s (attempt %d: %s); trying again in %.0f s",
                base_url,
                attempt,
                exc.message,
                wait,
            )
            await asyncio.sleep(wait)
        else:
            return
