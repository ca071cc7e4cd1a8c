"""Fixtures: a migrated database (SQLite, or PostgreSQL from TEST_DATABASE_URL), the fake Bot API
and the real Application polling it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import prepare_database
from bot.context import HearingWatchApp
from bot.service import Service
from bot.settings import Settings
from storage.database import Database
from storage.migrate import upgrade
from tests.fakebot import FakeBotApi

# The PostgreSQL pass of CI sets this, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test
DATABASE_URL_VAR = "TEST_DATABASE_URL"
ADMIN_ID = 900_001


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


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(fake: FakeBotApi, database_url: str) -> Settings:
    return Settings(
        telegram={"token": fake.token, "base_url": fake.base_url},
        server={"port": 0},
        database={"url": database_url},
        access={"admins": [ADMIN_ID]},
    )


# The services behind the applications start_bot returned, to stop them.
_services: dict[int, Service] = {}


async def start_bot(settings: Settings, clock: Clock) -> HearingWatchApp:
    """Migrate, seed and start an instance, as `hearing-watch run` does; return once active."""
    await prepare_database(settings)
    service = Service(settings, clock=clock)
    await service.start()
    await service.wait_active()
    _services[id(service.app)] = service
    return service.app


def service_of(app: HearingWatchApp) -> Service:
    """The running service of an application start_bot returned."""
    return _services[id(app)]


async def stop_bot(app: HearingWatchApp) -> None:
    await _services.pop(id(app)).stop()


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[HearingWatchApp]:
    """The real Application, polling the fake Bot API, on a seeded database."""
    app = await start_bot(settings, clock)
    yield app
    await stop_bot(app)
