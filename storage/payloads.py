"""What a broadcast carries besides its text, typed: written and read here only.

``Broadcast.payload`` is a JSON column; these dataclasses are its shapes, one per kind of
broadcast that needs one:

- an outcome says which hearing it records, the outcome itself, and the hearing's revision when
  its preview was made (Send refuses a preview the hearing has changed since);
- news keeps the moderator's text, for the audit trail;
- a reminder keeps its (hearing, offset) and the case and hearing as they were when it was
  queued, so that the sending side renders it again at each chat's turn without a query.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from storage.models import Broadcast, BroadcastKind, Case, Hearing
from storage.wording import stored


@dataclass(frozen=True, slots=True)
class OutcomePayload:
    hearing_id: int
    outcome: str
    revision: int | None = None  # the hearing's, when the preview was made (None: not kept)


@dataclass(frozen=True, slots=True)
class NewsPayload:
    text: str


@dataclass(frozen=True, slots=True)
class ReminderPayload:
    """A reminder of one hearing, with what it needs to be rendered again as it is sent."""

    hearing_id: int
    offset: str
    offsets: tuple[str, ...]  # every offset it stands for (merged ones due at the same time)
    due: datetime
    case_id: str
    case_title: str
    court: str
    city: str
    address: str | None
    starts_at: datetime
    timezone: str
    time_tba: bool
    # The case's and the hearing's words per language (storage.wording); {} before they had any.
    case_translations: dict[str, dict[str, str]] = field(default_factory=dict)
    hearing_translations: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, case: Case, hearing: Hearing, *, offset: str, merged: tuple[str, ...], due: datetime
    ) -> ReminderPayload:
        assert hearing.id is not None
        return cls(
            hearing_id=hearing.id,
            offset=offset,
            offsets=(offset, *merged),
            due=due,
            case_id=case.id,
            case_title=case.title,
            court=hearing.court,
            city=hearing.city,
            address=hearing.address,
            starts_at=hearing.starts_at,
            timezone=hearing.timezone,
            time_tba=hearing.time_tba,
            case_translations=stored(case.translations),
            hearing_translations=stored(hearing.translations),
        )

    def case(self) -> Case:
        """The case as it was when the reminder was queued (not a stored row)."""
        return Case(id=self.case_id, title=self.case_title, translations=self.case_translations)

    def hearing(self) -> Hearing:
        """The hearing as it was when the reminder was queued (not a stored row)."""
        return Hearing(
            id=self.hearing_id,
            case_id=self.case_id,
            court=self.court,
            city=self.city,
            address=self.address,
            starts_at=self.starts_at,
            timezone=self.timezone,
            time_tba=self.time_tba,
            translations=self.hearing_translations,
        )


Payload = OutcomePayload | NewsPayload | ReminderPayload
_KINDS: dict[BroadcastKind, type[Payload]] = {
    BroadcastKind.OUTCOME: OutcomePayload,
    BroadcastKind.UPDATE: NewsPayload,
    BroadcastKind.REMINDER: ReminderPayload,
}
_TIMES = ("due", "starts_at")


def to_json(payload: Payload | None) -> dict[str, Any]:
    """The payload as the JSON column stores it."""
    if payload is None:
        return {}
    values = asdict(payload)
    for name in _TIMES:
        if name in values:
            values[name] = values[name].isoformat()
    if "offsets" in values:
        values["offsets"] = list(values["offsets"])
    return values


def read(kind: BroadcastKind, stored: dict[str, Any] | None) -> Payload | None:
    """The payload of a broadcast of ``kind`` from its JSON column (None for kinds with none,
    and for a reminder queued before reminders carried their hearing)."""
    shape = _KINDS.get(BroadcastKind(kind))
    if shape is None or not stored:
        return None
    values = dict(stored)
    if shape is ReminderPayload:
        if "case" in values:  # written before payloads were typed: nested dictionaries
            case, hearing = values.pop("case"), values.pop("hearing")
            values |= {"case_id": case["id"], "case_title": case["title"]}
            values |= {key: hearing[key] for key in hearing}
        if "case_id" not in values:
            return None
        values["offsets"] = tuple(values.get("offsets") or [values["offset"]])
        for name in _TIMES:
            values[name] = datetime.fromisoformat(values[name])
    fields = shape.__dataclass_fields__
    return shape(**{name: value for name, value in values.items() if name in fields})


def payload_of(broadcast: Broadcast) -> Payload | None:
    """A stored broadcast's payload, typed."""
    return read(broadcast.kind, broadcast.payload)
