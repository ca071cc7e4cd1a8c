"""The HTTP side: /healthz, /metrics, the cases' calendar feeds and, in webhook mode, the path
Telegram posts updates to.

One Starlette application served by uvicorn in the bot's own event loop, as in
python-telegram-bot's custom-webhook example: a webhook call only puts the update on the
Application's update queue, so the same handlers serve polling and webhooks.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update

from bot.context import HearingWatchApp
from storage.models import CASE_ID_PATTERN

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  (a header's name)
# Telegram's updates are small; anything much larger is not from Telegram.
MAX_UPDATE_BYTES = 1_000_000

HealthFn = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
MetricsFn = Callable[[], Awaitable[bytes]]
# A case's calendar as an .ics file, or None when there is no such case.
CalendarFn = Callable[[str], Awaitable[bytes | None]]
CALENDAR_TYPE = "text/calendar; charset=utf-8"
_CASE_ID = re.compile(CASE_ID_PATTERN)


class UnavailableError(Exception):
    """What a page needs cannot be had for now (the database is away): 503, try later."""


@dataclass(frozen=True)
class Webhook:
    """Where Telegram posts, and what it must prove."""

    path: str
    secret: str
    app: HearingWatchApp


def web_app(
    *, health: HealthFn, metrics: MetricsFn, calendar: CalendarFn, webhook: Webhook | None
) -> Starlette:
    """The ASGI application of one bot instance."""

    async def healthz(_request: Request) -> Response:
        healthy, report = await health()
        return JSONResponse(report, status_code=200 if healthy else 503)

    async def metrics_page(_request: Request) -> Response:
        return Response(await metrics(), media_type=CONTENT_TYPE_LATEST)

    async def case_calendar(request: Request) -> Response:
        # The schedule is public: no authentication, and nothing about subscribers in it.
        case_id = str(request.path_params["case_id"]).lower()
        try:
            feed = await calendar(case_id) if _CASE_ID.match(case_id) else None
        except UnavailableError:
            # Not 404: a subscribed app must keep the calendar it has and ask again later.
            return PlainTextResponse(
                "Unavailable for a moment; try again later.",
                status_code=503,
                headers={"Retry-After": "60"},
            )
        if feed is None:
            return PlainTextResponse("No such case.", status_code=404)
        return Response(feed, media_type=CALENDAR_TYPE)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        Route("/calendar/{case_id}.ics", case_calendar, methods=["GET"]),
    ]
    if webhook is not None:
        routes.append(Route(webhook.path, _receiver(webhook), methods=["POST"]))
    return Starlette(routes=routes)


def _receiver(webhook: Webhook) -> Callable[[Request], Awaitable[Response]]:
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
