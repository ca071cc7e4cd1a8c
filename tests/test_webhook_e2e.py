"""Webhook mode: Telegram posts updates to the bot's HTTP server, behind a reverse proxy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.context import HearingWatchApp
from bot.webhook import FAILURES_ALLOWED, SECRET_HEADER, Hush, Throttle
from tests.conftest import Clock, instance_of, make_settings, start_bot, stop_bot
from tests.fakebot import FakeBotApi, UserRef

ALICE = UserRef(4101)
PUBLIC_URL = "https://bot.example.org/telegram/updates"
SECRET = "a-long-random-secret_42-of-43-characters_x"
HEADERS = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}


@pytest.fixture
async def webhook_bot(
    fake: FakeBotApi, database_url: str, clock: Clock
) -> AsyncIterator[HearingWatchApp]:
    settings = make_settings(
        fake,
        database_url,
        telegram={"mode": "webhook", "webhook_url": PUBLIC_URL, "webhook_secret": SECRET},
    )
    app = await start_bot(settings, clock)
    # The reverse proxy: Telegram's posts to the public URL reach the bot's local server.
    fake.webhook_forward_to = f"http://127.0.0.1:{instance_of(app).port}"
    await fake.wait_for(lambda: fake.webhook)
    yield app
    await stop_bot(app)


async def test_the_bot_registers_its_webhook_with_the_secret(
    webhook_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    assert fake.webhook is not None
    assert fake.webhook.url == PUBLIC_URL
    assert fake.webhook.secret_token == SECRET
    # Channel posts and news of the bot's own membership come only if asked for.
    assert set(fake.webhook.allowed_updates) == {
        "message",
        "callback_query",
        "channel_post",
        "my_chat_member",
    }
    assert not fake.calls_to("getUpdates")  # no polling in webhook mode


async def test_users_are_answered_through_the_webhook(
    webhook_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chat = fake.private_chat(ALICE)
    reply = await fake.say(chat, ALICE, "/subscribe tabarak")
    assert "now follows" in reply["text"]
    reply = await fake.say(chat, ALICE, "/mysubs")
    assert "Tilek Tabarak" in reply["text"]
    assert all(delivery.status == 200 for delivery in fake.webhook_deliveries)


async def test_a_call_without_the_right_secret_is_refused_and_never_processed(
    webhook_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chat = fake.private_chat(ALICE)
    forged = fake.text_update(chat, ALICE, "/subscribe tabarak")
    assert await fake.post_to_webhook(forged, secret_token="wrong") == 403
    assert await fake.post_to_webhook(forged, secret_token=None) == 403
    # A bare POST (not even JSON) is refused the same way.
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"http://127.0.0.1:{instance_of(webhook_bot).port}/telegram/updates", content=b"x"
        )
    assert response.status_code == 403
    reply = await fake.say(chat, ALICE, "/mysubs")
    assert "follows no case" in reply["text"]  # the forged /subscribe did nothing
    assert not fake.sent_to(chat.id)[:-1]  # and nothing answered the forged calls


def hook(app: HearingWatchApp) -> str:
    return f"http://127.0.0.1:{instance_of(app).port}/telegram/updates"


@pytest.mark.parametrize(
    "body",
    [
        b"[1]",
        b'{"update_id": 1, "message": "MARKER-4711"}',
        b'{"update_id": "MARKER-4711"}',
        b'{"message": {"text": "MARKER-4711"}}',
        b'"MARKER-4711"',
        b"{MARKER-4711",
        b"",
        b'{"update_id": 2, "message": {"text": "MARKER-4711\\ud800"}}',
    ],
)
async def test_what_is_not_an_update_is_answered_200_and_logged_without_its_content(
    webhook_bot: HearingWatchApp, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    """Issue 16: [1] or a message that is a string raised AttributeError, a 500, which makes
    Telegram send it again for ever."""
    caplog.set_level(logging.WARNING)
    async with httpx.AsyncClient() as client:
        response = await client.post(hook(webhook_bot), content=body, headers=HEADERS)
    assert response.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert len(lines) == 1
    assert "other than an update ignored" in lines[0]
    assert "MARKER" not in caplog.text


async def test_a_body_is_limited_before_it_is_read(webhook_bot: HearingWatchApp) -> None:
    """Issue 16: the whole body was read before its size was checked."""
    port = instance_of(webhook_bot).port
    # Declared too large: answered at once, though the body never comes.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /telegram/updates HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"{SECRET_HEADER}: {SECRET}\r\nContent-Length: 50000000\r\n\r\n".encode()
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.startswith(b"HTTP/1.1 413")

    # No length declared: stopped once the streamed body passes the limit.
    async def endless() -> AsyncIterator[bytes]:
        for _ in range(10_000):
            yield b" " * 65536

    async with httpx.AsyncClient() as client:
        response = await client.post(hook(webhook_bot), content=endless(), headers=HEADERS)
    assert response.status_code == 413


async def test_failed_calls_are_throttled_per_address_and_told_once(
    webhook_bot: HearingWatchApp, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16: calls with a wrong secret were all answered and each logged."""
    caplog.set_level(logging.WARNING)
    statuses = []
    async with httpx.AsyncClient() as client:
        for _ in range(40):
            response = await client.post(
                hook(webhook_bot), content=b"{}", headers={SECRET_HEADER: "wrong"}
            )
            statuses.append(response.status_code)
    assert statuses[:FAILURES_ALLOWED] == [403] * FAILURES_ALLOWED
    assert set(statuses[FAILURES_ALLOWED:]) == {429}
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert len(lines) == 2, lines  # one refusal, one "throttled": not one line per call
    # Telegram, with the secret, is still heard (behind a proxy it may share the address).
    chat = fake.private_chat(ALICE)
    reply = await fake.say(chat, ALICE, "/subscribe tabarak")
    assert "now follows" in reply["text"]


def test_the_throttle_forgets_an_address_after_its_window() -> None:
    throttle = Throttle(allowed=2, window=60.0)
    throttle.failed("a", 0.0)
    throttle.failed("a", 1.0)
    assert throttle.retry_after("a", 2.0) == 58.0
    assert throttle.retry_after("b", 2.0) is None  # per address
    assert throttle.retry_after("a", 60.0) is None


def test_hush_tells_once_per_interval_with_the_count_held_back() -> None:
    hush = Hush(interval=60.0)
    assert hush.tell(0.0) == 0
    assert [hush.tell(t) for t in (1.0, 2.0, 3.0)] == [None, None, None]
    assert hush.tell(61.0) == 3
