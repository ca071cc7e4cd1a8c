"""Fixtures: a migrated database (SQLite, or PostgreSQL from TEST_DATABASE_URL), the fake Bot API
and the real Application polling it."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.context import HearingWatchApp
from service.instance import Instance
from service.settings import Settings
from service.wiring import Parts, prepare_database
from storage.database import Database
from storage.migrate import upgrade
from tests.fakebot import FakeBotApi, UserRef

# The PostgreSQL pass of CI sets this, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test
DATABASE_URL_VAR = "TEST_DATABASE_URL"
ADMIN_ID = 900_001


async def until(probe: Callable[[], bool], seconds: float = 10.0, every: float = 0.05) -> None:
    """Wait until ``probe()`` holds (a condition of another part that sets no event)."""
    async with asyncio.timeout(seconds):
        while not probe():  # noqa: ASYNC110  (nothing to wait on but the condition itself)
            await asyncio.sleep(every)


@dataclass
class Clock:
    """The bot's idea of now, set by the test: frozen, or running on from a chosen moment."""

    now: datetime = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    shift: timedelta | None = None

    def run_from(self, moment: datetime) -> None:
        """From now on, time passes as in reality, starting at ``moment``."""
        self.shift = moment - datetime.now(UTC)

    def __call__(self) -> datetime:
        if self.shift is not None:
            return datetime.now(UTC) + self.shift
        return self.now


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see no operator's config file or HEARINGWATCH_* variables, and every bot's HTTP
    server takes a free port (not 8080, which two bots, or this machine, may have taken)."""
    for name in list(os.environ):
        if name.startswith("HEARINGWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HEARINGWATCH_SERVER__PORT", "0")
    monkeypatch.chdir(tmp_path)


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    """The URL of an empty database: a fresh SQLite file, or a wiped PostgreSQL schema."""
    url = os.environ.get(DATABASE_URL_VAR)
    if url:
        await _reset_postgres(url)
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'hearing-watch.db'}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database."""
    db = Database(database_url)
    await upgrade(db.engine)
    yield db
    await db.dispose()


@contextlib.asynccontextmanager
async def fake_with_chats(chat_ids: Iterable[int], **options: Any) -> AsyncIterator[FakeBotApi]:
    """The fake Bot API (``options`` as FakeBotApi takes them) with these private chats."""
    async with FakeBotApi(**options) as api:
        for chat_id in chat_ids:
            api.private_chat(UserRef(chat_id))
        yield api


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(fake: FakeBotApi, database_url: str, **sections: dict[str, Any]) -> Settings:
    """Settings for a bot on the fake Bot API and this database, as the tests' admin knows it;
    ``sections`` add to or override them, section by section (``delivery={...}``)."""
    values: dict[str, dict[str, Any]] = {
        "telegram": {"token": fake.token, "base_url": fake.base_url},
        "server": {"port": 0},
        "database": {"url": database_url},
        "access": {"admins": [ADMIN_ID]},
    }
    if fake.limits is None:
        # A fake that enforces no flood limits: the bot need not keep a chat's second either,
        # so a conversation of many steps is not a second per answer. Tests of the limits run
        # the fake with them, and the bot with Telegram's pace.
        values["delivery"] = {"chat_messages_per_second": 1000.0}
    for section, overrides in sections.items():
        values[section] = values.get(section, {}) | overrides
    return Settings(**values)


@pytest.fixture
def settings(fake: FakeBotApi, database_url: str) -> Settings:
    return make_settings(fake, database_url)


# The instances behind the applications start_bot returned, to stop them.
_instances: dict[int, Instance] = {}


async def start_bot(
    settings: Settings, clock: Clock, *, adjust: Callable[[Parts], None] | None = None
) -> HearingWatchApp:
    """Migrate, seed and start an instance, as `hearing-watch run` does; return once active.

    ``adjust`` may change the instance's parts before it starts (a job's timing, say)."""
    await prepare_database(settings)
    instance = Instance(settings, clock=clock)
    if adjust is not None:
        adjust(instance.parts)
    await instance.start()
    await instance.wait_active()
    _instances[id(instance.app)] = instance
    return instance.app


def instance_of(app: HearingWatchApp) -> Instance:
    """The running instance of an application start_bot returned."""
    return _instances[id(app)]


async def stop_bot(app: HearingWatchApp) -> None:
    await _instances.pop(id(app)).stop()


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[HearingWatchApp]:
    """The real Application, polling the fake Bot API, on a seeded database."""
    app = await start_bot(settings, clock)
    yield app
    await stop_bot(app)
