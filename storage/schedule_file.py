"""The schedule as a TOML file: the seed, and what import and export read and write.

```toml
[[cases]]
id = "tabarak"
title = "Tilek Tabarak"
description = "..."

  [[cases.hearings]]
  date = 2020-01-16
  time = "tba"               # or "10:00"
  timezone = "Asia/Almaty"   # optional: [schedule] timezone
  court = "Zharkent court"
  city = "Zharkent"
  status = "scheduled"       # scheduled, postponed, held, cancelled
  postponed_to = 2020-01-21  # optional: the date of the hearing it moved to
  reason = "..."             # optional: why it was postponed or cancelled
```

A hearing is known within its case by its local date and time, which edits never change
(a postponement makes a new hearing), so importing the same file twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import (
    CASE_ID_MAX_LENGTH,
    CASE_ID_PATTERN,
    Case,
    CaseStatus,
    Hearing,
    HearingStatus,
)
from storage.schedule import hearing_instant, hearings_of, is_zone_name, local_start

SEED_FILE = Path(__file__).with_name("seed.toml")
TBA = "tba"


class ScheduleFileError(Exception):
    """A schedule file that cannot be used; ``problems`` are 'where: what' lines."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


def parse_time(text: str) -> dt.time | None:
    """'HH:MM' as a time, 'tba' as None; ValueError otherwise."""
    if text.strip().lower() == TBA:
        return None
    hours, sep, minutes = text.strip().partition(":")
    if not sep or len(minutes) != 2 or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(f"expected HH:MM or tba, got {text!r}")
    return dt.time(int(hours), int(minutes))


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HearingEntry(_Entry):
    date: dt.date
    time: str = TBA
    timezone: str | None = None
    court: Annotated[str, Field(min_length=1, max_length=200)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    address: Annotated[str | None, Field(max_length=300)] = None
    status: HearingStatus = HearingStatus.SCHEDULED
    postponed_to: dt.date | None = None
    reason: Annotated[str | None, Field(max_length=500)] = None

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        at = parse_time(value)
        return TBA if at is None else at.strftime("%H:%M")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not is_zone_name(value):
            raise ValueError(f"unknown time zone {value!r}")
        return value

    @property
    def key(self) -> tuple[dt.date, dt.time | None]:
        return self.date, parse_time(self.time)


class CaseEntry(_Entry):
    id: Annotated[str, Field(pattern=CASE_ID_PATTERN, max_length=CASE_ID_MAX_LENGTH)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    status: CaseStatus = CaseStatus.ACTIVE
    hearings: list[HearingEntry] = []

    @model_validator(mode="after")
    def _consistent_hearings(self) -> Self:
        keys = [hearing.key for hearing in self.hearings]
        if len(set(keys)) != len(keys):
            raise ValueError("two hearings share a date and time")
        dates = {hearing.date for hearing in self.hearings}
        for hearing in self.hearings:
            if hearing.postponed_to is not None and hearing.postponed_to not in dates:
                raise ValueError(
                    f"the hearing of {hearing.date} is postponed_to {hearing.postponed_to},"
                    " which is not a hearing of this case"
                )
        return self


class ScheduleFile(_Entry):
    cases: list[CaseEntry] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [case.id for case in self.cases]
        duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
        if duplicates:
            raise ValueError(f"case ids appear twice: {', '.join(duplicates)}")
        return self


def read_schedule_file(path: Path) -> ScheduleFile:
    """Parse and validate a whole file; every problem is reported, with its location."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScheduleFileError(path, [f"cannot be read: {exc.strerror or exc}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScheduleFileError(path, [f"not valid TOML: {exc}"]) from None
    try:
        return ScheduleFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(
                f"[{part}]" if isinstance(part, int) else str(part) for part in error["loc"]
            ).replace(".[", "[")
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where or 'file'}: {message}")
        raise ScheduleFileError(path, problems) from None


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import changed."""

    cases_added: int = 0
    cases_updated: int = 0
    hearings_added: int = 0
    hearings_updated: int = 0

    @property
    def changed(self) -> bool:
        counts = (self.cases_added, self.cases_updated, self.hearings_added, self.hearings_updated)
        return any(counts)


def _hearing_key(hearing: Hearing) -> tuple[dt.date, dt.time | None]:
    start = local_start(hearing)
    return start.date(), None if hearing.time_tba else start.time()


def _assign(row: object, values: dict[str, object]) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


async def apply_schedule(
    session: AsyncSession, schedule: ScheduleFile, *, default_zone: str
) -> ImportReport:
    """Insert or update every case and hearing in ``schedule``; others are left alone."""
    cases_added = cases_updated = hearings_added = hearings_updated = 0
    for entry in schedule.cases:
        case = await session.get(Case, entry.id)
        values: dict[str, object] = {
            "title": entry.title,
            "description": entry.description,
            "status": entry.status,
        }
        if case is None:
            session.add(Case(id=entry.id, **values))  # type: ignore[arg-type]
            cases_added += 1
        elif _assign(case, values):
            cases_updated += 1
        await session.flush()

        existing = {_hearing_key(h): h for h in await hearings_of(session, entry.id)}
        rows: list[tuple[HearingEntry, Hearing, bool]] = []
        for item in entry.hearings:
            zone = item.timezone or default_zone
            day, at = item.key
            hearing_values: dict[str, object] = {
                "court": item.court,
                "city": item.city,
                "address": item.address,
                "status": item.status,
                "reason": item.reason,
                "timezone": zone,
                "time_tba": at is None,
                "starts_at": hearing_instant(day, at, zone),
            }
            hearing = existing.get(item.key)
            is_new = hearing is None
            if hearing is None:
                hearing = Hearing(case_id=entry.id, **hearing_values)  # type: ignore[arg-type]
                session.add(hearing)
                hearings_added += 1
            elif _assign(hearing, hearing_values):
                hearing.revision += 1  # calendars take the new version of the event
                hearings_updated += 1
            rows.append((item, hearing, is_new))
        await session.flush()  # gives new hearings their ids

        # postponed_to names a date; where a date has a postponed and a live hearing, the live one.
        by_date: dict[dt.date, Hearing] = {}
        for item, hearing, _ in rows:
            if item.date not in by_date or item.status != HearingStatus.POSTPONED:
                by_date[item.date] = hearing
        for item, hearing, is_new in rows:
            target = by_date[item.postponed_to].id if item.postponed_to else None
            if hearing.postponed_to_id != target:
                hearing.postponed_to_id = target
                if not is_new:
                    hearing.revision += 1
                    hearings_updated += 1
        await session.flush()
    return ImportReport(cases_added, cases_updated, hearings_added, hearings_updated)


async def is_empty(session: AsyncSession) -> bool:
    """Whether the schedule has no case at all."""
    return (await session.execute(select(Case.id).limit(1))).first() is None


async def seed_if_empty(session: AsyncSession, *, path: Path, default_zone: str) -> bool:
    """Load the seed file into an empty schedule; True when it did."""
    if not await is_empty(session):
        return False
    await apply_schedule(session, read_schedule_file(path), default_zone=default_zone)
    return True


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string: the same quotes and escapes.
    return json.dumps(value, ensure_ascii=False)


async def export_schedule(session: AsyncSession) -> str:
    """Every case and hearing in the file format ``read_schedule_file`` reads."""
    lines = [
        "# Hearing Watch schedule, written by `hearing-watch export`.",
        "# Edit it and load it back with `hearing-watch import FILE`.",
    ]
    cases = (await session.execute(select(Case).order_by(col(Case.id)))).scalars()
    for case in cases:
        lines += [
            "",
            "[[cases]]",
            f"id = {_toml_string(case.id)}",
            f"title = {_toml_string(case.title)}",
            f"description = {_toml_string(case.description)}",
            f"status = {_toml_string(str(case.status))}",
        ]
        hearings = await hearings_of(session, case.id)
        by_id = {hearing.id: hearing for hearing in hearings}
        for hearing in hearings:
            start = local_start(hearing)
            lines += [
                "",
                "  [[cases.hearings]]",
                f"  date = {start.date().isoformat()}",
                f"  time = {_toml_string(TBA if hearing.time_tba else start.strftime('%H:%M'))}",
                f"  timezone = {_toml_string(hearing.timezone)}",
                f"  court = {_toml_string(hearing.court)}",
                f"  city = {_toml_string(hearing.city)}",
            ]
            if hearing.address:
                lines.append(f"  address = {_toml_string(hearing.address)}")
            lines.append(f"  status = {_toml_string(str(hearing.status))}")
            target = by_id.get(hearing.postponed_to_id) if hearing.postponed_to_id else None
            if target is not None:
                lines.append(f"  postponed_to = {local_start(target).date().isoformat()}")
            if hearing.reason:
                lines.append(f"  reason = {_toml_string(hearing.reason)}")
    return "\n".join(lines) + "\n"
