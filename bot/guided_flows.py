"""The guided staff commands: each a sequence of steps, and its one-line form read into the
same answers (``bot.parsing``'s parsers), so that the two are one flow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final

from bot.guided import Answers, Flow
from bot.guided_steps import (
    any_hearing,
    by_field,
    case_step,
    check_correction,
    check_postpone,
    check_slot,
    choice_step,
    date_step,
    hearing_step,
    may_have_outcome,
    message_step,
    new_case_step,
    person_step,
    place_step,
    reason_step,
    scheduled_to_move,
    text_step,
    time_step,
    zone_step,
)
from bot.i18n import N_
from bot.parsing import (
    MAX_ADDRESS,
    MAX_CITY,
    MAX_COURT,
    MAX_DESCRIPTION,
    MAX_TITLE,
    parse_addcase,
    parse_addhearing,
    parse_cancelhearing,
    parse_case_id,
    parse_editcase,
    parse_edithearing,
    parse_outcome,
    parse_postpone,
    parse_update,
    parse_user_id,
)
from storage import editing
from storage.models import Role


def _line(**values: Any) -> Answers:
    """Answers from a one-line form's parts, in their normal form."""
    out: Answers = {}
    for name, value in values.items():
        if isinstance(value, dt.time):
            out[name] = value.strftime("%H:%M")
        elif isinstance(value, dt.date):
            out[name] = value.isoformat()
        elif value is None or isinstance(value, str):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def _addcase_line(text: str) -> Answers:
    request = parse_addcase(text)
    return _line(case=request.case_id, title=request.title, description=request.description or None)


def _editcase_line(text: str) -> Answers:
    request = parse_editcase(text)
    return _line(case=request.case_id, field=request.field, value=request.value)


def _addhearing_line(text: str) -> Answers:
    request = parse_addhearing(text)
    return _line(
        case=request.case_id,
        date=request.day,
        time=request.at or "tba",
        court=request.court,
        city=request.city,
        address=request.address,
        zone=request.zone,
    )


def _edithearing_line(text: str) -> Answers:
    request = parse_edithearing(text)
    return _line(hearing=request.hearing_id, field=request.field, value=request.value)


def _postpone_line(text: str) -> Answers:
    request = parse_postpone(text)
    return _line(
        hearing=request.hearing_id,
        date=request.day,
        time=request.at or "tba",
        reason=request.reason,
    )


def _cancelhearing_line(text: str) -> Answers:
    request = parse_cancelhearing(text)
    return _line(hearing=request.hearing_id, reason=request.reason)


def _outcome_line(text: str) -> Answers:
    request = parse_outcome(text)
    return _line(hearing=request.hearing_id, text=request.text)


def _update_line(text: str) -> Answers:
    request = parse_update(text)
    return _line(case=request.case_id, text=request.text)


def _user_line(command: str) -> Callable[[str], Answers]:
    return lambda text: _line(user=parse_user_id(command, text))


_REASON_POSTPONED = N_("Why was it postponed? Subscribers will read it. Type it, or Skip.")
_REASON_CANCELLED = N_("Why is it cancelled? Subscribers will read it. Type it, or Skip.")
_COURT = N_("Which court? Choose one this case has used, or type its name.")
_CITY = N_("In which city? Choose one this case has used, or type it.")
_ADDRESS = N_("At what address? Choose one this case has used, type it, or Skip.")

