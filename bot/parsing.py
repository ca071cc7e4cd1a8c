"""Parsers of the staff commands' arguments: text in, a typed request or a UsageError out.

Pure functions with no Telegram in them; every error says what was expected, with an example.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from bot.i18n import N_
from storage.editing import CASE_FIELDS, HEARING_FIELDS, CaseField, HearingField
from storage.errors import UserError
from storage.models import CASE_ID_MAX_LENGTH, CASE_ID_PATTERN
from storage.schedule import is_zone_name, normalise_case_id
from storage.schedule_file import parse_time
from storage.text import code_point, first_control, is_line_break, normalise_newlines
from storage.wording import Versions, WordingError, join, versions

MAX_TITLE: Final = 200
MAX_DESCRIPTION: Final = 3000
MAX_COURT: Final = 200
MAX_CITY: Final = 100
MAX_ADDRESS: Final = 300
MAX_REASON: Final = 500
MAX_AUDIT: Final = 100
DEFAULT_AUDIT: Final = 20

EXAMPLES: Final = {
    "addcase": N_("/addcase tabarak Tilek Tabarak\n(further lines: the description)"),
    "editcase": N_("/editcase tabarak title Tilek Tabarak"),
    "closecase": N_("/closecase tabarak"),
    "addhearing": N_("/addhearing tabarak 2026-12-16 10:00 Zharkent court; Zharkent; Pushkin St 1"),
    "edithearing": N_(
        "/edithearing #3 time 10:00 or /edithearing #3 court Panfilov district court"
    ),
    "postpone": N_("/postpone #3 2026-12-21 tba the judge is ill"),
    "cancelhearing": N_("/cancelhearing #3 the charges were dropped"),
    "hearings": N_("/hearings or /hearings tabarak"),
    "grant": N_("/grant 123456789"),
    "revoke": N_("/revoke 123456789"),
    "audit": N_("/audit or /audit 50"),
    "outcome": N_("/outcome #3 The court ruled to deport; the lawyer will appeal."),
    "update": N_("/update tabarak The appeal hearing is expected in March."),
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEARING_ID = re.compile(r"^#?(\d{1,9})$")
_USER_ID = re.compile(r"^\d{1,15}$")
_CASE_ID = re.compile(CASE_ID_PATTERN)
_CLEAR = ("-", "none")


class UsageError(UserError):
    """Input a staff member can fix; the message says how, and the bot adds an example of the
    command (``EXAMPLES``)."""

    def __init__(self, command: str, problem: str, /, **values: object) -> None:
        super().__init__(problem, **values)
        self.command = command

    def __str__(self) -> str:
        return f"{super().__str__()}\nFor example: {EXAMPLES[self.command]}"


def arguments(text: str) -> str:
    """A message's text without its leading /command (or /command@bot)."""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) == 2 and parts[0].startswith("/") else ""


def _words(text: str, count: int) -> list[str]:
    """The first ``count`` words and the rest (which keeps its line breaks)."""
    return text.split(None, count)


def _case_id(command: str, word: str) -> str:
    case_id = normalise_case_id(word)
    if len(case_id) > CASE_ID_MAX_LENGTH or not _CASE_ID.match(case_id):
        raise UsageError(
            command,
            "“{word}” is not a case id: use lowercase letters, digits and dashes, at most {limit}.",
            word=word[:50],
            limit=CASE_ID_MAX_LENGTH,
        )
    return case_id


def _hearing_id(command: str, word: str) -> int:
    match = _HEARING_ID.match(word)
    if not match:
        raise UsageError(command, "“{word}” is not a hearing id; write it as #N.", word=word[:50])
    return int(match.group(1))


def _date(command: str, word: str) -> dt.date:
    if _DATE.match(word):
        try:
            return dt.date.fromisoformat(word)
        except ValueError:
            pass
    raise UsageError(command, "“{word}” is not a date; write it as YYYY-MM-DD.", word=word[:50])


def _time(command: str, word: str) -> dt.time | None:
    try:
        return parse_time(word)
    except ValueError:
        raise UsageError(
            command,
            "“{word}” is not a time; write HH:MM, or tba if not announced.",
            word=word[:50],
        ) from None


def _zone(command: str, name: str) -> str:
    if not is_zone_name(name):
        raise UsageError(
            command,
            "“{name}” is not a time zone; use a name such as Asia/Almaty.",
            name=name[:50],
        )
    return name


