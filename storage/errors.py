"""Errors a person caused: what they asked cannot be done, and the message says what to do."""

from __future__ import annotations


class UserError(Exception):
    """A request the rules refuse; the bot answers with the message, and nothing changed.

    ``message`` is English with ``{placeholders}`` filled from ``values``: the bot translates it
    (it is marked for the catalogs where it is raised) before a person reads it.
    """

    def __init__(self, message: str, /, **values: object) -> None:
        super().__init__(message.format(**values) if values else message)
        self.message = message
        self.values = values


class ScheduleError(UserError):
    """A change the schedule refuses (a date in the past, a hearing that moved meanwhile)."""


class StaffError(UserError):
    """A staff request the roles refuse (granting an admin, say)."""
