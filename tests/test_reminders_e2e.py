"""Reminders end to end: real APScheduler jobs in the running bot, sent through the engine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.context import HearingWatchApp
from service.settings import Settings
from storage.models import Delivery, DeliveryStatus
from tests.conftest import ADMIN_ID, Clock, instance_of, make_settings, start_bot, stop_bot
from tests.fakebot import ApiError, FakeBotApi, Fault, FloodLimits, UserRef
from tests.staffing import confirmed

ADMIN = UserRef(ADMIN_ID)
ALICE, BOB, CAROL = UserRef(3001), UserRef(3002), UserRef(3003)
# 16 December 2026 in Almaty (UTC+5): 10:00 local is 05:00 UTC.
HEARING_DAY = "2026-12-16"


def at(hour: int, minute: int, second: int = 0) -> datetime:
    """A moment on the hearing day, given in Almaty time."""
    return datetime(2026, 12, 16, hour - 5, minute, second, tzinfo=UTC)


@pytest.fixture
def settings(fake: FakeBotApi, database_url: str) -> Settings:
    return make_settings(fake, database_url, reminders={"offsets": ["5m", "1m"]})


@pytest.fixture
async def running(settings: Settings, clock: Clock) -> AsyncIterator[HearingWatchApp]:
    clock.now = at(9, 0)
    app = await start_bot(settings, clock)
    yield app
    await stop_bot(app)


def reminders_in(fake: FakeBotApi, chat_id: int) -> list[str]:
    return [m["text"] for m in fake.sent_to(chat_id) if m["text"].startswith("⏰ Reminder")]


async def add_hearing(fake: FakeBotApi, when: str) -> int:
    admin = fake.private_chat(ADMIN)
    reply = await fake.say(
        admin, ADMIN, f"/addhearing tabarak {HEARING_DAY} {when} Zharkent court; Zharkent"
    )
    return int(reply["text"].split("#")[1].split(" ")[0])


async def test_reminded_once_on_time_then_for_the_new_date_only(
    running: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    number = await add_hearing(fake, "10:00")
    clock.run_from(at(9, 54, 57))  # the 5-minute reminder is due in 3 seconds
    await instance_of(running).parts.reminders.reconcile()
    assert {job.name for job in running.job_queue.jobs()} >= {  # type: ignore[union-attr]
        f"reminder:{number}:5m",
        f"reminder:{number}:1m",
    }
    text = await fake.wait_for(lambda: next(iter(reminders_in(fake, alice.id)), None), seconds=10)
    arrived = clock()
    assert at(9, 55) <= arrived < at(9, 55, 2)  # on time
    assert "16 December 2026, 10:00 (Almaty time, UTC+5)" in text
    assert "Starts in 5 minutes." in text or "Starts in 4 minutes." in text

    admin = fake.private_chat(ADMIN)
    await confirmed(
        fake, admin, ADMIN, f"/postpone #{number} {HEARING_DAY} 10:10 the judge is late"
    )
    await fake.wait_for(
        lambda: any("Hearing postponed" in m["text"] for m in fake.sent_to(alice.id))
    )
    assert not {
        j.name for j in running.job_queue.jobs() if j.name and j.name.endswith(f":{number}:1m")
    }  # type: ignore[union-attr]

    clock.run_from(at(10, 4, 57))  # past the old hearing's 1-minute reminder; new 5m due in 3 s
    await instance_of(running).parts.reminders.reconcile()
    await fake.wait_for(lambda: len(reminders_in(fake, alice.id)) == 2, seconds=10)
    assert "16 December 2026, 10:10" in reminders_in(fake, alice.id)[1]
    await fake.say(alice, ALICE, "/mysubs")  # everything before it was handled
    sent = reminders_in(fake, alice.id)
    assert len(sent) == 2  # never one for the old date's 1-minute slot
    assert all("10:00 (" not in text for text in sent[1:])


async def test_down_across_the_due_time_sends_once_at_start(
    settings: Settings, fake: FakeBotApi, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    clock.now = at(9, 0)
    app = await start_bot(settings, clock)
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    await add_hearing(fake, "10:00")
    await stop_bot(app)

    clock.now = at(9, 57)  # the 5-minute reminder fell due while the bot was down
    app = await start_bot(settings, clock)
    try:
        text = await fake.wait_for(lambda: next(iter(reminders_in(fake, alice.id)), None))
        assert "Starts in 3 minutes." in text
    finally:
        await stop_bot(app)

    app = await start_bot(settings, clock)  # and again: nothing twice
    try:
        await fake.say(alice, ALICE, "/mysubs")
        assert len(reminders_in(fake, alice.id)) == 1
    finally:
        await stop_bot(app)

    clock.now = at(10, 0, 30)  # started after the hearing began: none, and it is counted
    with caplog.at_level(logging.WARNING):
        app = await start_bot(settings, clock)
    try:
        await fake.say(alice, ALICE, "/mysubs")
        assert len(reminders_in(fake, alice.id)) == 1
    finally:
        await stop_bot(app)
    assert any("have begun: dropped" in r.getMessage() for r in caplog.records)


async def test_each_chat_gets_the_reminders_it_chose(
    running: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    chats = {}
    for user, pick in ((ALICE, None), (BOB, "none"), (CAROL, "1m")):
        chat = fake.private_chat(user)
        chats[user.id] = chat.id
        await fake.say(chat, user, "/subscribe tabarak")
        menu = await fake.say(chat, user, "/remind")
        assert "the default" in menu["text"]
        if pick is not None:
            answer = await fake.click(chat, user, menu, f"remind:{pick}")
            assert answer["text"] == "Saved."
    await add_hearing(fake, "10:00")
    clock.now = at(9, 56)  # the 5-minute reminder is overdue, the 1-minute one not yet
    await instance_of(running).parts.reminders.reconcile()
    await fake.wait_for(lambda: reminders_in(fake, ALICE.id))
    await fake.say(fake.chats[BOB.id], BOB, "/mysubs")
    assert len(reminders_in(fake, ALICE.id)) == 1  # the default: both
    assert reminders_in(fake, BOB.id) == []  # none
    assert reminders_in(fake, CAROL.id) == []  # only the 1-minute one


async def test_a_chat_that_chose_a_merged_offset_still_gets_the_reminder(
    running: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    """Both offsets (5m, 1m) of a hearing whose hour is not announced fall on its morning and
    go as one reminder: the chat that chose only 1m gets it too."""
    carol = fake.private_chat(CAROL)
    await fake.say(carol, CAROL, "/subscribe tabarak")
    menu = await fake.say(carol, CAROL, "/remind")
    await fake.click(carol, CAROL, menu, "remind:1m")
    await add_hearing(fake, "tba")
    clock.now = at(8, 1)  # the morning reminder is due
    await instance_of(running).parts.reminders.reconcile()
    text = await fake.wait_for(lambda: next(iter(reminders_in(fake, carol.id)), None))
    assert "Today; the hour is not announced yet." in text


async def test_all_means_the_configured_reminders_even_after_they_change(
    settings: Settings, fake: FakeBotApi, clock: Clock
) -> None:
    clock.now = at(9, 0)
    app = await start_bot(settings, clock)
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    menu = await fake.say(alice, ALICE, "/remind")
    await fake.click(alice, ALICE, menu, "remind:all")
    await stop_bot(app)

    # The operator changes [reminders] offsets: "all" follows the new ones.
    changed = make_settings(
        fake, settings.database.url.get_secret_value(), reminders={"offsets": ["10m"]}
    )
    app = await start_bot(changed, clock)
    try:
        await add_hearing(fake, "10:00")
        clock.now = at(9, 51)
        await instance_of(app).parts.reminders.reconcile()
        text = await fake.wait_for(lambda: next(iter(reminders_in(fake, alice.id)), None))
        assert "Starts in 9 minutes." in text
    finally:
        await stop_bot(app)


async def queued_then_held_back(
    running: HearingWatchApp, fake: FakeBotApi, clock: Clock, chat_id: int
) -> None:
    """Queue the 5-minute reminder at 9:55; Telegram holds the send back (a 429) long enough
    for the clock to move on, as when the chat's turn comes late in a long fan-out."""
    fake.faults.append(
        Fault(
            method="sendMessage",
            chat_id=chat_id,
            error=ApiError(429, "Too Many Requests: retry after 1", retry_after=1),
            times=1,
        )
    )
    clock.now = at(9, 55)
    await instance_of(running).parts.reminders.reconcile()
    await fake.wait_for(lambda: any(call.error for call in fake.calls_to("sendMessage")))


