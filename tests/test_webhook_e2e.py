"""Webhook mode: Telegram posts updates to the bot's HTTP server, behind a reverse proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.context import HearingWatchApp
from tests.conftest import Clock, instance_of, make_settings, start_bot, stop_bot
from tests.fakebot import FakeBotApi, UserRef

ALICE = UserRef(4101)
PUBLIC_URL = "https://bot.example.org/telegram/updates"
SECRET = "a-long-random-secret_42"


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
