"""The cases' calendar feeds as the HTTP side serves them: from a cache, with validators, and
never with more than a small share of the database.

Anyone may ask for ``/calendar/<case-id>.ics``, as often as they like: a calendar app asks about
once an hour, someone who wants the bot silent asks hundreds of times a second. Built afresh
each time, on the event loop and the connection pool that the handlers and the delivery engine
share, the feed made every other chat wait and the broadcast crawl. So:

- **A cache of bytes per case**, built once per change: dropped when the schedule changes (here,
  or on another instance, which announces it), and at the latest after ``TTL`` (a hearing leaves
  the feed when it ends, and an import on SQLite announces nothing). Several requests for a case
  that is not cached wait for one build. The set of case ids is cached the same way, so a made-up
  id costs no query.
- **Validators**: an ``ETag`` (a digest of the feed without its DTSTAMP lines, which only say
  when it was built: the same on every instance and after every rebuild of an unchanged
  schedule) and a ``Last-Modified``, so a calendar app that asks again gets ``304``.
- **Its own bound on database work**: at most ``SLOTS`` builds at once. A request that cannot
  get one within ``WAIT`` seconds is answered 503 (try later) rather than queueing for a
  connection the handlers and the engine need.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from storage.models import utcnow

T = TypeVar("T")

SLOTS = 2
WAIT = 5.0  # seconds a request may wait for a slot
TTL = 300.0  # seconds a cached feed is served without asking the database
_DTSTAMP = re.compile(rb"^DTSTAMP[;:].*\r\n", re.MULTILINE)


class BusyError(Exception):
    """No slot for the database in time: the feed cannot be had for now."""


@dataclass(frozen=True, slots=True)
class Feed:
    """A case's calendar as served: its bytes and validators."""

    body: bytes
    etag: str  # quoted, as the header carries it
    last_modified: datetime  # when this instance first built these contents


def etag_of(body: bytes) -> str:
    """The feed's entity tag: its contents, whenever and wherever it was built."""
    return '"' + hashlib.sha256(_DTSTAMP.sub(b"", body)).hexdigest()[:32] + '"'


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Mark a shared build's failure as seen: each waiter got it; if all of them gave up,
    asyncio would otherwise complain that nobody did."""
    if not done.cancelled():
        done.exception()


@dataclass(slots=True)
class _Cached:
    feed: Feed | None  # None: no such case
    until: float  # monotonic


BuildFn = Callable[[str], Awaitable[bytes | None]]
CaseIdsFn = Callable[[], Awaitable[set[str]]]


class CalendarFeeds:
    """Serves feeds from a cache; builds them with ``build`` (a case's bytes, or None) and
    knows the cases from ``case_ids``, both of which read the database."""

    def __init__(
        self,
        build: BuildFn,
        case_ids: CaseIdsFn,
        *,
        slots: int = SLOTS,
        wait: float = WAIT,
        ttl: float = TTL,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._build = build
        self._case_ids = case_ids
        self._slots = asyncio.Semaphore(slots)
        self._wait = wait
        self._ttl = ttl
        self._clock = clock
        self._now = now
        self._feeds: dict[str, _Cached] = {}
        self._ids: set[str] | None = None
        self._ids_until = 0.0
        # Builds under way, shared by every request that waits for the same thing.
        self._building: dict[str, asyncio.Future[Feed | None]] = {}
        self._listing: asyncio.Future[set[str]] | None = None
        # Raised by every change: a build that began before one is not cached.
        self._generation = 0
        self.builds = 0  # how many times the database was asked for a feed (for tests)

    def invalidate(self) -> None:
        """The schedule changed: every feed, and the set of cases, is built afresh (the old
        feeds are kept only to tell whether their contents changed)."""
        self._generation += 1
        for cached in self._feeds.values():
            cached.until = -math.inf
        self._ids_until = -math.inf

    def is_fresh(self, case_id: str) -> bool:
        """Whether the case's feed would be served without asking the database."""
        cached = self._feeds.get(case_id)
        return cached is not None and self._clock() < cached.until

    async def feed(self, case_id: str) -> Feed | None:
        """The case's feed, or None when there is no such case; BusyError when the database
        cannot be had in time (or the error of the build)."""
        if case_id not in await self._known_ids():
            return None
        cached = self._feeds.get(case_id)
        if cached is not None and self._clock() < cached.until:
            return cached.feed
        building = self._building.get(case_id)
        if building is None:
            building = asyncio.ensure_future(self._rebuild(case_id, cached))
            self._building[case_id] = building
            building.add_done_callback(lambda done: self._built(case_id, done))
        # Shielded: one request giving up must not cancel the build the others wait for.
        return await asyncio.shield(building)

    def _built(self, case_id: str, done: asyncio.Future[Any]) -> None:
        self._building.pop(case_id, None)
        _retrieve(done)

    def _listed(self, done: asyncio.Future[Any]) -> None:
        self._listing = None
        _retrieve(done)

    async def _rebuild(self, case_id: str, cached: _Cached | None) -> Feed | None:
        generation = self._generation
        body = await self._bounded(lambda: self._build(case_id))
        self.builds += 1
        feed = None
        if body is not None:
            etag = etag_of(body)
            before = cached.feed if cached is not None else None
            # Unchanged contents keep their bytes and their date: a 304 stays a 304.
            feed = before if before is not None and before.etag == etag else None
            feed = feed or Feed(body, etag, self._now().replace(microsecond=0))
        fresh_until = self._clock() + self._ttl if generation == self._generation else -math.inf
        self._feeds[case_id] = _Cached(feed, fresh_until)
        return feed

    async def _known_ids(self) -> set[str]:
        if self._ids is not None and self._clock() < self._ids_until:
            return self._ids
        if self._listing is None:
            self._listing = asyncio.ensure_future(self._list())
            self._listing.add_done_callback(self._listed)
        return await asyncio.shield(self._listing)

    async def _list(self) -> set[str]:
        generation = self._generation
        ids = await self._bounded(self._case_ids)
        if generation == self._generation:
            self._ids, self._ids_until = ids, self._clock() + self._ttl
        return ids

    async def _bounded(self, work: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise BusyError from None
        try:
            return await work()
        finally:
            self._slots.release()
