"""Staff command parsers: exact results for good input, a UsageError (never a crash) otherwise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import parsing
from bot.parsing import UsageError

# Words that reach deep into the parsers, mixed with arbitrary text.
VOCABULARY = [
    "tabarak", "#4", "4", "#", "2027-01-01", "2024-02-30", "10:00", "24:00", "tba", "TBA",
    "tz=Asia/Almaty", "tz=", "tz=../../etc", ";", ";;", "court", "city", "address", "zone",
    "title", "description", "-", "\n", "all", "0", "99999999999", "Asia/Almaty", "é", "\x00",
]  # fmt: skip
TEXT = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=6)), max_size=8).map(" ".join),
)
PARSERS: dict[str, Callable[[str], object]] = {
    "addcase": parsing.parse_addcase,
    "editcase": parsing.parse_editcase,
    "closecase": lambda text: parsing.parse_case_id("closecase", text),
    "addhearing": parsing.parse_addhearing,
    "edithearing": parsing.parse_edithearing,
    "postpone": parsing.parse_postpone,
    "cancelhearing": parsing.parse_cancelhearing,
    "hearings": lambda text: parsing.parse_optional_case_id("hearings", text),
    "grant": lambda text: parsing.parse_user_id("grant", text),
    "audit": parsing.parse_audit,
    "outcome": parsing.parse_outcome,
    "update": parsing.parse_update,
}


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(text=TEXT)
def test_any_text_parses_or_says_what_to_do(name: str, text: str) -> None:
    try:
        PARSERS[name](text)
    except UsageError as exc:
        message = str(exc)
    else:
        return
    assert "For example: /" in message


def test_addhearing_full() -> None:
    request = parsing.parse_addhearing(
        "Tabarak 2026-12-16 10:00 Zharkent court;  Zharkent ; Main St 1 tz=Europe/Vilnius"
    )
    assert request == parsing.AddHearing(
        case_id="tabarak",
        day=dt.date(2026, 12, 16),
        at=dt.time(10, 0),
        court="Zharkent court",
        city="Zharkent",
        address="Main St 1",
        zone="Europe/Vilnius",
    )


def test_addhearing_minimal() -> None:
    request = parsing.parse_addhearing("tabarak 2026-12-16 tba Court; City")
    assert (request.at, request.address, request.zone) == (None, None, None)


def test_addcase_takes_the_description_from_further_lines() -> None:
    request = parsing.parse_addcase("free-ali Ali Free\nLine one.\nLine two.")
    assert request == parsing.AddCase("free-ali", "Ali Free", "Line one.\nLine two.")


def test_postpone_with_and_without_reason() -> None:
    assert parsing.parse_postpone("#3 2027-01-01 tba the judge is ill") == parsing.Postpone(
        3, dt.date(2027, 1, 1), None, "the judge is ill"
    )
    assert parsing.parse_postpone("3 2027-01-01 09:05").reason is None


def test_edithearing_address_dash_clears() -> None:
    assert parsing.parse_edithearing("#2 address -").value is None


def test_arguments_strip_the_command_and_bot_name() -> None:
    assert parsing.arguments("/addcase@hearing_watch_bot x y\nz") == "x y\nz"
    assert parsing.arguments("/audit") == ""


def test_audit_default_and_bounds() -> None:
    assert parsing.parse_audit("") == parsing.DEFAULT_AUDIT
    assert parsing.parse_audit(" 5 ") == 5
    for bad in ("0", "101", "-1", "five"):
        with pytest.raises(UsageError):
            parsing.parse_audit(bad)


def test_too_long_values_are_refused_with_the_limit() -> None:
    with pytest.raises(UsageError, match="at most 200"):
        parsing.parse_addcase("x " + "t" * 201)


@pytest.mark.parametrize("text", ["¹", "²0", "٣"])
def test_digits_of_other_scripts_are_a_usage_error_not_a_crash(text: str) -> None:
    with pytest.raises(parsing.UsageError):
        parsing.parse_audit(text)
    with pytest.raises(parsing.UsageError):
        parsing.parse_postpone(f"#3 2027-01-01 1{text}:00")
