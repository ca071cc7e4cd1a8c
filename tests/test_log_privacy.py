"""The log names no chat and no person: a leaked log must not say who follows what."""

from __future__ import annotations

import logging

import pytest

from bot.context import HearingWatchApp
from jobs import logref
from service.cli import main
from service.wiring import key_log_references
from tests.broadcasting import queue_broadcast
from tests.conftest import make_settings
from tests.fakebot import ApiError, FakeBotApi, Fault, UserRef

ALICE, BOB, CAROL = UserRef(7_301_001), UserRef(7_301_002), UserRef(7_301_003)


async def test_normal_operation_logs_no_chat_or_user_id(
    bot: HearingWatchApp, fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    people = (ALICE, BOB, CAROL)
    for user in people:
        await fake.say(fake.private_chat(user), user, "/subscribe tabarak")
    fake.block(fake.chats[BOB.id])  # unreachable: logged as such
    fake.faults.append(  # and a broadcast that fails for one chat
        Fault("sendMessage", CAROL.id, ApiError(400, "Bad Request: message thread not found"))
    )
    await queue_broadcast(bot.bot_data.database, [])  # to the three who subscribed
    await bot.bot_data.signals.deliveries_queued()
    await fake.wait_for(lambda: fake.received(ALICE.id) >= 2)
    await fake.wait_for(lambda: any("failed" in r.getMessage() for r in caplog.records), seconds=10)
    fake.faults.clear()
    await fake.say(fake.chats[BOB.id], BOB, "/mysubs")  # comes back: logged as such
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    for user in people:
        assert str(user.id) not in logged
    assert logref.ref(CAROL.id) in logged  # the operator can still match the line


def test_the_operator_can_compute_a_chat_reference_with_the_log_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: keyed with [privacy] log_key, a secret of its own, not with the bot token."""
    key = "k" * 40
    monkeypatch.setenv("HEARINGWATCH_TELEGRAM__TOKEN", "42:secret")
    monkeypatch.setenv("HEARINGWATCH_PRIVACY__LOG_KEY", key)
    assert main(["chat-ref", "12345"]) == 0
    printed = capsys.readouterr().out.strip()
    logref.set_key(key)
    assert printed == logref.ref(12345)
    logref.set_key("42:secret")
    assert printed != logref.ref(12345)  # whoever holds the token cannot compute it


def test_chat_ref_without_a_log_key_says_what_to_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEARINGWATCH_TELEGRAM__TOKEN", "42:secret")
    assert main(["chat-ref", "12345"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "[privacy] log_key" in err


def test_without_a_log_key_each_start_keys_at_random_and_warns(
    fake: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(fake, database_url)
    key_log_references(settings)
    first = logref.ref(12345)
    key_log_references(settings)
    assert logref.ref(12345) != first
    assert "no [privacy] log_key" in caplog.text
    assert "will not match" in caplog.text
    caplog.clear()
    key_log_references(make_settings(fake, database_url, privacy={"log_key": "k" * 40}))
    assert "log_key" not in caplog.text
    logref.set_key("k" * 40)
    keyed = logref.ref(12345)
    key_log_references(make_settings(fake, database_url, privacy={"log_key": "k" * 40}))
    assert logref.ref(12345) == keyed
