"""The log names no chat and no person: a leaked log must not say who follows what."""

from __future__ import annotations

import logging

import pytest

from bot.context import HearingWatchApp
from jobs import logref
from service.cli import main
from tests.broadcasting import queue_broadcast
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


def test_the_operator_can_compute_a_chat_reference(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEARINGWATCH_TELEGRAM__TOKEN", "42:secret")
    assert main(["chat-ref", "12345"]) == 0
    printed = capsys.readouterr().out.strip()
    logref.set_key("42:secret")
    assert printed == logref.ref(12345)
    logref.set_key("another token")
    assert printed != logref.ref(12345)  # keyed: nobody without the token computes it