async def test_a_reminder_says_how_long_until_the_start_when_it_is_sent(
    running: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    await add_hearing(fake, "10:00")
    await queued_then_held_back(running, fake, clock, alice.id)
    clock.now = at(9, 57)  # queued saying 5 minutes; it goes out 2 minutes later
    text = await fake.wait_for(lambda: next(iter(reminders_in(fake, alice.id)), None))
    assert "Starts in 3 minutes." in text


async def test_a_reminder_whose_hearing_has_begun_is_skipped_not_sent(
    running: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    await add_hearing(fake, "10:00")
    await queued_then_held_back(running, fake, clock, alice.id)
    clock.now = at(10, 1)  # an outage held it back past the start
    database = running.bot_data.database
    async with asyncio.timeout(10):
        while True:
            async with database.reading() as session:
                rows = (await session.execute(select(Delivery.status))).scalars().all()
            if rows and all(status != DeliveryStatus.PENDING for status in rows):
                break
            await asyncio.sleep(0.05)
    assert list(rows) == [DeliveryStatus.SKIPPED]
    assert reminders_in(fake, alice.id) == []


async def test_a_chat_that_subscribes_later_gets_no_back_dated_reminder(
    running: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    await add_hearing(fake, "10:00")
    clock.now = at(9, 56)
    await instance_of(running).parts.reminders.reconcile()
    await fake.wait_for(lambda: reminders_in(fake, ALICE.id))
    bob = fake.private_chat(BOB)
    await fake.say(bob, BOB, "/subscribe tabarak")
    await instance_of(running).parts.reminders.reconcile()
    case = (await fake.say(bob, BOB, "/case tabarak"))["text"]
    assert "16 December 2026, 10:00" in case
    assert reminders_in(fake, BOB.id) == []


async def test_cancelled_and_held_hearings_lose_their_jobs(
    running: HearingWatchApp, fake: FakeBotApi
) -> None:
    number = await add_hearing(fake, "10:00")
    job_names = lambda: {j.name for j in running.job_queue.jobs()}  # type: ignore[union-attr]  # noqa: E731
    assert f"reminder:{number}:5m" in job_names()
    admin = fake.private_chat(ADMIN)
    prompt = await fake.say(admin, ADMIN, f"/cancelhearing #{number}")
    confirm = next(
        b["callback_data"]
        for row in prompt["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"].startswith("Cancel the")
    )
    await fake.click(admin, ADMIN, prompt, confirm)
    await fake.wait_for(lambda: f"reminder:{number}:5m" not in job_names())
    assert not any(name and name.startswith(f"reminder:{number}:") for name in job_names())


async def test_a_restart_mid_fan_out_sends_each_chat_once(database_url: str, clock: Clock) -> None:
    """Stopped (as a deploy stops it) while a reminder goes out to many chats, and started again:
    every chat gets it, none twice."""
    chats = [UserRef(70_000 + i) for i in range(90)]
    async with FakeBotApi(limits=FloodLimits(), latency=0.05) as fake:
        settings = make_settings(fake, database_url, reminders={"offsets": ["5m", "1m"]})
        clock.now = at(9, 0)
        app = await start_bot(settings, clock)
        try:
            for user in chats:
                await fake.say(fake.private_chat(user), user, "/subscribe tabarak")
            await add_hearing(fake, "10:00")
            clock.now = at(9, 56)
            await instance_of(app).parts.reminders.reconcile()  # 90 chats at 30 a second: 3 seconds
            await fake.wait_for(lambda: sum(len(reminders_in(fake, u.id)) for u in chats) >= 30)
        finally:
            await stop_bot(app)
        app = await start_bot(settings, clock)
        try:
            await fake.wait_for(lambda: all(reminders_in(fake, u.id) for u in chats), seconds=20)
        finally:
            await stop_bot(app)
        assert [len(reminders_in(fake, u.id)) for u in chats] == [1] * len(chats)
        assert fake.too_many_requests == 0


async def test_reminders_come_for_the_hour_once_it_is_announced(
    running: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    """Issue 10: a hearing whose hour is not announced gets it; its reminders move to it."""
    clock.now = at(7, 0)  # before the 08:00 reminder of a hearing with no hour
    alice = fake.private_chat(ALICE)
    await fake.say(alice, ALICE, "/subscribe tabarak")
    number = await add_hearing(fake, "tba")
    due = lambda offset: next(  # noqa: E731
        j.data
        for j in running.job_queue.jobs()  # type: ignore[union-attr]
        if j.name == f"reminder:{number}:{offset}"
    )
    assert due("5m") == at(8, 0)  # both offsets fall on the morning of the day: one reminder

    admin = fake.private_chat(ADMIN)
    await confirmed(fake, admin, ADMIN, f"/edithearing #{number} time 10:00")
    await fake.wait_for(lambda: any("Hour announced" in m["text"] for m in fake.sent_to(alice.id)))
    await fake.wait_for(lambda: due("5m") == at(9, 55))
    assert due("1m") == at(9, 59)

    clock.run_from(at(9, 54, 57))  # past 08:00; the 5-minute reminder of 10:00 due in 3 s
    await instance_of(running).parts.reminders.reconcile()
    text = await fake.wait_for(lambda: next(iter(reminders_in(fake, alice.id)), None), seconds=10)
    assert clock() >= at(9, 55)
    assert "16 December 2026, 10:00 (Almaty time, UTC+5)" in text
    await fake.say(alice, ALICE, "/mysubs")
    assert len(reminders_in(fake, alice.id)) == 1  # none for the 08:00 of the hour not announced