def _plain(command: str, what: str, value: str, *, multiline: bool = False) -> str:
    """``value`` if it holds no control character (multi-line text: \\n and tabs only, \\r\\n
    taken as \\n); otherwise a UsageError naming the character, which nobody can see."""
    if multiline:
        value = normalise_newlines(value)
    character = first_control(value, multiline=multiline)
    if character is None:
        return value
    if is_line_break(character):
        raise UsageError(
            command,
            "The {what} must be one line: it contains a line break ({code}).",
            what=what,
            code=code_point(character),
        )
    raise UsageError(
        command,
        "The {what} contains an invisible control character ({code}), which cannot go into a"
        " message or a calendar; type it again without it.",
        what=what,
        code=code_point(character),
    )


def _bounded(
    command: str,
    what: str,
    value: str,
    limit: int,
    *,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """``value`` stripped, if it is present (or need not be), short enough and printable."""
    value = _plain(command, what, value.strip(), multiline=multiline)
    if required and not value:
        raise UsageError(command, "The {what} is missing.", what=what)
    if len(value) > limit:
        raise UsageError(
            command,
            "The {what} is too long: {length} characters, at most {limit}.",
            what=what,
            length=len(value),
            limit=limit,
        )
    return value


def _blocks(command: str, text: str) -> Versions:
    """The versions of a text given in blocks per language ({}: one text for everyone)."""
    return parse_versions(command, normalise_newlines(text))


def _one_line(command: str, what: str, value: str) -> str:
    """A place as typed: one line (checked before spaces are tidied, which would hide some
    control characters and keep others), its spaces tidied."""
    return " ".join(_plain(command, what, value.strip()).split())


def _worded(
    command: str,
    what: str,
    value: str,
    limit: int,
    *,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """A schedule's text (a title, a description, a court, a city, an address) given once for
    everyone or in blocks per language (``kk: …`` on a line of its own, storage.wording): each
    version checked as ``_bounded`` checks one text, and given back as blocks again."""
    given = _blocks(command, value)
    if not given:
        if not multiline:
            value = _one_line(command, what, value)
        return _bounded(command, what, value, limit, required=required, multiline=multiline)
    checked = {}
    for language, version in given.items():
        if not multiline:
            version = _one_line(command, what, version)
        checked[language] = _bounded(command, what, version, limit, multiline=multiline)
    return join(checked)


def _reason(command: str, text: str) -> str | None:
    return _bounded(command, "reason", text, MAX_REASON, required=False, multiline=True) or None


@dataclass(frozen=True, slots=True)
class AddCase:
    case_id: str
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class EditCase:
    case_id: str
    field: CaseField
    value: str


@dataclass(frozen=True, slots=True)
class AddHearing:
    case_id: str
    day: dt.date
    at: dt.time | None
    court: str
    city: str
    address: str | None
    zone: str | None  # None: the configured default


@dataclass(frozen=True, slots=True)
class EditHearing:
    hearing_id: int
    field: HearingField
    value: str | None


@dataclass(frozen=True, slots=True)
class Postpone:
    hearing_id: int
    day: dt.date
    at: dt.time | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class CancelHearing:
    hearing_id: int
    reason: str | None


def parse_addcase(text: str) -> AddCase:
    """``<id> <title>``, further lines the description; or ``<id>`` alone, then a block per
    language (``kk: <title>``, further lines its description)."""
    first, _, description = text.partition("\n")
    words = _words(first, 1)
    given = _blocks("addcase", description) if len(words) == 1 else {}
    if given:
        titles: Versions = {}
        descriptions: Versions = {}
        for language, block in given.items():
            title, _, about = block.partition("\n")
            titles[language] = _bounded("addcase", "title", title, MAX_TITLE)
            about = _bounded(
                "addcase", "description", about, MAX_DESCRIPTION, required=False, multiline=True
            )
            if about:
                descriptions[language] = about
        return AddCase(
            case_id=_case_id("addcase", words[0]),
            title=join(titles),
            description=join(descriptions) if descriptions else "",
        )
    if len(words) < 2:
        raise UsageError("addcase", "Give the new case's id and its title.")
    return AddCase(
        case_id=_case_id("addcase", words[0]),
        title=_bounded("addcase", "title", words[1], MAX_TITLE),
        description=_bounded(
            "addcase", "description", description, MAX_DESCRIPTION, required=False, multiline=True
        ),
    )


def parse_editcase(text: str) -> EditCase:
    """``<id> <title|description> <value>``."""
    words = _words(text, 2)
    if len(words) < 3:
        raise UsageError(
            "editcase", "Give the case id, the field (title or description) and the new value."
        )
    field = words[1].lower()
    if field not in CASE_FIELDS:
        raise UsageError(
            "editcase",
            "“{word}” is not a field of a case: use title or description.",
            word=words[1][:50],
        )
    limit = MAX_TITLE if field == "title" else MAX_DESCRIPTION
    return EditCase(
        case_id=_case_id("editcase", words[0]),
        field=field,
        value=_worded("editcase", field, words[2], limit, multiline=field == "description"),
    )


def parse_case_id(command: str, text: str) -> str:
    """A single case id, as /closecase takes."""
    words = text.split()
    if len(words) != 1:
        raise UsageError(command, "Give exactly one case id.")
    return _case_id(command, words[0])


def parse_optional_case_id(command: str, text: str) -> str | None:
    """Nothing, or one case id, as /hearings takes."""
    return parse_case_id(command, text) if text.strip() else None


def parse_addhearing(text: str) -> AddHearing:
    """``<case-id> <YYYY-MM-DD> <HH:MM|tba> <court>; <city>[; <address>] [tz=Area/City]``; or
    the place on the lines after, a block per language: ``kk: <court>; <city>[; <address>]``."""
    first, _, rest = normalise_newlines(text).partition("\n")
    if len(first.split()) in (3, 4) and rest.strip():
        given = _blocks("addhearing", rest)
        if given:
            return _addhearing_in_blocks(first.split(), given)
    words = _words(text, 3)
    if len(words) < 4:
        raise UsageError("addhearing", "Give the case id, date, time (or tba), court and city.")
    case_id = _case_id("addhearing", words[0])
    day = _date("addhearing", words[1])
    at = _time("addhearing", words[2])
    # Each part of the place is one line, checked before spaces are tidied (which would hide
    # some control characters and keep others).
    for what, part in zip(("court", "city", "address"), words[3].split(";"), strict=False):
        _plain("addhearing", what, part.strip())
    rest = " ".join(words[3].split())
    zone = None
    tail = rest.rsplit(None, 1)
    if tail and tail[-1].lower().startswith("tz="):
        zone = _zone("addhearing", tail[-1][3:])
        rest = tail[0] if len(tail) == 2 else ""
    parts = [part.strip() for part in rest.split(";")]
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise UsageError(
            "addhearing",
            "Give the court and the city separated by “;” (and an address after another “;”).",
        )
    address = parts[2] if len(parts) == 3 else ""
    return AddHearing(
        case_id=case_id,
        day=day,
        at=at,
        court=_bounded("addhearing", "court", parts[0], MAX_COURT),
        city=_bounded("addhearing", "city", parts[1], MAX_CITY),
        address=_bounded("addhearing", "address", address, MAX_ADDRESS, required=False) or None,
        zone=zone,
    )


def _addhearing_in_blocks(words: list[str], given: Versions) -> AddHearing:
    """/addhearing with its place in a block per language (see parse_addhearing)."""
    zone = None
    if len(words) == 4:
        if not words[3].lower().startswith("tz="):
            raise UsageError(
                "addhearing",
                "Give the court and the city separated by “;” (and an address after another “;”).",
            )
        zone = _zone("addhearing", words[3][3:])
    places: dict[str, Versions] = {"court": {}, "city": {}, "address": {}}
    limits = {"court": MAX_COURT, "city": MAX_CITY, "address": MAX_ADDRESS}
    for language, block in given.items():
        parts = block.split(";")
        if len(parts) not in (2, 3) or not all(part.strip() for part in parts[:2]):
            raise UsageError(
                "addhearing",
                "Give the court and the city separated by “;” (and an address after another “;”).",
            )
        for what, part in zip(("court", "city", "address"), parts, strict=False):
            value = _bounded(
                "addhearing",
                what,
                _one_line("addhearing", what, part),
                limits[what],
                required=what != "address",
            )
            if value:
                places[what][language] = value
    return AddHearing(
        case_id=_case_id("addhearing", words[0]),
        day=_date("addhearing", words[1]),
        at=_time("addhearing", words[2]),
        court=join(places["court"]),
        city=join(places["city"]),
        address=join(places["address"]) if places["address"] else None,
        zone=zone,
    )


def parse_edithearing(text: str) -> EditHearing:
    """``#N <court|city|address|zone|time|date> <value>``; an address of - clears it.

    A time is HH:MM and a date YYYY-MM-DD, both given back in that form.
    """
    words = _words(text, 2)
    if len(words) < 3:
        raise UsageError(
            "edithearing",
            "Give the hearing id, the field (court, city, address, zone, time or date) and the"
            " new value.",
        )
    hearing_id = _hearing_id("edithearing", words[0])
    field = words[1].lower()
    if field not in HEARING_FIELDS:
        raise UsageError(
            "edithearing",
            "“{word}” is not a field of a hearing: use court, city, address, zone, time or date.",
            word=words[1][:50],
        )
    limits = {"court": MAX_COURT, "city": MAX_CITY, "address": MAX_ADDRESS}
    if field in limits:
        if field == "address" and words[2].strip() in _CLEAR:
            return EditHearing(hearing_id=hearing_id, field=field, value=None)
        value: str | None = _worded("edithearing", field, words[2], limits[field])
        return EditHearing(hearing_id=hearing_id, field=field, value=value)
    value = " ".join(words[2].split())
    if field == "time":
        at = _time("edithearing", value or "")
        if at is None:  # "not announced" again is a change of plan: /postpone says so
            raise UsageError(
                "edithearing",
                "Give the hour as HH:MM; to make it not announced again, use /postpone.",
            )
        value = at.strftime("%H:%M")
    elif field == "date":
        value = _date("edithearing", value or "").isoformat()
    elif field == "zone":
        value = _zone("edithearing", value or "")
    return EditHearing(hearing_id=hearing_id, field=field, value=value)


def parse_postpone(text: str) -> Postpone:
    """``#N <YYYY-MM-DD> <HH:MM|tba> [reason]``."""
    words = _words(text, 3)
    if len(words) < 3:
        raise UsageError("postpone", "Give the hearing id, the new date and the new time (or tba).")
    return Postpone(
        hearing_id=_hearing_id("postpone", words[0]),
        day=_date("postpone", words[1]),
        at=_time("postpone", words[2]),
        reason=_reason("postpone", words[3]) if len(words) == 4 else None,
    )


def parse_cancelhearing(text: str) -> CancelHearing:
    """``#N [reason]``."""
    words = _words(text, 1)
    if not words:
        raise UsageError("cancelhearing", "Give the id of the hearing to cancel.")
    return CancelHearing(
        hearing_id=_hearing_id("cancelhearing", words[0]),
        reason=_reason("cancelhearing", words[1]) if len(words) == 2 else None,
    )


def parse_user_id(command: str, text: str) -> int:
    """A numeric Telegram user id, as /grant and /revoke take."""
    words = text.split()
    if len(words) != 1 or not _USER_ID.match(words[0]) or int(words[0]) == 0:
        raise UsageError(
            command,
            "Give the person's numeric Telegram user id (they can get it from @userinfobot).",
        )
    return int(words[0])


def parse_audit(text: str) -> int:
    """How many audit entries to show: nothing for the default, else 1 to 100."""
    words = text.split()
    if not words:
        return DEFAULT_AUDIT
    # isascii: str.isdigit() also accepts "¹", which int() refuses.
    number = words[0] if len(words) == 1 else ""
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_AUDIT:
        raise UsageError(
            "audit", "Give how many entries to show, from 1 to {limit}.", limit=MAX_AUDIT
        )
    return int(words[0])


@dataclass(frozen=True, slots=True)
class Outcome:
    hearing_id: int
    text: str


@dataclass(frozen=True, slots=True)
class CaseNews:
    case_id: str
    text: str


def _message_text(command: str, text: str) -> str:
    """A moderator's text as typed, line breaks kept; the length is checked once framed."""
    if not text.strip():
        raise UsageError(command, "The text to send is missing.")
    return _plain(command, "text", text.strip(), multiline=True)


def parse_outcome(text: str) -> Outcome:
    """``#N <text>``: the outcome of hearing N, any number of lines."""
    words = text.split(None, 1)
    if len(words) < 2:
        raise UsageError("outcome", "Give the hearing id and what the court decided.")
    return Outcome(_hearing_id("outcome", words[0]), _message_text("outcome", words[1]))


def parse_update(text: str) -> CaseNews:
    """``<case-id> <text>``: news about a case, any number of lines."""
    words = text.split(None, 1)
    if len(words) < 2:
        raise UsageError("update", "Give the case id and the news.")
    return CaseNews(_case_id("update", words[0]), _message_text("update", words[1]))


def parse_versions(command: str, text: str) -> Versions:
    """A moderator's text in several languages, one block per language prefixed with its code:

        kk: Сот отырысы 16 қаңтарға ауыстырылды.
        ru: Заседание перенесли на 16 января.

    The versions in the order given ({"kk": ..., "ru": ...}); {} when the text starts with no
    prefix (one text for everyone). Read by storage.wording, as the schedule's own words are.
    """
    try:
        return versions(text)
    except WordingError as error:
        if error.problem == "empty":
            raise UsageError(
                command, "The {language} version is empty.", language=error.language
            ) from None
        raise UsageError(
            command, "The {language} version is given twice.", language=error.language
        ) from None
