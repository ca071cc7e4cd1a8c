"""`hearing-watch import` and `export`: one format, all or nothing, idempotent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import prepare_database
from bot.cli import main
from bot.settings import Settings
from storage import schedule
from storage.database import Database
from storage.staff import latest_audit
from tests.snapshot import snapshot


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    return str(path)


@pytest.fixture
async def seeded(database_url: str) -> None:
    await prepare_database(Settings(database={"url": database_url}))


async def run(*args: str) -> int:
    """The console script, in a thread: it runs its own event loop."""
    return await asyncio.to_thread(main, list(args))


async def test_export_then_import_round_trips(
    seeded: None, config: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = tmp_path / "schedule.toml"
    assert await run("export", str(exported), "--config", config) == 0
    text = exported.read_text(encoding="utf-8")
    assert 'id = "musakhan-alimuly"' in text
    assert "postponed_to = 2020-01-21" in text
    database = Database(database_url)
    before = await snapshot(database)
    assert await run("import", str(exported), "--config", config) == 0
    assert "0 cases added, 0 updated; 0 hearings added, 0 updated" in capsys.readouterr().out
    assert await snapshot(database) == before  # importing what is there changes nothing
    await database.dispose()
    assert await run("export", "--config", config) == 0
    assert capsys.readouterr().out == text


async def test_import_adds_and_updates_and_is_audited(
    seeded: None, config: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = tmp_path / "schedule.toml"
    await run("export", str(exported), "--config", config)
    edited = exported.read_text(encoding="utf-8").replace('"Zharkent court"', '"Panfilov court"')
    edited += (
        '\n[[cases]]\nid = "new-case"\ntitle = "New"\n'
        '  [[cases.hearings]]\n  date = 2027-03-01\n  time = "10:00"\n'
        '  court = "Court"\n  city = "City"\n'
    )
    exported.write_text(edited, encoding="utf-8")
    capsys.readouterr()
    assert await run("import", str(exported), "--config", config) == 0
    assert "1 cases added, 0 updated; 1 hearings added, 2 updated" in capsys.readouterr().out
    assert await run("import", str(exported), "--config", config) == 0
    assert "0 cases added, 0 updated; 0 hearings added, 0 updated" in capsys.readouterr().out
    database = Database(database_url)
    async with database.reading() as session:
        hearings = await schedule.hearings_of(session, "tabarak")
        new = await schedule.hearings_of(session, "new-case")
        audit = await latest_audit(session, 5)
    await database.dispose()
    assert {h.court for h in hearings} == {"Panfilov court"}
    assert new[0].timezone == "Asia/Almaty"  # the configured default
    assert [entry.action for entry in audit] == ["import"]
    assert audit[0].actor_id is None


async def test_a_bad_file_changes_nothing_and_lists_every_problem(
    seeded: None, config: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[cases]]\nid = "good"\ntitle = "Fine"\n'
        '[[cases]]\nid = "Bad Id"\ntitle = ""\n'
        '  [[cases.hearings]]\n  date = "someday"\n  court = "C"\n  city = "Z"\n',
        encoding="utf-8",
    )
    database = Database(database_url)
    before = await snapshot(database)
    assert await run("import", str(bad), "--config", config) != 0
    err = capsys.readouterr().err
    assert "nothing was changed" in err
    for where in ("cases[1].id", "cases[1].title", "cases[1].hearings[0].date"):
        assert where in err
    assert await snapshot(database) == before
    await database.dispose()


async def test_a_zone_folder_is_refused_like_any_unknown_zone(
    seeded: None, config: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[cases]]\nid = "good"\ntitle = "Fine"\n'
        '  [[cases.hearings]]\n  date = 2027-03-01\n  time = "10:00"\n  timezone = "Asia"\n'
        '  court = "C"\n  city = "Z"\n',
        encoding="utf-8",
    )
    database = Database(database_url)
    before = await snapshot(database)
    assert await run("import", str(bad), "--config", config) != 0
    err = capsys.readouterr().err
    assert "cases[0].hearings[0].timezone" in err
    assert "unknown time zone 'Asia'" in err
    assert await snapshot(database) == before
    await database.dispose()


async def test_import_of_a_missing_file(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("import", "/nonexistent.toml", "--config", config) != 0
    assert "cannot be read" in capsys.readouterr().err
