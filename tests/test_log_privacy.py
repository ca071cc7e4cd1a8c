"""The log names no chat and no person: a leaked log must not say who follows what."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.context import HearingWatchApp
from jobs import logref
from service.cli import main
from service.logs import RedactingFormatter
from service.wiring import key_log_references
from tests.broadcasting import queue_broadcast
from tests.conftest import ADMIN_ID, Clock, make_settings, start_bot, stop_bot, until
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


# --- every scenario, every log line ---------------------------------------------------------

# Ids nothing else in a log line could spell by chance.
SUPPORTER = UserRef(7_301_011)
BLOCKER = UserRef(7_301_012)
FAILING = UserRef(7_301_013)
STRANGER = UserRef(7_301_014)
MODERATOR_ID = 7_301_015
FLOODER = UserRef(7_301_016)
GROUP_ADMIN = UserRef(7_301_017)
GROUP_MEMBER = UserRef(7_301_018)
BASIC_GROUP = -7_301_019
SUPERGROUP = -1_007_301_019_020
FORGETFUL = UserRef(7_301_021)
ADMIN = UserRef(ADMIN_ID)


def forms(identifier: int) -> set[str]:
    """How an id may be written: decimal, without its sign, and a supergroup's without -100."""
    written = {str(identifier), str(abs(identifier))}
    if str(identifier).startswith("-100"):
        written.add(str(identifier)[4:])
    return written


def buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def test_no_scenario_logs_a_chat_or_user_id(
    fake: FakeBotApi, database_url: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16: supporters, groups, staff (refused too), broadcasts that fail or find a chat
    blocked, a group becoming a supergroup, a failing handler, a flood, /forget: every line
    the process logs, tracebacks included and formatted as in production, names no id."""
    caplog.set_level(logging.INFO)
    settings = make_settings(fake, database_url, delivery={"chat_messages_per_second": 1000})
    app = await start_bot(settings, clock)
    try:
        # Supporters in private chats.
        for user in (SUPPORTER, BLOCKER, FAILING, FORGETFUL):
            chat = fake.private_chat(user)
            await fake.say(chat, user, "/subscribe tabarak")
            await fake.say(chat, user, "/mysubs")
        chat = fake.chats[SUPPORTER.id]
        await fake.say(chat, SUPPORTER, "/case tabarak")
        await fake.say(chat, SUPPORTER, "/calendar tabarak")
        await fake.say(chat, SUPPORTER, "/language ru")
        prompt = await fake.say(chat, SUPPORTER, "/remind")
        await fake.click(chat, SUPPORTER, prompt, "remind:2h")
        await fake.say(chat, SUPPORTER, "/nonsense")
        fake.forward_text(chat, SUPPORTER, "/unsubscribe all", origin=STRANGER)

        # Groups: an administrator subscribes, a member may not; the group becomes a supergroup.
        group = fake.group(BASIC_GROUP, kind="group")
        fake.set_member(group, GROUP_ADMIN, "administrator")
        await fake.say(group, GROUP_ADMIN, "/subscribe tabarak")
        await fake.say(group, GROUP_MEMBER, "/unsubscribe tabarak")
        await fake.say(group, None, "/subscribe tabarak", as_chat=True)
        supergroup = fake.group(SUPERGROUP)
        fake.set_member(supergroup, GROUP_ADMIN, "administrator")
        fake.upgrade(group, supergroup.id, GROUP_ADMIN)
        await fake.say(supergroup, GROUP_ADMIN, "/mysubs")

        # Staff: refused strangers and moderators, grants and the audit.
        stranger = fake.private_chat(STRANGER)
        await fake.say(stranger, STRANGER, "/addcase x X")
        admin = fake.private_chat(ADMIN)
        await fake.say(admin, ADMIN, f"/grant {MODERATOR_ID}")
        moderator = UserRef(MODERATOR_ID)
        await fake.say(fake.private_chat(moderator), moderator, "/addcase x X")
        await fake.say(supergroup, GROUP_ADMIN, "/addcase x X")
        await fake.say(admin, ADMIN, "/audit")
        await fake.say(admin, ADMIN, "/staff")

        # A broadcast that finds a chat blocked and fails for another; the blocked one returns.
        fake.block(fake.chats[BLOCKER.id])
        fake.faults.append(
            Fault("sendMessage", FAILING.id, ApiError(400, "Bad Request: chat not found"))
        )
        preview = await fake.say(admin, ADMIN, "/update tabarak News for everyone.")
        send = next(data for label, data in buttons(preview).items() if label.startswith("Send"))
        await fake.click(admin, ADMIN, preview, send)
        shown = fake.messages[(admin.id, preview["message_id"])]
        await fake.wait_for(lambda: shown["text"].startswith("Done"), seconds=15)
        fake.faults.clear()
        await fake.say(fake.chats[BLOCKER.id], BLOCKER, "/mysubs")
        await fake.say(admin, ADMIN, "/broadcasts")
        await fake.say(admin, ADMIN, f"/revoke {MODERATOR_ID}")

        # A handler that fails (the Bot API answers 500 to its reply), with its traceback.
        fake.faults.append(
            Fault("sendMessage", SUPPORTER.id, ApiError(500, "Internal Server Error"), times=6)
        )
        fake.send_text(chat, SUPPORTER, "/cases")
        await until(lambda: "handler failed" in caplog.text, seconds=30)
        fake.faults.clear()

        # A flood, and /forget.
        flooder = fake.private_chat(FLOODER)
        for _ in range(25):
            fake.send_text(flooder, FLOODER, "/help")
        await fake.wait_for(
            lambda: any("faster than" in m["text"] for m in fake.sent_to(FLOODER.id)), seconds=15
        )
        forgetful = fake.chats[FORGETFUL.id]
        question = await fake.say(forgetful, FORGETFUL, "/forget")
        await fake.click(forgetful, FORGETFUL, question, "forget:yes")
        await fake.say(forgetful, FORGETFUL, "/start")
    finally:
        await stop_bot(app)

    formatter = RedactingFormatter("%(levelname)s %(name)s: %(message)s", [])
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert "handler failed" in logged  # the scenarios did what they meant to
    assert "Traceback" in logged
    ids = [
        SUPPORTER.id, BLOCKER.id, FAILING.id, STRANGER.id, MODERATOR_ID, FLOODER.id,
        GROUP_ADMIN.id, GROUP_MEMBER.id, BASIC_GROUP, SUPERGROUP, FORGETFUL.id, ADMIN_ID,
    ]  # fmt: skip
    for identifier in ids:
        for written in forms(identifier):
            assert written not in logged, f"{written} in the log:\n{logged}"
