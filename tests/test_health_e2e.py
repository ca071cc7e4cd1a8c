"""/healthz and /metrics of a running instance, as an operator's monitoring sees them."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.context import HearingWatchApp
from tests.broadcasting import queue_broadcast
from tests.conftest import Clock, instance_of
from tests.fakebot import FakeBotApi, UserRef

ALICE = UserRef(3101)


def url(bot: HearingWatchApp, path: str) -> str:
    return f"http://127.0.0.1:{instance_of(bot).port}{path}"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_healthz_reports_an_active_instance_with_its_figures(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    chat = fake.private_chat(ALICE)
    await fake.say(chat, ALICE, "/cases")
    async with httpx.AsyncClient() as client:
        response = await client.get(url(bot, "/healthz"))
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["role"] == "active"
    assert report["database"] == "ok"
    assert report["bot_api"] == "ok"
    assert report["pending_deliveries"] == 0
    assert report["oldest_pending_seconds"] is None
    assert report["last_update_at"] is not None
    assert "next_reminder_at" in report
    assert "problems" not in report


async def test_metrics_count_deliveries_and_show_the_active_instance(
    bot: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    chats = [fake.private_chat(UserRef(3200 + n)) for n in range(3)]
    await queue_broadcast(bot.bot_data.database, [chat.id for chat in chats])
    await bot.bot_data.signals.deliveries_queued()
    await fake.wait_for(lambda: all(fake.received(chat.id) for chat in chats))

    async with httpx.AsyncClient() as client:
        response = await client.get(url(bot, "/metrics"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    assert values[("hearingwatch_deliveries_total", (("result", "sent"),))] == 3
    assert values[("hearingwatch_active", ())] == 1
    assert ("hearingwatch_queue_depth", ()) in values
    assert ("hearingwatch_telegram_429_total", ()) in values
    assert ("hearingwatch_database_errors_total", ()) in values
    assert ("hearingwatch_reminder_lateness_seconds_count", ()) in values
