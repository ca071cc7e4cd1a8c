"""One chat cannot take the bot's whole attention: forwarded commands are ignored, and a person
sending commands faster than a human is told once to slow down and ignored for a minute."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.context import HearingWatchApp
from bot.flood import FloodGuard, Verdict
from tests.conftest import Clock, instance_of, make_settings, start_bot, stop_bot, until
from tests.fakebot import FakeBotApi, UserRef

ALICE, BOB, CAROL = UserRef(5_301_001), UserRef(5_301_002), UserRef(5_301_003)


def test_more_than_twenty_commands_a_minute_is_one_slow_down_then_a_minute_of_silence() -> None:
    guard = FloodGuard()
    verdicts = [guard.admit(1, t * 0.5) for t in range(20)]
    assert verdicts == [Verdict.HANDLE] * 20
    assert guard.admit(1, 10.0) is Verdict.SLOW_DOWN
    assert guard.admit(1, 11.0) is Verdict.IGNORE
    assert guard.admit(1, 69.9) is Verdict.IGNORE
    assert guard.admit(2, 11.0) is Verdict.HANDLE  # per person
    assert guard.admit(1, 70.0) is Verdict.HANDLE  # the pause is over, the count afresh


def test_a_steady_human_pace_is_never_slowed() -> None:
    guard = FloodGuard()
    # Twenty a minute, for ten minutes: never more than twenty in any 60 seconds.
    assert all(guard.admit(1, t * 3.0) is Verdict.HANDLE for t in range(200))


@pytest.fixture
async def quick_bot(
    fake: FakeBotApi, database_url: str, clock: Clock
) -> AsyncIterator[HearingWatchApp]:
    """A bot whose replies to one chat are not paced at a second each, so the flood is quick."""
    settings = make_settings(fake, database_url, delivery={"chat_messages_per_second": 1000})
    app = await start_bot(settings, clock)
    yield app
    await stop_bot(app)


def dropped(app: HearingWatchApp, reason: str) -> float:
    registry = instance_of(app).parts.metrics.registry
    value = registry.get_sample_value("hearingwatch_updates_dropped_total", {"reason": reason})
    return value or 0.0


async def test_a_forwarded_command_is_ignored(quick_bot: HearingWatchApp, fake: FakeBotApi) -> None:
    """Issue 16: forwarded commands were handled like typed ones."""
    chat = fake.private_chat(ALICE)
    fake.forward_text(chat, ALICE, "/subscribe tabarak", origin=BOB)
    await until(lambda: dropped(quick_bot, "forwarded") == 1)
    reply = await fake.say(chat, ALICE, "/mysubs")
    assert "follows no case" in reply["text"]
    assert len(fake.sent_to(chat.id)) == 1  # the forward got no answer


async def test_a_person_sending_commands_too_fast_is_told_once_and_ignored(
    quick_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    """Issue 16: 300 commands in 10 seconds were all answered, each taking a send slot."""
    chat = fake.private_chat(ALICE)
    for _ in range(30):
        fake.send_text(chat, ALICE, "/cases")
    await until(lambda: dropped(quick_bot, "too_fast") == 10)
    sent = fake.sent_to(chat.id)
    assert len(sent) == 21  # twenty answers and one line
    slow_downs = [m for m in sent if "faster than anyone could read" in m["text"]]
    assert len(slow_downs) == 1
    assert sent[-1] is slow_downs[0]
    # Meanwhile others are heard, and so is a group where many people ask once each.
    other = fake.private_chat(CAROL)
    assert "Tilek Tabarak" in (await fake.say(other, CAROL, "/cases"))["text"]
    group = fake.group(-1_005_301_000)
    for member in range(15):  # within a group's 20 messages a minute
        fake.send_text(group, UserRef(5_400_000 + member), "/cases")
    await until(lambda: len(fake.sent_to(group.id)) == 15)
    assert dropped(quick_bot, "too_fast") == 10
    # And the fast sender is still ignored.
    fake.send_text(chat, ALICE, "/mysubs")
    await until(lambda: dropped(quick_bot, "too_fast") == 11)
    assert len(fake.sent_to(chat.id)) == 21
