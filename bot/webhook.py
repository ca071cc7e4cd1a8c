"""The door Telegram posts updates to in webhook mode, as in python-telegram-bot's
custom-webhook example: a call is checked and its update put on the Application's update
queue, so the same handlers serve polling and webhooks. The process's HTTP server mounts it
(``service.http``).

The secret is the only thing that tells Telegram's posts from forged ones (a forged update can
carry any admin's user id), and this door faces the internet, so it gives away as little work as
it can:

- a call without the right secret is refused before its body is read; a source address that
  keeps failing is throttled (429) for a while, and the log tells of such calls at most once a
  minute, with their number;
- a body is limited before it is read: by its declared length, and again while it streams in;
- whatever is not an update object is answered 200 (a 500 would make Telegram send it again,
  for ever) and logged once, without its content.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from telegram import Update

from bot.context import HearingWatchApp

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  (a header's name)
# Telegram's updates are a few kilobytes (a 4,096-character message with its entities and the
# message it replies to); anything much larger is not from Telegram.
MAX_UPDATE_BYTES = 256 * 1024
# A source address may fail this many times in a window before its calls are refused unread.
FAILURES_ALLOWED = 10
THROTTLE_WINDOW = 60.0  # seconds
MAX_SOURCES = 10_000  # addresses remembered at once; the longest quiet go first
QUIET_INTERVAL = 60.0  # seconds between two log lines about the same kind of bad call

Clock = Callable[[], float]


class Throttle:
    """Counts failed calls per source address; past ``allowed`` in ``window`` seconds, the
    address is throttled until its window ends. Time is passed in."""

    def __init__(
        self,
        allowed: int = FAILURES_ALLOWED,
        window: float = THROTTLE_WINDOW,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self.allowed = allowed
        self.window = window
        self.max_sources = max_sources
        # Per address: when its window began, and its failures in it.
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def failed(self, source: str, now: float) -> None:
        """A call from ``source`` failed (a wrong or missing secret)."""
        began, count = self._current(source, now)
        self._failures[source] = (began, count + 1)
        self._failures.move_to_end(source)
        while len(self._failures) > self.max_sources:
            self._failures.popitem(last=False)

    def retry_after(self, source: str, now: float) -> float | None:
        """Seconds until ``source`` may try again, or None when it is not throttled."""
        began, count = self._current(source, now)
        if count < self.allowed:
            return None
        return began + self.window - now

    def _current(self, source: str, now: float) -> tuple[float, int]:
        began, count = self._failures.get(source, (now, 0))
        return (now, 0) if now - began >= self.window else (began, count)


class Hush:
    """Lets a repeated event be logged at most once per ``interval``; says how many it held
    back in between. Time is passed in."""

    def __init__(self, interval: float = QUIET_INTERVAL) -> None:
        self.interval = interval
        self._last: float | None = None
        self._held = 0

    def tell(self, now: float) -> int | None:
        """None: stay quiet; else log now, mentioning this many held back since the last line."""
        if self._last is not None and now - self._last < self.interval:
            self._held += 1
            return None
        held, self._held, self._last = self._held, 0, now
        return held


@dataclass(frozen=True)
class Webhook:
    """Where Telegram posts, and what it must prove."""

    path: str
    secret: str = field(repr=False)
    app: HearingWatchApp
    clock: Clock = field(default=time.monotonic, repr=False)


class BodyTooLargeError(Exception):
    """A body past MAX_UPDATE_BYTES."""


async def _body(request: Request, limit: int) -> bytes:
    """The body, read only while it stays within ``limit`` bytes (BodyTooLargeError past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked, or longer than it said
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _update(body: bytes, app: HearingWatchApp) -> Update | None:
    """The update in a body, or None for anything that is not an update object."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            return None
        return Update.de_json(data, app.bot)
    except Exception:  # whatever a malformed object makes the parser raise
        return None


def receiver(webhook: Webhook) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint for ``webhook.path``."""
    expected = webhook.secret.encode()
    throttle = Throttle()
    refusals, throttled, unreadable = Hush(), Hush(), Hush()

    async def receive(request: Request) -> Response:
        """An update from Telegram: checked, queued, answered at once."""
        now = webhook.clock()
        source = request.client.host if request.client else "unknown"
        given = request.headers.get(SECRET_HEADER, "").encode()
        # The right secret always gets through: behind a proxy that does not pass the client's
        # address on, Telegram and a forger share one, and throttling it would silence the bot.
        # With at least 32 random characters there is nothing to gain by guessing faster.
        if not hmac.compare_digest(given, expected):
            # Not Telegram, or a misconfigured proxy; the update (if any) is never looked at.
            wait = throttle.retry_after(source, now)
            if wait is not None:
                if (held := throttled.tell(now)) is not None:
                    logger.warning(
                        "webhook calls from %s throttled: more than %d without the secret in"
                        " %.0f s (%d more throttled calls since the last such line)",
                        source,
                        FAILURES_ALLOWED,
                        THROTTLE_WINDOW,
                        held,
                    )
                return PlainTextResponse(
                    "Too Many Requests",
                    status_code=429,
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
            throttle.failed(source, now)
            if (held := refusals.tell(now)) is not None:
                logger.warning(
                    "webhook call from %s refused: missing or wrong secret token"
                    " (%d more refused since the last such line)",
                    source,
                    held,
                )
            return PlainTextResponse("Forbidden", status_code=403)
        try:
            body = await _body(request, MAX_UPDATE_BYTES)
        except BodyTooLargeError:
            return PlainTextResponse("Payload Too Large", status_code=413)
        except ClientDisconnect:
            return PlainTextResponse("Bad Request", status_code=400)
        update = _update(body, webhook.app)
        if update is None:
            # With the right secret this is Telegram's: a 2xx stops it resending what we cannot
            # read, and the log says it happened (without the content).
            if (held := unreadable.tell(now)) is not None:
                logger.warning(
                    "webhook call with something other than an update ignored (%d bytes;"
                    " %d more since the last such line)",
                    len(body),
                    held,
                )
            return PlainTextResponse("ignored", status_code=200)
        await webhook.app.update_queue.put(update)
        return PlainTextResponse("ok", status_code=200)

    return receive
