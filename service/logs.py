"""Logging that never shows the bot token."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "[redacted]"
# httpx logs each request's URL, which holds the token, at INFO.
QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler")


class RedactingFormatter(logging.Formatter):
    """A formatter that replaces secrets anywhere in a record, tracebacks included."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self.secrets = [secret for secret in secrets if secret]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


def configure_logging(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Log to stderr with secrets redacted; quiet the loggers that print URLs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
