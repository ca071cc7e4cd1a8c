"""The schedule file format: every problem reported with its location."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.schedule_file import SEED_FILE, ScheduleFileError, read_schedule_file

VALID_CASE = '[[cases]]\nid = "x"\ntitle = "X"\n'


def problems(tmp_path: Path, content: str) -> list[str]:
    path = tmp_path / "schedule.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ScheduleFileError) as raised:
        read_schedule_file(path)
    return raised.value.problems


def test_the_seed_is_valid() -> None:
    schedule = read_schedule_file(SEED_FILE)
    assert [case.id for case in schedule.cases] == ["musakhan-alimuly", "tabarak"]


def test_every_problem_is_reported_with_its_place(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[[cases]]\nid = "Bad Id"\ntitle = "X"\n'
        '[[cases]]\nid = "ok"\ntitle = "Y"\n'
        '  [[cases.hearings]]\n  date = 2026-01-01\n  time = "25:99"\n  court = "C"\n'
        '  city = "Z"\n  timezone = "Nowhere/City"\n  colour = "red"\n',
    )
    joined = "\n".join(found)
    assert "cases[0].id" in joined
    assert "cases[1].hearings[0].time" in joined
    assert "cases[1].hearings[0].timezone" in joined
    assert "cases[1].hearings[0].colour" in joined
    assert len(found) == 4


def test_postponed_to_must_name_a_hearing_of_the_case(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        VALID_CASE + '  [[cases.hearings]]\n  date = 2026-01-01\n  court = "C"\n  city = "Z"\n'
        "  postponed_to = 2026-02-02\n",
    )
    assert "not a hearing of this case" in found[0]


def test_duplicate_case_ids(tmp_path: Path) -> None:
    assert "appear twice: x" in problems(tmp_path, VALID_CASE * 2)[0]


def test_bad_toml(tmp_path: Path) -> None:
    assert "not valid TOML" in problems(tmp_path, "[[cases]\n")[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScheduleFileError, match="cannot be read"):
        read_schedule_file(tmp_path / "none.toml")


def test_two_hearings_of_a_case_at_one_date_and_time_or_with_one_key(tmp_path: Path) -> None:
    hearing = '  [[cases.hearings]]\n  key = "{key}"\n  date = 2027-01-0{day}\n  time = "{time}"\n'
    hearing += '  court = "C"\n  city = "Z"\n'
    found = problems(
        tmp_path,
        VALID_CASE
        + hearing.format(key="a", day=1, time="10:00")
        + hearing.format(key="b", day=1, time="10:00")  # the same date and time as a
        + hearing.format(key="c", day=1, time="tba")  # another slot: the hour not announced
        + hearing.format(key="c", day=2, time="tba"),  # the same key as the one before
    )
    assert found == [
        "cases[0]: two hearings are on 2027-01-01 10:00; two hearings have the key 'c'"
    ]
    found = problems(tmp_path, VALID_CASE + hearing.format(key="bad key", day=3, time="tba"))
    assert found == [
        "cases[0].hearings[0].key: 'bad key' is not a key: use letters, digits, - and _, at most 40"
    ]
