"""The door Telegram posts updates to in webhook mode, as in python-telegram-bot's
custom-webhook example: a call is checked and its update put on the Application's update
queue, so the same handlers serve polling and webhooks. The process's HTTP server mounts it
(``service.http``)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from telegram import Update

from bot.context import HearingWatchApp

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  (a header's name)
# Telegram's updates are small; anything much larger is not from Telegram.
MAX_UPDATE_BYTES = 1_000_000


@dataclass(frozen=True)
class Webhook:
    """Where Telegram posts, and what it must prove."""

    path: str
    secret: str = field(repr=False)
    app: HearingWatchApp


def receiver(webhook: Webhook) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint for ``webhook.path``."""
    expected = webhook.secret.encode()

    async def receive(request: Request) -> Response:
        """An update from Telegram: checked, queued, answered at once."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            # Not Telegram, or a misconfigured proxy; the update (if any) is never looked at.
            logger.warning("webhook call refused: missing or wrong secret token")
            return PlainTextResponse("Forbidden", status_code=403)
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            return PlainTextResponse("Payload Too Large", status_code=413)
        try:
            data = json.loads(body)
            update = Update.de_json(data, webhook.app.bot)
        except (ValueError, TypeError, KeyError):
            # With the right secret this is Telegram's: a 2xx stops it resending what we cannot
            # read, and the log says it happened (without the content).
            logger.warning("webhook call with an unreadable update ignored")
            return PlainTextResponse("ignored", status_code=200)
        await webhook.app.update_queue.put(update)
        return PlainTextResponse("ok", status_code=200)

    return receive
