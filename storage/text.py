"""Text staff type that ends up in a message or a calendar: printable, and one line where it
must be.

A control character is invisible in a message and breaks a calendar: a title with a line break
made every ``.ics`` of its case fail, and a carriage return wrote a raw CR that lenient calendar
parsers read as a new line. So every entry point (the staff commands' parsers, the guided flows
that use them, the schedule file) refuses them with a line that names the character, and the
calendar writes whatever is stored (older rows included) escaped, never raw.

A title, a court, a city or an address is one line. A description, a reason or a message may
have line breaks (``\\n``, and ``\\r\\n``, which is taken as ``\\n``) and tabs; nothing else.
"""

from __future__ import annotations

import unicodedata

# What str.splitlines() takes for a line break, besides \n: each can end a line somewhere.
LINE_BREAKS = frozenset("\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Allowed where text may run over several lines.
MULTILINE_ALLOWED = frozenset("\n\t")


def is_control(character: str) -> bool:
    """A control character (C0, DEL, C1) or a Unicode line or paragraph separator."""
    return unicodedata.category(character) in ("Cc", "Zl", "Zp")


def normalise_newlines(value: str) -> str:
    """``\\r\\n`` (Windows) as ``\\n``; a lone ``\\r`` stays, to be refused."""
    return value.replace("\r\n", "\n")


def first_control(value: str, *, multiline: bool) -> str | None:
    """The first character of ``value`` that cannot go into a message or a calendar, or None.

    Multi-line text may hold ``\\n`` and tabs; one line holds no control character at all.
    """
    for character in value:
        if is_control(character) and not (multiline and character in MULTILINE_ALLOWED):
            return character
    return None


def code_point(character: str) -> str:
    """'U+000A', how the error names a character nobody can see."""
    return f"U+{ord(character):04X}"


def is_line_break(character: str) -> bool:
    """Whether the character ends a line somewhere (\\n and its kin)."""
    return character == "\n" or character in LINE_BREAKS


def problem(value: str, *, multiline: bool) -> str | None:
    """What is wrong with ``value`` as text for people, in English, or None when nothing is.

    For the schedule file's errors; the bot's parsers say it in the staff member's language.
    """
    character = first_control(value, multiline=multiline)
    if character is None:
        return None
    if is_line_break(character):
        return f"must be one line: it contains a line break ({code_point(character)})"
    return f"contains a control character ({code_point(character)}); remove it"


def for_calendar(value: str, *, multiline: bool = False) -> str:
    """``value`` with every control character a space (in multi-line text, line breaks
    ``\\n``), for a calendar property, which the calendar library then escapes.

    Rows stored before the entry points refused control characters may still hold them.
    """
    value = value.replace("\r\n", "\n")
    return "".join(
        ("\n" if multiline and is_line_break(character) else " ")
        if is_control(character) and not (multiline and character == "\t")
        else character
        for character in value
    )
