"""`hearing-watch import` and `export`: one format, all or nothing, idempotent."""

from __future__ import annotations

import asyncio
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from jobs.reminder_plan import ReminderRules, keys_of
from service.cli import main
from service.settings import Settings
from service.wiring import prepare_database
from storage import editing, schedule
from storage.database import Database
from storage.models import Hearing
from storage.schedule_file import SEED_FILE
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


NEW_CASE = (
    '\n[[cases]]\nid = "new-case"\ntitle = "New"\n'
    '  [[cases.hearings]]\n  date = 2027-03-01\n  time = "tba"\n'
    '  court = "Court"\n  city = "City"\n'
)


async def test_import_with_a_key_moves_the_same_hearing(
    seeded: None, config: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10: a time corrected in the file moves the hearing, with its reminders."""
    path = tmp_path / "schedule.toml"
    path.write_text(NEW_CASE, encoding="utf-8")
    assert await run("import", str(path), "--config", config) == 0
    assert await run("export", str(path), "--config", config) == 0
    exported = path.read_text(encoding="utf-8")
    assert exported.count("  key = ") == 5  # every hearing, the seed's four and the new one
    database = Database(database_url)
    async with database.reading() as session:
        [before] = await schedule.hearings_of(session, "new-case")
    old_keys = keys_of([before], ReminderRules())

    path.write_text(
        exported.replace(
            'date = 2027-03-01\n  time = "tba"', 'date = 2027-03-01\n  time = "10:00"'
        ),
        encoding="utf-8",
    )
    capsys.readouterr()
    assert await run("import", str(path), "--config", config) == 0
    assert "0 cases added, 0 updated; 0 hearings added, 1 updated" in capsys.readouterr().out
    async with database.reading() as session:
        [after] = await schedule.hearings_of(session, "new-case")
        audit = await latest_audit(session, 1)
    await database.dispose()
    assert after.id == before.id
    assert after.key == before.key
    assert (after.time_tba, after.starts_at) == (False, datetime(2027, 3, 1, 5, 0, tzinfo=UTC))
    assert after.revision == before.revision + 1
    new_keys = keys_of([after], ReminderRules())
    assert not new_keys & old_keys  # fresh reminders for the new hour, none left for the old
    assert all("20270301T050000Z" in key for key in new_keys)
    assert audit[0].action == "import"

    capsys.readouterr()
    assert await run("import", str(path), "--config", config) == 0  # again: nothing to do
    assert "0 hearings added, 0 updated" in capsys.readouterr().out
    assert await run("export", "--config", config) == 0
    # The same file, but for the fingerprint of the moved hearing (what export found then).
    assert without_fingerprints(capsys.readouterr().out) == without_fingerprints(
        path.read_text(encoding="utf-8")
    )


def without_fingerprints(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "fingerprint = " not in line)


async def test_a_file_without_keys_is_matched_by_date_and_time(
    seeded: None, config: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(SEED_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    database = Database(database_url)
    before = await snapshot(database)
    assert await run("import", str(path), "--config", config) == 0
    assert "0 cases added, 0 updated; 0 hearings added, 0 updated" in capsys.readouterr().out
    assert await snapshot(database) == before
    await database.dispose()


async def test_a_key_cannot_move_a_hearing_onto_another(
    seeded: None, config: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file names the scheduled hearing by its key and moves it onto the postponed one's
    date, which the file leaves out: refused, nothing changes, the place is named."""
    path = tmp_path / "schedule.toml"
    assert await run("export", str(path), "--config", config) == 0
    exported = tomllib.loads(path.read_text(encoding="utf-8"))
    tabarak = next(case for case in exported["cases"] if case["id"] == "tabarak")
    postponed, scheduled = tabarak["hearings"]
    path.write_text(
        '[[cases]]\nid = "tabarak"\ntitle = "Tilek Tabarak"\n'
        f'  [[cases.hearings]]\n  key = "{scheduled["key"]}"\n  date = {postponed["date"]}\n'
        '  time = "tba"\n  court = "Zharkent court"\n  city = "Zharkent"\n',
        encoding="utf-8",
    )
    database = Database(database_url)
    before = await snapshot(database)
    capsys.readouterr()
    assert await run("import", str(path), "--config", config) != 0
    err = capsys.readouterr().err
    assert "nothing was changed" in err
    assert "cases[0].hearings[0]: 2020-01-05 tba is the date and time of hearing #" in err
    assert await snapshot(database) == before
    await database.dispose()


async def postpone_in_the_database(database_url: str, case_id: str = "tabarak") -> int:
    """A moderator postpones the case's scheduled hearing after the file was exported."""
    database = Database(database_url)
    try:
        async with database.writing() as session:
            scheduled = [
                h for h in await schedule.hearings_of(session, case_id) if h.status == "scheduled"
            ][-1]
            assert scheduled.id is not None
            await editing.postpone(
                session,
                actor=1,
                hearing_id=scheduled.id,
                day=date(2027, 2, 1),
                at=None,
                reason="the judge is ill",
                now=datetime(2026, 11, 22, tzinfo=UTC),
            )
        return scheduled.id
    finally:
        await database.dispose()


async def test_an_old_export_does_not_undo_a_postponement_made_since(
    seeded: None, config: str, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: a file exported before a postponement is refused, naming the hearing, unless
    --force; nothing changes meanwhile."""
    path = tmp_path / "schedule.toml"
    assert await run("export", str(path), "--config", config) == 0
    assert path.read_text(encoding="utf-8").count("  fingerprint = ") == 4
    moved = await postpone_in_the_database(database_url)
    database = Database(database_url)
    before = await snapshot(database)
    capsys.readouterr()
    assert await run("import", str(path), "--config", config) != 0
    err = capsys.readouterr().err
    assert "nothing was changed" in err
    assert f"hearing #{moved} (2020-01-16 tba, postponed) was changed in the database after" in err
    assert "--force" in err
    assert err.count("was changed in the database") == 1  # the others are as exported
    assert await snapshot(database) == before

    assert await run("import", str(path), "--force", "--config", config) == 0
    async with database.reading() as session:
        hearing = await session.get(Hearing, moved)
    await database.dispose()
    assert hearing is not None
    assert hearing.status == "scheduled"  # the operator asked for the file's version


async def test_a_description_over_3000_characters_is_refused(
    seeded: None, config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(
        f'[[cases]]\nid = "long"\ntitle = "Long"\ndescription = "{"x" * 3001}"\n',
        encoding="utf-8",
    )
    assert await run("import", str(path), "--config", config) != 0
    err = capsys.readouterr().err
    assert "cases[0].description: 3,001 characters, at most 3,000" in err
