"""The schedule as a TOML file: the seed, and what import and export read and write.

```toml
[[cases]]
id = "tabarak"
title = "Tilek Tabarak"
description = "..."

  [[cases.hearings]]
  key = "h12"                # optional: how the file names the hearing within its case
  date = 2020-01-16
  time = "tba"               # or "10:00"
  timezone = "Asia/Almaty"   # optional: [schedule] timezone
  court = "Zharkent court"   # or one per language: { kk = "...", ru = "...", en = "..." }
  city = "Zharkent"
  status = "scheduled"       # scheduled, postponed, held, cancelled
  postponed_to = 2020-01-21  # optional: the date of the hearing it moved to
  reason = "..."             # optional: why it was postponed or cancelled
  fingerprint = "9f2c..."    # written by export: the hearing as it was then (see below)
```

A case's title and description and a hearing's court, city and address are each one text for
everyone, or an inline table of versions per language (``kk``, ``ru``, ``en``): each reader gets
their language's version, else the first one given (storage.wording).

A hearing is known within its case by its key, which export always writes, so an import can
correct its date or time; one without a key (a file written by hand, the seed) by its local date
and time. No two hearings of a case share a date and time, in a file or in the database, so
importing the same file twice changes nothing and an export imports back as it was.

An exported hearing carries the fingerprint of what export found. An import refuses a file whose
hearings the database has changed since (postponed, cancelled, held, edited), listing them,
unless forced: importing an old export would otherwise silently undo a postponement. A hearing
the file already agrees with is no conflict, so importing an edited export twice is fine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import (
    CASE_ID_MAX_LENGTH,
    CASE_ID_PATTERN,
    HEARING_KEY_MAX_LENGTH,
    HEARING_KEY_PATTERN,
    Case,
    CaseStatus,
    Hearing,
    HearingStatus,
)
from storage.schedule import hearing_instant, hearings_of, is_zone_name, local_slot, local_start
from storage.text import normalise_newlines, problem
from storage.wording import LANGUAGES, Versions, stored, typed

# /case shows the description with the hearings, in messages of at most 4,096 characters; the
# bot's own /addcase and /editcase take no more either.
MAX_DESCRIPTION = 3000

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
    digits = hours + minutes
    # isascii: str.isdigit() also accepts "¹" or "٣", which int() may refuse.
    if not sep or len(minutes) != 2 or not hours or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"expected HH:MM or tba, got {text!r}")
    return dt.time(int(hours), int(minutes))


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _lines(value: str | None) -> str | None:
    """A description or a reason: printable; line breaks allowed (Windows' ones too)."""
    if value is None:
        return None
    value = normalise_newlines(value)
    if wrong := problem(value, multiline=True):
        raise ValueError(wrong)
    return value


# A schedule's text: one for everyone, or a version per language (in the order given).
Words = str | dict[str, str]


def _checked_words(
    value: Words | None, *, multiline: bool, limit: int, required: bool
) -> Words | None:
    """A title, description or place as the file gives it, each version printable (on one line
    unless ``multiline``), present when ``required`` and at most ``limit`` characters."""
    if value is None:
        return None
    if isinstance(value, str):
        return _checked_text(value, multiline=multiline, limit=limit, required=required)
    if not value:
        raise ValueError("give at least one language's version, or one text for everyone")
    checked: dict[str, str] = {}
    for language, text in value.items():
        if language not in LANGUAGES:
            raise ValueError(f"{language[:20]!r} is not a language: use kk, ru or en")
        try:
            checked[language] = _checked_text(text, multiline=multiline, limit=limit, required=True)
        except ValueError as error:
            raise ValueError(f"the {language} version: {error}") from None
    return checked


def _checked_text(value: str, *, multiline: bool, limit: int, required: bool) -> str:
    value = normalise_newlines(value.strip()) if multiline else value.strip()
    if wrong := problem(value, multiline=multiline):
        raise ValueError(wrong)
    if required and not value:
        raise ValueError("is empty")
    if len(value) > limit:
        raise ValueError(f"{len(value):,} characters, at most {limit:,}; shorten it")
    return value


def split_words(value: Words | None) -> tuple[str | None, Versions]:
    """(the plain column's value: the first version, every version; {} when one for all)."""
    if value is None or isinstance(value, str):
        return value, {}
    return next(iter(value.values())), dict(value)


def _typed_words(value: Words | None) -> str | None:
    """A file's text as staff would type it (blocks when it has versions): for fingerprints."""
    plain, given = split_words(value)
    return typed(plain, given)


def slot_text(slot: tuple[dt.date, dt.time | None]) -> str:
    """'2026-12-16 10:00', or '2026-12-16 tba'."""
    day, at = slot
    return f"{day.isoformat()} {TBA if at is None else at.strftime('%H:%M')}"


class HearingEntry(_Entry):
    key: str | None = None
    date: dt.date
    time: str = TBA
    timezone: str | None = None
    court: Words
    city: Words
    address: Words | None = None
    status: HearingStatus = HearingStatus.SCHEDULED
    postponed_to: dt.date | None = None
    reason: Annotated[str | None, Field(max_length=500)] = None
    # The hearing as export found it (see the module's docstring); None in a file by hand.
    fingerprint: Annotated[str | None, Field(pattern=r"^[0-9a-f]{16}$")] = None

    @field_validator("court", "city", "address")
    @classmethod
    def _place(cls, value: Words | None, info: ValidationInfo) -> Words | None:
        limits = {"court": 200, "city": 100, "address": 300}
        return _checked_words(
            value,
            multiline=False,
            limit=limits[str(info.field_name)],
            required=info.field_name != "address",
        )

    _printable_reason = field_validator("reason")(_lines)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        at = parse_time(value)
        return TBA if at is None else at.strftime("%H:%M")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and (
            len(value) > HEARING_KEY_MAX_LENGTH or not re.match(HEARING_KEY_PATTERN, value)
        ):
            raise ValueError(
                f"{value[:50]!r} is not a key: use letters, digits, - and _,"
                f" at most {HEARING_KEY_MAX_LENGTH}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not is_zone_name(value):
            raise ValueError(f"unknown time zone {value!r}")
        return value

    @property
    def slot(self) -> tuple[dt.date, dt.time | None]:
        """The local date and hour (None: not announced)."""
        return self.date, parse_time(self.time)


class CaseEntry(_Entry):
    id: Annotated[str, Field(pattern=CASE_ID_PATTERN, max_length=CASE_ID_MAX_LENGTH)]
    title: Words
    description: Words = ""
    status: CaseStatus = CaseStatus.ACTIVE
    hearings: list[HearingEntry] = []

    @field_validator("title")
    @classmethod
    def _title(cls, value: Words) -> Words:
        checked = _checked_words(value, multiline=False, limit=200, required=True)
        assert checked is not None
        return checked

    @field_validator("description")
    @classmethod
    def _description(cls, value: Words) -> Words:
        if isinstance(value, str):
            value = _lines(value) or ""
            if len(value) > MAX_DESCRIPTION:
                raise ValueError(
                    f"{len(value):,} characters, at most {MAX_DESCRIPTION:,} (as /addcase and"
                    " /editcase allow); shorten it"
                )
            return value
        checked = _checked_words(value, multiline=True, limit=MAX_DESCRIPTION, required=True)
        assert checked is not None
        return checked

    @model_validator(mode="after")
    def _consistent_hearings(self) -> Self:
        problems = []
        slots = [hearing.slot for hearing in self.hearings]
        for slot in sorted({s for s in slots if slots.count(s) > 1}, key=slot_text):
            problems.append(f"two hearings are on {slot_text(slot)}")
        keys = [hearing.key for hearing in self.hearings if hearing.key is not None]
        for key in sorted({k for k in keys if keys.count(k) > 1}):
            problems.append(f"two hearings have the key {key!r}")
        if problems:
            raise ValueError("; ".join(problems))
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
    # Where it was read from: names the file when applying it finds a problem.
    _source: Path = PrivateAttr(default=Path("schedule"))

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
        schedule = ScheduleFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(
                f"[{part}]" if isinstance(part, int) else str(part) for part in error["loc"]
            ).replace(".[", "[")
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where or 'file'}: {message}")
        raise ScheduleFileError(path, problems) from None
    schedule._source = path
    return schedule


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


def _match(items: list[HearingEntry], hearings: list[Hearing]) -> list[Hearing | None]:
    """The stored hearing each entry names (None: a new one).

    By key first; then an entry without a key, or with one this database does not know (a file
    from another database), by its date and time among the hearings no key claimed.
    """
    by_key = {hearing.key: hearing for hearing in hearings}
    matched = [by_key.get(item.key) if item.key else None for item in items]
    claimed = {hearing.id for hearing in matched if hearing is not None}
    free = {local_slot(h): h for h in hearings if h.id not in claimed}
    return [
        hearing or free.pop(item.slot, None) for item, hearing in zip(items, matched, strict=True)
    ]


def fingerprint(
    *,
    day: dt.date,
    time: str,
    zone: str,
    court: str,
    city: str,
    address: str | None,
    status: str,
    postponed_to: dt.date | None,
    reason: str | None,
) -> str:
    """A digest of a hearing as the file shows it: the same in any database it is imported to
    (no ids), and different after any change an import could undo."""
    shown = [
        day.isoformat(), time, zone, court, city, address or "", str(status),
        postponed_to.isoformat() if postponed_to else "", reason or "",
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(shown, ensure_ascii=False).encode()).hexdigest()[:16]


def stored_fingerprint(hearing: Hearing, by_id: dict[int | None, Hearing]) -> str:
    """The fingerprint of a hearing as the database has it (``by_id``: its case's hearings)."""
    start = local_start(hearing)
    target = by_id.get(hearing.postponed_to_id) if hearing.postponed_to_id else None
    # Versions per language count as the text an import could undo; a hearing with none has
    # the fingerprint it had before there were versions.
    given = stored(hearing.translations)
    return fingerprint(
        day=start.date(),
        time=TBA if hearing.time_tba else start.strftime("%H:%M"),
        zone=hearing.timezone,
        court=typed(hearing.court, given.get("court")) or "",
        city=typed(hearing.city, given.get("city")) or "",
        address=typed(hearing.address, given.get("address")),
        status=hearing.status,
        postponed_to=local_start(target).date() if target is not None else None,
        reason=hearing.reason,
    )


def _entry_fingerprint(item: HearingEntry, default_zone: str) -> str:
    """The fingerprint the hearing will have once the file's entry is imported."""
    return fingerprint(
        day=item.date,
        time=item.time,
        zone=item.timezone or default_zone,
        court=_typed_words(item.court) or "",
        city=_typed_words(item.city) or "",
        address=_typed_words(item.address),
        status=item.status,
        postponed_to=item.postponed_to,
        reason=item.reason,
    )


def _changed_since_export(
    case_index: int,
    entry: CaseEntry,
    matches: list[Hearing | None],
    existing: list[Hearing],
    default_zone: str,
) -> list[str]:
    """The hearings of ``entry`` that the database changed after the file was exported and
    that the import would change back, as problems."""
    by_id: dict[int | None, Hearing] = {hearing.id: hearing for hearing in existing}
    problems = []
    for index, (item, hearing) in enumerate(zip(entry.hearings, matches, strict=True)):
        if hearing is None or item.fingerprint is None:
            continue
        now = stored_fingerprint(hearing, by_id)
        if now != item.fingerprint and now != _entry_fingerprint(item, default_zone):
            problems.append(
                f"cases[{case_index}].hearings[{index}]: hearing #{hearing.id}"
                f" ({slot_text(local_slot(hearing))}, {hearing.status}) was changed in the"
                " database after this file was exported; export again and edit the new file,"
                " or import with --force to overwrite that change"
            )
    return problems


def _translations(**fields: Versions) -> dict[str, Versions]:
    return {field: given for field, given in fields.items() if given}


def _assign(row: object, values: dict[str, object]) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


async def apply_schedule(
    session: AsyncSession, schedule: ScheduleFile, *, default_zone: str, force: bool = False
) -> ImportReport:
    """Insert or update every case and hearing in ``schedule``; others are left alone.

    A hearing the file moves onto the date and time of one it does not name, and (unless
    ``force``) one the database changed since the file was exported, are refused with a
    ScheduleFileError listing every such problem; the caller's transaction then changes nothing.
    """
    cases_added = cases_updated = hearings_added = hearings_updated = 0
    problems: list[str] = []
    for case_index, entry in enumerate(schedule.cases):
        case = await session.get(Case, entry.id)
        title, titles = split_words(entry.title)
        description, descriptions = split_words(entry.description)
        values: dict[str, object] = {
            "title": title,
            "description": description,
            "status": entry.status,
            "translations": _translations(title=titles, description=descriptions),
        }
        if case is None:
            session.add(Case(id=entry.id, **values))  # type: ignore[arg-type]
            cases_added += 1
        elif _assign(case, values):
            cases_updated += 1
        await session.flush()

        existing = await hearings_of(session, entry.id)
        matches = _match(entry.hearings, existing)
        named = {hearing.id for hearing in matches if hearing is not None}
        left_alone = {local_slot(h): h for h in existing if h.id not in named}
        clashes = [
            f"cases[{case_index}].hearings[{index}]: {slot_text(item.slot)} is the date and"
            f" time of hearing #{left_alone[item.slot].id} of the case, which the file does not"
            " name; two hearings of a case cannot share them"
            for index, item in enumerate(entry.hearings)
            if item.slot in left_alone
        ]
        if not force:
            clashes += _changed_since_export(case_index, entry, matches, existing, default_zone)
        if clashes:
            problems += clashes
            continue
        rows: list[tuple[HearingEntry, Hearing, bool]] = []
        for item, hearing in zip(entry.hearings, matches, strict=True):
            zone = item.timezone or default_zone
            day, at = item.slot
            court, courts = split_words(item.court)
            city, cities = split_words(item.city)
            address, addresses = split_words(item.address)
            hearing_values: dict[str, object] = {
                "court": court,
                "city": city,
                "address": address,
                "translations": _translations(court=courts, city=cities, address=addresses),
                "status": item.status,
                "reason": item.reason,
                "timezone": zone,
                "time_tba": at is None,
                "starts_at": hearing_instant(day, at, zone),
            }
            if item.key is not None:
                hearing_values["key"] = item.key
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
    if problems:
        raise ScheduleFileError(schedule._source, problems)
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


def _toml_words(plain: str, given: Versions | None) -> str:
    """One text, or an inline table of its versions per language in the order given."""
    if not given:
        return _toml_string(plain)
    return "{ " + ", ".join(f"{lang} = {_toml_string(text)}" for lang, text in given.items()) + " }"


async def export_schedule(session: AsyncSession) -> str:
    """Every case and hearing in the file format ``read_schedule_file`` reads."""
    lines = [
        "# Hearing Watch schedule, written by `hearing-watch export`.",
        "# Edit it and load it back with `hearing-watch import FILE`.",
    ]
    cases = (await session.execute(select(Case).order_by(col(Case.id)))).scalars()
    for case in cases:
        words = stored(case.translations)
        lines += [
            "",
            "[[cases]]",
            f"id = {_toml_string(case.id)}",
            f"title = {_toml_words(case.title, words.get('title'))}",
            f"description = {_toml_words(case.description, words.get('description'))}",
            f"status = {_toml_string(str(case.status))}",
        ]
        hearings = await hearings_of(session, case.id)
        by_id: dict[int | None, Hearing] = {hearing.id: hearing for hearing in hearings}
        for hearing in hearings:
            start = local_start(hearing)
            places = stored(hearing.translations)
            lines += [
                "",
                "  [[cases.hearings]]",
                f"  key = {_toml_string(hearing.key)}",
                f"  date = {start.date().isoformat()}",
                f"  time = {_toml_string(TBA if hearing.time_tba else start.strftime('%H:%M'))}",
                f"  timezone = {_toml_string(hearing.timezone)}",
                f"  court = {_toml_words(hearing.court, places.get('court'))}",
                f"  city = {_toml_words(hearing.city, places.get('city'))}",
            ]
            if hearing.address:
                lines.append(f"  address = {_toml_words(hearing.address, places.get('address'))}")
            lines.append(f"  status = {_toml_string(str(hearing.status))}")
            target = by_id.get(hearing.postponed_to_id) if hearing.postponed_to_id else None
            if target is not None:
                lines.append(f"  postponed_to = {local_start(target).date().isoformat()}")
            if hearing.reason:
                lines.append(f"  reason = {_toml_string(hearing.reason)}")
            lines.append(f"  fingerprint = {_toml_string(stored_fingerprint(hearing, by_id))}")
    return "\n".join(lines) + "\n"
