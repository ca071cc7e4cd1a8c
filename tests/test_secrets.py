"""Secrets stay secret: the webhook secret is strong, and no secret (the token, the webhook
secret, the log key, the database's password) shows in a repr, a log line or a traceback."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.webhook import Webhook
from service.cli import main
from service.logs import RedactingFormatter, configure_logging
from service.settings import ConfigError, Settings, load_settings
from storage.database import Database
from storage.leadership import PostgresLeadership

REPOSITORY = Path(__file__).resolve().parents[1]
PASSWORD = "pg-pass-word-1234"
URL = f"postgresql+asyncpg://hw:{PASSWORD}@127.0.0.1:5432/hw"


def fail(message: str) -> None:
    raise RuntimeError(message)


def test_a_short_webhook_secret_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    """Issue 16: a one-character secret was accepted."""
    path = tmp_path / "c.toml"
    for weak in ("x", "a" * 31, "a" * 31 + "!", "ä" * 40):
        path.write_text(
            '[telegram]\nmode = "webhook"\nwebhook_url = "https://bot.example.org/hook"\n'
            f'webhook_secret = "{weak}"\n',
            encoding="utf-8",
        )
        with pytest.raises(ConfigError) as refused:
            load_settings(str(path))
        message = str(refused.value)
        assert "telegram.webhook_secret: must be 32 to 256 characters" in message
        assert "`hearing-watch secret` prints a fresh one" in message
        assert "\n" not in message


def test_hearing_watch_secret_prints_a_fresh_secret_the_settings_take(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["secret"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["secret"]) == 0
    second = capsys.readouterr().out.strip()
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)
    settings = Settings(
        telegram={
            "mode": "webhook",
            "webhook_url": "https://bot.example.org/hook",
            "webhook_secret": first,
        },
        privacy={"log_key": second},
    )
    assert settings.privacy.log_key is not None
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(privacy={"log_key": "short"})


def test_the_database_password_is_in_no_repr() -> None:
    """Issue 16: the database URL was a plain str in the settings' repr."""
    settings = Settings(database={"url": URL})
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert PASSWORD not in repr(settings.database)
    assert settings.database.url.get_secret_value() == URL
    assert PASSWORD in settings.secrets()


async def test_the_leadership_connection_keeps_no_password_in_plain_sight() -> None:
    """Issue 16: the leadership DSN held the password as a plain string."""
    database = Database(URL)
    try:
        leadership = PostgresLeadership(URL, database.engine)
        assert PASSWORD not in repr(vars(leadership))
    finally:
        await database.dispose()


def test_the_webhook_secret_is_in_no_repr() -> None:
    secret = "s" * 40
    webhook = Webhook("/hook", secret, app=None)  # type: ignore[arg-type]
    assert secret not in repr(webhook)
    settings = Settings(
        telegram={"mode": "webhook", "webhook_url": "https://x.org/hook", "webhook_secret": secret}
    )
    assert secret not in repr(settings)


def test_every_secret_is_redacted_from_log_lines_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(
        telegram={
            "token": "4242:the-token",
            "mode": "webhook",
            "webhook_url": "https://x.org/hook",
            "webhook_secret": "w" * 40,
        },
        database={"url": URL},
        privacy={"log_key": "k" * 40},
    )
    configure_logging(secrets=settings.secrets())
    try:
        logger = logging.getLogger("tests.secrets")
        try:
            fail(f"failed with {URL}, 4242:the-token, {'w' * 40} and {'k' * 40}")
        except RuntimeError:
            logger.exception("connecting to %s failed", URL)
        err = capsys.readouterr().err
    finally:
        logging.getLogger().handlers.clear()
    for secret in settings.secrets():
        assert secret not in err
    assert "[redacted]" in err
    assert "Traceback" in err


def test_a_traceback_names_no_chat(capsys: pytest.CaptureFixture[str]) -> None:
    """A library's exception message may carry a row's values (a unique violation's DETAIL)."""
    formatter = RedactingFormatter("%(message)s", [])
    try:
        fail("DETAIL:  Key (chat_id, case_id)=(7301001, x) exists; -1001234567890")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "update %s failed", (987654321,), sys.exc_info()
        )
    text = formatter.format(record)
    assert text.startswith("update 987654321 failed")  # the bot's own figures stay
    traceback = text.partition("\n")[2]
    assert "7301001" not in traceback
    assert "1001234567890" not in traceback
    assert "[number]" in traceback


def test_an_uncaught_exception_reaches_the_terminal_redacted() -> None:
    """Issue 16: tracebacks printed by sys.excepthook were not redacted."""
    code = (
        "from service.cli import main\n"
        "import service.cli as cli\n"
        "def crash(args, settings):\n"
        "    raise RuntimeError('4242:the-token and chat 7301001')\n"
        "cli._command = crash\n"
        "main(['migrate'])\n"
    )
    result = subprocess.run(  # noqa: S603  (this interpreter, our code)
        [sys.executable, "-c", code],
        cwd=REPOSITORY,
        env={"HEARINGWATCH_TELEGRAM__TOKEN": "4242:the-token", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "RuntimeError" in result.stderr
    assert "4242:the-token" not in result.stderr
    assert "7301001" not in result.stderr
