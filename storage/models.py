"""Tables. About the people who use the bot only numeric ids are kept: a chat's (with its type,
reachability, language and reminder choice) and, for staff, a user's (with the audit of what
they did)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.wording import pick

CASE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
CASE_ID_MAX_LENGTH = 40  # keeps "unsub:<case-id>" inside Telegram's 64-byte callback data
HEARING_KEY_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,38}[A-Za-z0-9])?$"
HEARING_KEY_MAX_LENGTH = 40


def utcnow() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def new_hearing_key() -> str:
    """A fresh key for a hearing, unique within its case in practice (the index enforces it)."""
    return "h" + secrets.token_hex(4)


class CaseStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class HearingStatus(StrEnum):
    SCHEDULED = "scheduled"
    POSTPONED = "postponed"
    HELD = "held"
    CANCELLED = "cancelled"


class ChatType(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


class Case(SQLModel, table=True):
    """A trial that supporters follow, known by a short slug such as ``tabarak``."""

    __tablename__ = "cases"

    id: str = Field(primary_key=True, max_length=CASE_ID_MAX_LENGTH)
    title: str = Field(max_length=200)
    description: str = ""
    status: CaseStatus = Field(default=CaseStatus.ACTIVE, sa_type=String(16))
    created_at: datetime = Field(default_factory=utcnow)
    # The title and description per language ({"title": {"kk": ..., "ru": ...}}), in the order
    # staff gave them; the plain columns hold the first version given (storage.wording).
    translations: dict[str, dict[str, str]] = Field(default_factory=dict, sa_type=JSON)

    def worded(self, field: str, language: str) -> str:
        """The title or description as a reader of ``language`` gets it."""
        return pick(getattr(self, field), (self.translations or {}).get(field), language)


class Hearing(SQLModel, table=True):
    """One sitting of a court in a case.

    ``starts_at`` is the aware UTC instant; ``timezone`` is the court's IANA zone, kept so the
    local date and hour survive any later change of the zone's offset. When ``time_tba`` is set
    only the date is known and ``starts_at`` is local midnight of that date.
    """

    __tablename__ = "hearings"
    __table_args__ = (
        Index("ix_hearings_case_key", "case_id", "key", unique=True),
        # Two staff adding or moving hearings at the same moment: the database, not only the
        # check in storage.editing, refuses a second live hearing of a case at one date and
        # time. Within a case the instant with its zone is the local date and hour; time_tba
        # tells a date-only hearing (stored at local midnight) from one at 00:00.
        Index(
            "ix_hearings_live_slot",
            "case_id",
            "starts_at",
            "time_tba",
            unique=True,
            sqlite_where=text("status = 'scheduled'"),
            postgresql_where=text("status = 'scheduled'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="cases.id", index=True, max_length=CASE_ID_MAX_LENGTH)
    # How a schedule file names the hearing within its case: import finds it by this key even
    # when its date or time changed. Not the id, so that a file can move between databases.
    key: str = Field(default_factory=new_hearing_key, max_length=HEARING_KEY_MAX_LENGTH)
    court: str = Field(max_length=200)
    city: str = Field(max_length=100)
    address: str | None = Field(default=None, max_length=300)
    starts_at: datetime = Field(index=True)
    timezone: str = Field(max_length=64)
    time_tba: bool = False
    status: HearingStatus = Field(default=HearingStatus.SCHEDULED, sa_type=String(16))
    postponed_to_id: int | None = Field(default=None, foreign_key="hearings.id")
    # Why it was postponed or cancelled, as staff gave it.
    reason: str | None = Field(default=None, max_length=500)
    # What the court decided, as a moderator posted it.
    outcome: str | None = None
    # Grows with every change a calendar shows (court, city, address, zone, time, cancellation):
    # a calendar event's SEQUENCE is made from it, so phones take the new version.
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)
    # The court, city and address per language, as Case.translations.
    translations: dict[str, dict[str, str]] = Field(default_factory=dict, sa_type=JSON)

    def worded(self, field: str, language: str) -> str:
        """The court, city or address ("" when none) as a reader of ``language`` gets it."""
        return pick(getattr(self, field) or "", (self.translations or {}).get(field), language)


class Chat(SQLModel, table=True):
    """A private chat, group or channel that wrote to the bot: its id, type, whether it is
    reachable, and its language and reminder choices; nothing about its members."""

    __tablename__ = "chats"

    # Telegram chat ids need up to 52 bits.
    id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    type: ChatType = Field(sa_type=String(16))
    reachable: bool = True
    # Which reminders the chat wants, as ",1d,2h," (None: the configured default; ",": none).
    reminder_offsets: str | None = Field(default=None, max_length=100)
    # The language the bot writes to it in ("kk", "ru", "en"): chosen with /language, else (for
    # a private chat) the one its Telegram app is set to; None: the configured default.
    language: str | None = Field(default=None, max_length=8)
    language_chosen: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Subscription(SQLModel, table=True):
    """A chat follows a case."""

    __tablename__ = "subscriptions"

    chat_id: int = Field(
        sa_type=BigInteger, foreign_key="chats.id", primary_key=True, ondelete="CASCADE"
    )
    case_id: str = Field(
        foreign_key="cases.id", primary_key=True, index=True, max_length=CASE_ID_MAX_LENGTH
    )
    # The forum topic its reminders and news go to (None: the chat itself, General in a forum).
    # One topic per case and chat: the key is (chat, case).
    message_thread_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Role(StrEnum):
    """Staff roles. Admins come from the config; moderators are granted by command."""

    MODERATOR = "moderator"
    ADMIN = "admin"


class StaffMember(SQLModel, table=True):
    """A moderator, known by numeric Telegram user id only."""

    __tablename__ = "staff"

    user_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    role: Role = Field(default=Role.MODERATOR, sa_type=String(16))
    granted_by: int = Field(sa_type=BigInteger)
    granted_at: datetime = Field(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """One staff action: who did what to which thing, with the values before and after."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    # None when the operator acted from the command line.
    actor_id: int | None = Field(default=None, sa_type=BigInteger)
    action: str = Field(max_length=40)
    subject: str = Field(max_length=80)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class PendingKind(StrEnum):
    """What a confirmation waits to do (storage.staff types its payload)."""

    CLOSE_CASE = "closecase"
    CANCEL_HEARING = "cancelhearing"
    POSTPONE = "postpone"
    CORRECT_HEARING = "edithearing"  # a hearing's hour or date corrected
    GRANT = "grant"


