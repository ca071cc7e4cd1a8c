"""Logging that never shows a secret, and tracebacks that name no chat.

Every line the process writes to stderr passes one redaction: the operator's secrets (the token,
the webhook secret, the log key, the database's password) become ``[redacted]``, in messages
and tracebacks alike, whether a logger wrote them or an exception nobody caught reached the
terminal (``sys.excepthook``, a thread's). In a traceback, where libraries put what they like in
exception messages (a database error's DETAIL line names the row's values), long numbers, which
is what chat and user ids are, become ``[number]``; the bot's own messages refer to chats by
keyed hash (``jobs.logref``) and keep their figures.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType

REDACTED = "[redacted]"
NUMBER = "[number]"
# httpx logs each request's URL, which holds the token, at INFO.
QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler")
# A chat or user id has six digits or more (a group's with a minus); a traceback's line numbers
# and a hex address's digits (preceded by letters) are left alone.
_LONG_NUMBER = re.compile(r"(?<![\w.])-?\d{6,}(?![\w.])")


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def without_ids(traceback_text: str) -> str:
    """A traceback with the numbers that could be chat or user ids replaced."""
    return _LONG_NUMBER.sub(NUMBER, traceback_text)


class RedactingFormatter(logging.Formatter):
    """A formatter that replaces secrets anywhere in a record, and long numbers in its
    traceback."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self.secrets = [secret for secret in secrets if secret]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        message, newline, rest = text.partition("\n")
        if record.exc_info or record.exc_text or record.stack_info:
            # What follows the first line is the traceback (or the stack), written by libraries.
            rest = without_ids(rest)
        return redact(message + newline + rest, self.secrets)


def configure_logging(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Log to stderr with secrets redacted; quiet the loggers that print URLs; redact what an
    uncaught exception prints too."""
    secrets = [secret for secret in secrets if secret]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    install_excepthooks(secrets)


def install_excepthooks(secrets: Iterable[str]) -> None:
    """Tracebacks of uncaught exceptions (the main thread's, other threads') reach stderr
    redacted like any log line."""
    secrets = list(secrets)

    def print_redacted(
        kind: type[BaseException], value: BaseException, trace: TracebackType | None
    ) -> None:
        text = "".join(traceback.format_exception(kind, value, trace))
        sys.stderr.write(redact(without_ids(text), secrets))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        sys.stderr.write(f"Exception in thread {name}:\n")
        print_redacted(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    sys.excepthook = print_redacted
    threading.excepthook = thread_hook
