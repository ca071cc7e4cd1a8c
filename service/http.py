"""The HTTP side of an instance: /healthz, /metrics, the cases' calendar feeds and, in webhook
mode, the door Telegram posts updates to (``bot.webhook``).

One Starlette application served by uvicorn in the bot's own event loop, as in
python-telegram-bot's custom-webhook example.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.webhook import Webhook, receiver
from service.feeds import TTL, Feed
from storage.models import CASE_ID_PATTERN

HealthFn = Callable[[], tuple[bool, dict[str, Any]]]
MetricsFn = Callable[[], bytes]
# A case's calendar feed, or None when there is no such case (service.feeds).
CalendarFn = Callable[[str], Awaitable[Feed | None]]
CALENDAR_TYPE = "text/calendar; charset=utf-8"
_CASE_ID = re.compile(CASE_ID_PATTERN)
# The feed is public: any cache may keep it as long as this instance does.
CALENDAR_CACHING = f"public, max-age={TTL:.0f}"


class UnavailableError(Exception):
    """What a page needs cannot be had for now (the database is away): 503, try later."""


def not_modified(request: Request, feed: Feed) -> bool:
    """Whether the asker has this feed already (RFC 9110: If-None-Match, when given, decides;
    else If-Modified-Since)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or feed.etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # a date we cannot read: send the feed
    return since.tzinfo is not None and feed.last_modified <= since


def web_app(
    *, health: HealthFn, metrics: MetricsFn, calendar: CalendarFn, webhook: Webhook | None
) -> Starlette:
    """The ASGI application of one bot instance."""

    async def healthz(_request: Request) -> Response:
        healthy, report = health()
        return JSONResponse(report, status_code=200 if healthy else 503)

    async def metrics_page(_request: Request) -> Response:
        return Response(metrics(), media_type=CONTENT_TYPE_LATEST)

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
        headers = {
            "ETag": feed.etag,
            "Last-Modified": format_datetime(feed.last_modified, usegmt=True),
            "Cache-Control": CALENDAR_CACHING,
        }
        if not_modified(request, feed):
            return Response(status_code=304, headers=headers)
        return Response(feed.body, media_type=CALENDAR_TYPE, headers=headers)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        Route("/calendar/{case_id}.ics", case_calendar, methods=["GET"]),
    ]
    if webhook is not None:
        routes.append(Route(webhook.path, receiver(webhook), methods=["POST"]))
    return Starlette(routes=routes)
