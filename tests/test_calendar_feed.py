"""The public calendar feed cannot stall the bot: cached bytes per case, validators that answer
304, one build for many requests, and a small bound of its own on database work."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from bot.context import HearingWatchApp
from service.cli import main
from service.feeds import BusyError, CalendarFeeds, etag_of
from service.instance import Instance
from service.wiring import prepare_database
from tests.conftest import ADMIN_ID, Clock, instance_of, make_settings, start_bot, stop_bot, until
from tests.fakebot import FakeBotApi, UserRef
from tests.test_instances import ON_POSTGRES

ADMIN = UserRef(ADMIN_ID)
ALICE = UserRef(4101)
FEED = b"BEGIN:VCALENDAR\r\nDTSTAMP:20260101T000000Z\r\nX:1\r\nEND:VCALENDAR\r\n"


class Database:
    """What the feeds ask of the database, counted, and held back when the test says."""

    def __init__(self) -> None:
        self.builds = 0
        self.lists = 0
        self.body = FEED
        self.gate = asyncio.Event()
        self.gate.set()

    async def build(self, case_id: str) -> bytes | None:
        self.builds += 1
        await self.gate.wait()
        return self.body

    async def case_ids(self) -> set[str]:
        self.lists += 1
        return {"tabarak", "other"}


class Ticking:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_many_requests_for_a_case_cost_one_build_until_the_schedule_changes() -> None:
    database, clock = Database(), Ticking()
    feeds = CalendarFeeds(database.build, database.case_ids, clock=clock, ttl=300.0)
    database.gate.clear()
    waiting = [asyncio.create_task(feeds.feed("tabarak")) for _ in range(100)]
    await until(lambda: database.builds == 1)
    database.gate.set()
    results = await asyncio.gather(*waiting)
    assert {feed.body for feed in results if feed} == {FEED}
    assert database.builds == 1
    assert await feeds.feed("nobody") is None  # a made-up case: no query
    assert (database.builds, database.lists) == (1, 1)
    clock.now = 299.0
    await feeds.feed("tabarak")
    assert database.builds == 1
    feeds.invalidate()
    await feeds.feed("tabarak")
    assert (database.builds, database.lists) == (2, 2)
    clock.now = 700.0  # and at the latest after the TTL (a hearing leaves when it ends)
    await feeds.feed("tabarak")
    assert database.builds == 3


async def test_unchanged_contents_keep_their_tag_and_date_whenever_they_are_rebuilt() -> None:
    database = Database()
    moments = iter(
        [dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC)] * 2
    )
    feeds = CalendarFeeds(database.build, database.case_ids, now=lambda: next(moments))
    first = await feeds.feed("tabarak")
    database.body = FEED.replace(b"20260101T000000Z", b"20260102T101010Z")  # built later
    feeds.invalidate()
    again = await feeds.feed("tabarak")
    assert first is not None
    assert again is not None
    assert again.etag == first.etag
    assert again.last_modified == first.last_modified
    assert again.body == first.body
    database.body = FEED.replace(b"X:1", b"X:2")  # changed
    feeds.invalidate()
    changed = await feeds.feed("tabarak")
    assert changed is not None
    assert changed.etag != first.etag
    assert changed.last_modified > first.last_modified


async def test_feeds_never_hold_more_than_their_slots_of_the_database() -> None:
    database = Database()
    feeds = CalendarFeeds(database.build, database.case_ids, slots=1, wait=0.2)
    await feeds.feed("tabarak")  # the case ids are known
    feeds.invalidate()
    database.gate.clear()
    holding = asyncio.create_task(feeds.feed("tabarak"))
    await until(lambda: database.builds == 2)
    with pytest.raises(BusyError):  # the other case waits for the one slot, and gives up
        await feeds.feed("other")
    database.gate.set()
    assert await holding is not None


def test_the_tag_ignores_when_the_feed_was_built() -> None:
    assert etag_of(FEED) == etag_of(FEED.replace(b"20260101T000000Z", b"20991231T235959Z"))
    assert etag_of(FEED) != etag_of(FEED.replace(b"X:1", b"X:2"))


# --- end to end ---------------------------------------------------------------------------


@pytest.fixture
async def public_bot(
    fake: FakeBotApi, database_url: str, clock: Clock
) -> AsyncIterator[HearingWatchApp]:
    """On 10 January 2020: the seeded hearings are ahead."""
    clock.now = dt.datetime(2020, 1, 10, 6, 0, tzinfo=dt.UTC)
    settings = make_settings(fake, database_url, server={"public_url": "https://bot.example.org"})
    app = await start_bot(settings, clock)
    yield app
    await stop_bot(app)


def feed_url(app: HearingWatchApp, case_id: str = "tabarak") -> str:
    return f"http://127.0.0.1:{instance_of(app).port}/calendar/{case_id}.ics"


async def test_a_calendar_app_asking_again_gets_304_until_the_schedule_changes(
    public_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    """Issue 16: every request rebuilt the feed from the database; no validator, no 304."""
    async with httpx.AsyncClient() as client:
        first = await client.get(feed_url(public_bot))
        assert first.status_code == 200
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        again = await client.get(feed_url(public_bot), headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        since = await client.get(feed_url(public_bot), headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        stale = await client.get(feed_url(public_bot), headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200
        assert stale.content == first.content
        assert "max-age" in first.headers["cache-control"]

        # An admin moves the hearing: the next request gets the new feed at once.
        admin = fake.private_chat(ADMIN)
        reply = await fake.say(admin, ADMIN, "/edithearing #4 court Panfilov district court")
        assert "Panfilov" in reply["text"]
        moved = await client.get(feed_url(public_bot), headers={"If-None-Match": etag})
        assert moved.status_code == 200
        assert moved.headers["etag"] != etag
        assert b"Panfilov" in moved.content
        old_date = format_datetime(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), usegmt=True)
        older = await client.get(feed_url(public_bot), headers={"If-Modified-Since": old_date})
        assert older.status_code == 200


async def test_a_flood_of_calendar_requests_costs_one_build_and_chats_are_answered(
    public_bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    feeds = instance_of(public_bot).feeds
    feeds.invalidate()
    before = feeds.builds
    chat = fake.private_chat(ALICE)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:
        first = await client.get(feed_url(public_bot))
        requests = [
            client.get(
                feed_url(public_bot),
                headers={"If-None-Match": first.headers["etag"]} if n % 2 else {},
            )
            for n in range(300)
        ]
        flood = asyncio.gather(*requests)
        reply = await fake.say(chat, ALICE, "/cases", seconds=10)
        responses = await flood
    assert "Tilek Tabarak" in reply["text"]
    assert {r.status_code for r in responses} == {200, 304}
    assert feeds.builds - before == 1


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL pass only: instances share a database")
async def test_a_change_on_one_instance_reaches_the_others_feeds_at_once(
    fake: FakeBotApi, database_url: str, clock: Clock
) -> None:
    clock.now = dt.datetime(2020, 1, 10, 6, 0, tzinfo=dt.UTC)
    settings = make_settings(fake, database_url)
    await prepare_database(settings)
    active = Instance(settings, clock=clock)
    standby = Instance(settings, clock=clock)
    try:
        await active.start()
        await active.wait_active()
        await standby.start()
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{standby.port}/calendar/tabarak.ics"
            etag = (await client.get(url)).headers["etag"]
            admin = fake.private_chat(ADMIN)
            reply = await fake.say(admin, ADMIN, "/edithearing #4 court Panfilov district court")
            assert "Panfilov" in reply["text"]
            # The standby hears of it (NOTIFY) and drops its cached feed: no waiting for a TTL.
            await until(lambda: not standby.feeds.is_fresh("tabarak"))
            after = await client.get(url, headers={"If-None-Match": etag})
        assert after.status_code == 200
        assert b"Panfilov" in after.content
    finally:
        await standby.stop()
        await active.stop()


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL pass only: NOTIFY")
async def test_an_import_from_the_command_line_reaches_the_running_bots_feeds(
    public_bot: HearingWatchApp, tmp_path: Path, database_url: str
) -> None:
    feeds = instance_of(public_bot).feeds
    async with httpx.AsyncClient() as client:
        await client.get(feed_url(public_bot))
        assert feeds.is_fresh("tabarak")
        config = tmp_path / "config.toml"
        config.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
        path = tmp_path / "schedule.toml"
        assert await asyncio.to_thread(main, ["export", str(path), "--config", str(config)]) == 0
        path.write_text(
            path.read_text(encoding="utf-8").replace('"Zharkent court"', '"Panfilov court"'),
            encoding="utf-8",
        )
        assert await asyncio.to_thread(main, ["import", str(path), "--config", str(config)]) == 0
        await until(lambda: not feeds.is_fresh("tabarak"))
        assert b"Panfilov" in (await client.get(feed_url(public_bot))).content