FLOWS: Final[dict[str, Flow]] = {
    flow.command: flow
    for flow in (
        Flow(
            "addcase",
            Role.ADMIN,
            (
                new_case_step(),
                text_step(
                    "addcase",
                    "title",
                    N_("What is its title, as supporters will read it?"),
                    what="title",
                    limit=MAX_TITLE,
                ),
                text_step(
                    "addcase",
                    "description",
                    N_("A description: who is on trial, and why? Type it, or Skip."),
                    what="description",
                    limit=MAX_DESCRIPTION,
                    optional=True,
                    multiline=True,
                ),
            ),
            _addcase_line,
        ),
        Flow(
            "editcase",
            Role.ADMIN,
            (
                case_step("editcase"),
                choice_step(
                    "editcase",
                    "field",
                    N_("What do you want to change?"),
                    ("title", "description"),
                    N_("“{word}” is not a field of a case: use title or description."),
                ),
                by_field(
                    "value",
                    {
                        "title": text_step(
                            "editcase",
                            "value",
                            N_("What is the new title?"),
                            what="title",
                            limit=MAX_TITLE,
                        ),
                        "description": text_step(
                            "editcase",
                            "value",
                            N_("What is the new description?"),
                            what="description",
                            limit=MAX_DESCRIPTION,
                            multiline=True,
                        ),
                    },
                ),
            ),
            _editcase_line,
        ),
        Flow(
            "closecase",
            Role.ADMIN,
            (case_step("closecase", question=N_("Which case should be closed?")),),
            lambda text: _line(case=parse_case_id("closecase", text)),
        ),
        Flow(
            "addhearing",
            Role.ADMIN,
            (
                case_step("addhearing"),
                date_step("addhearing", N_("On which date?")),
                time_step("addhearing", N_("At what time?"), check=check_slot),
                place_step("addhearing", "court", _COURT, what="court", limit=MAX_COURT),
                place_step("addhearing", "city", _CITY, what="city", limit=MAX_CITY),
                place_step(
                    "addhearing",
                    "address",
                    _ADDRESS,
                    what="address",
                    limit=MAX_ADDRESS,
                    optional=True,
                ),
            ),
            _addhearing_line,
        ),
        Flow(
            "edithearing",
            Role.ADMIN,
            (
                hearing_step("edithearing", any_hearing),
                choice_step(
                    "edithearing",
                    "field",
                    N_("What do you want to change?"),
                    editing.HEARING_FIELDS,
                    N_(
                        "“{word}” is not a field of a hearing: use court, city, address, zone,"
                        " time or date."
                    ),
                ),
                by_field(
                    "value",
                    {
                        "court": place_step(
                            "edithearing", "value", _COURT, what="court", limit=MAX_COURT
                        ),
                        "city": place_step(
                            "edithearing", "value", _CITY, what="city", limit=MAX_CITY
                        ),
                        "address": place_step(
                            "edithearing",
                            "value",
                            N_(
                                "What is the address now? Choose one this case has used, type"
                                " it, or choose No address."
                            ),
                            what="address",
                            limit=MAX_ADDRESS,
                            clearable=True,
                        ),
                        "zone": zone_step(),
                        "time": time_step(
                            "edithearing",
                            N_("At what time does it start?"),
                            name="value",
                            tba=False,
                            check=check_correction,
                        ),
                        "date": date_step(
                            "edithearing",
                            N_("On which date is it?"),
                            name="value",
                            check=check_correction,
                        ),
                    },
                ),
            ),
            _edithearing_line,
        ),
        Flow(
            "postpone",
            Role.MODERATOR,
            (
                hearing_step("postpone", scheduled_to_move),
                date_step("postpone", N_("To which date?")),
                time_step("postpone", N_("At what time?"), check=check_postpone),
                reason_step("postpone", _REASON_POSTPONED),
            ),
            _postpone_line,
        ),
        Flow(
            "cancelhearing",
            Role.ADMIN,
            (
                hearing_step("cancelhearing", editing.check_cancellable),
                reason_step("cancelhearing", _REASON_CANCELLED),
            ),
            _cancelhearing_line,
        ),
        Flow(
            "outcome",
            Role.MODERATOR,
            (
                hearing_step("outcome", may_have_outcome, recent=True),
                message_step("outcome", N_("What did the court decide?")),
            ),
            _outcome_line,
        ),
        Flow(
            "update",
            Role.MODERATOR,
            (case_step("update"), message_step("update", N_("What is the news?"))),
            _update_line,
        ),
        Flow(
            "grant",
            Role.ADMIN,
            (
                person_step(
                    "grant",
                    N_(
                        "Who should become a moderator? Press Choose a person, or type their"
                        " numeric Telegram user id. /cancel stops."
                    ),
                ),
            ),
            _user_line("grant"),
        ),
        Flow(
            "revoke",
            Role.ADMIN,
            (
                person_step(
                    "revoke",
                    N_(
                        "Who should no longer be a moderator? Press Choose a person, or type"
                        " their numeric Telegram user id. /cancel stops."
                    ),
                ),
            ),
            _user_line("revoke"),
        ),
    )
}