class PendingAction(SQLModel, table=True):
    """A command waiting for its Confirm button; done_at makes it act once. Older than a day it
    is refused (storage.staff.CONFIRMATION_LIFETIME)."""

    __tablename__ = "pending_actions"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int = Field(sa_type=BigInteger)
    kind: PendingKind = Field(max_length=40, sa_type=String(40))
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow)
    done_at: datetime | None = None


class BroadcastKind(StrEnum):
    OUTCOME = "outcome"
    UPDATE = "update"
    NOTICE = "notice"
    REMINDER = "reminder"


class BroadcastStatus(StrEnum):
    DRAFT = "draft"  # previewed, waiting for Send
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"
    STOPPED = "stopped"  # a staff member stopped it while it was sending


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    UNREACHABLE = "unreachable"
    FAILED = "failed"
    SKIPPED = "skipped"  # too late to be worth sending (a reminder of a hearing that has begun)
    STOPPED = "stopped"  # its broadcast was stopped before it was sent


class Broadcast(SQLModel, table=True):
    """One message to every subscriber of a case: staff news, a notice or a reminder.

    Its text is what staff wrote for the public, never anything a supporter sent.
    """

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_reminder_key", "reminder_key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    kind: BroadcastKind = Field(sa_type=String(16))
    # Higher goes first: an outcome is not stuck behind a long update.
    priority: int = 1
    case_id: str = Field(foreign_key="cases.id", max_length=CASE_ID_MAX_LENGTH)
    text: str
    # The text in each language ({"kk": ..., "ru": ...}); ``text`` is for any other.
    texts: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    # What it carries besides its text, by kind: written and read by storage.payloads only.
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: BroadcastStatus = Field(default=BroadcastStatus.DRAFT, sa_type=String(16), index=True)
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    total: int = 0
    # The staff member's preview message, edited in place with progress.
    preview_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    preview_message_id: int | None = None
    preview_language: str | None = Field(default=None, max_length=8)  # the staff member's
    reported: bool = False  # the final report was shown
    # Its figures, stored when it finishes: they outlive its delivery rows, which the purge
    # deletes after [privacy] keep_deliveries_days. None until then.
    sent: int | None = None
    unreachable: int | None = None
    failed: int | None = None
    failure_reasons: dict[str, int] | None = Field(default=None, sa_type=JSON)
    stopped: int | None = None  # deliveries a Stop left unsent
    # Set on reminders: "<hearing>:<instant>:<offset>"; unique, so a reminder is made once.
    reminder_key: str | None = Field(default=None, max_length=80)


class Delivery(SQLModel, table=True):
    """A broadcast to one chat. The table is the queue: nothing waits only in memory."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "chat_id"),
        Index("ix_deliveries_queue", "broadcast_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcasts.id")
    # Indexed: moving a migrated group and erasing a chat find its rows by chat alone, which the
    # (broadcast, chat) constraint cannot serve.
    chat_id: int = Field(sa_type=BigInteger, index=True)
    # The forum topic it goes to, copied from the subscription when queued (None: General).
    message_thread_id: int | None = None
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=String(16))
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = None
    # The instance whose engine claimed this delivery, and until when: another instance (after a
    # handover) leaves it alone until then, so that it is not sent twice.
    leased_by: str | None = Field(default=None, max_length=32)
    lease_until: datetime | None = None


class StaffFlow(SQLModel, table=True):
    """A staff member half-way through a guided command: the answers given so far and the
    question asked now. One per staff member; read and written on every answer, so that another
    instance, or this one after a restart, continues it (bot.guided says why not in memory).

    What staff type here is what they are about to publish or record (titles, reasons, news);
    the row goes when the command ends, is cancelled, is replaced or expires.
    """

    __tablename__ = "staff_flows"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_type=BigInteger, unique=True)
    command: str = Field(max_length=20)
    # The step asked now (its name in bot.guided); the answers before it, by step name.
    step: str = Field(max_length=20)
    answers: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # The values behind the current question's buttons that are too long for callback data
    # (courts, cities), in button order.
    offered: list[str] = Field(default_factory=list, sa_type=JSON)
    # The question shows a reply keyboard (the person picker), to be removed when it ends.
    reply_keyboard: bool = False
    updated_at: datetime = Field(default_factory=utcnow)
