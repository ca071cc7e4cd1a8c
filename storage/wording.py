"""The schedule's own words in several languages: a case's title and description, a hearing's
court, city and address.

Staff give such a text once for everyone, or a version per language, each block starting with
its code on a line of its own (as ``/update`` takes news)::

    kk: Жаркент аудандық соты
    ru: Жаркентский районный суд

A row keeps its plain column as the first version given, so that every path that reads only
the column (old code, exports, the audit) stays valid, and every version in a JSON column
``translations`` ({field: {language: text}}, in the order given). A reader gets their
language's version, else the first one given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

LANGUAGES: Final = ("kk", "ru", "en")
_BLOCK = re.compile(r"^(kk|ru|en)\s*:\s?(.*)$", re.IGNORECASE)

Versions = dict[str, str]  # language → text, the first given first
Translations = dict[str, Versions]  # field → its versions


class WordingError(ValueError):
    """A text in blocks that cannot be read: ``problem`` is "twice" or "empty", ``language``
    the block's."""

    def __init__(self, problem: str, language: str) -> None:
        super().__init__(f"the {language} version is {problem}")
        self.problem = problem
        self.language = language


def versions(text: str) -> Versions:
    """The versions of a text given in blocks, in the order given; {} when it starts with no
    block (one text for everyone). Each version is stripped; an empty or repeated one is a
    WordingError."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.strip().split("\n"):
        match = _BLOCK.match(line.strip())
        if match:
            current = match.group(1).lower()
            if current in found:
                raise WordingError("given twice", current)
            found[current] = [match.group(2)]
        elif current is None:
            return {}
        else:
            found[current].append(line)
    result = {language: "\n".join(lines).strip() for language, lines in found.items()}
    for language, version in result.items():
        if not version:
            raise WordingError("empty", language)
    return result


def join(given: Mapping[str, str]) -> str:
    """Versions written back as blocks (one version for everyone: its text alone)."""
    if len(given) == 1 and "" in given:
        return given[""]
    return "\n".join(f"{language}: {text}" for language, text in given.items())


def split(text: str) -> tuple[str, Versions]:
    """(the plain column's value: the first version, every version given) of a text as staff
    typed it; {} when it is one text for everyone."""
    given = versions(text)
    if not given:
        return text, {}
    return next(iter(given.values())), given


def pick(plain: str, given: Mapping[str, str] | None, language: str) -> str:
    """The text a reader of ``language`` gets: their version, else the first one given."""
    if not given:
        return plain
    return given.get(language) or next(iter(given.values()), plain)


def typed(plain: str | None, given: Mapping[str, str] | None) -> str | None:
    """A stored text as staff would type it again: blocks when it has versions."""
    if given:
        return join(given)
    return plain


def stored(translations: Mapping[str, Mapping[str, str]] | None) -> Translations:
    """The translations column as a plain dictionary (a driver may hand back None)."""
    return {field: dict(given) for field, given in (translations or {}).items() if given}


def with_field(
    translations: Mapping[str, Mapping[str, str]] | None, field: str, given: Mapping[str, str]
) -> Translations:
    """The translations with one field's versions replaced (none: one text for everyone)."""
    result = stored(translations)
    result.pop(field, None)
    if given:
        result[field] = dict(given)
    return result
