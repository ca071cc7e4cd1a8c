"""The ``hearing-watch`` command: run, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import asdict
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.error import InvalidToken, TelegramError

from bot.logs import REDACTED, configure_logging
from bot.settings import ConfigError, Settings, load_settings
from storage.database import Database
from storage.migrate import upgrade
from storage.schedule_file import (
    ImportReport,
    ScheduleFileError,
    apply_schedule,
    export_schedule,
    read_schedule_file,
)
from storage.staff import record

logger = logging.getLogger("hearing_watch")
BOOTSTRAP_RETRIES = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearing-watch", description="Telegram bot for the supporters of people on trial."
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="TOML config file (default: $HEARINGWATCH_CONFIG, else ./config.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subcommands = {
        "run": "serve Telegram by long polling (upgrades the database first)",
        "migrate": "upgrade the database schema and exit",
        "import": "add or update cases and hearings from a schedule file (all or nothing)",
        "export": "write every case and hearing as a schedule file",
    }
    for name, about in subcommands.items():
        sub = commands.add_parser(name, help=about, description=about)
        # Accept --config after the subcommand too: `hearing-watch run --config PATH`.
        sub.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
        if name == "import":
            sub.add_argument("file", metavar="FILE", help="a schedule file (TOML)")
        elif name == "export":
            sub.add_argument(
                "file", metavar="FILE", nargs="?", help="where to write (default: stdout)"
            )
    return parser


def _fail(message: str, secrets: tuple[str, ...] = ()) -> int:
    for secret in secrets:
        message = message.replace(secret, REDACTED)
    print(f"hearing-watch: {message}", file=sys.stderr)
    return 1


def _database_name(settings: Settings) -> str:
    return make_url(settings.database.url).render_as_string(hide_password=True)


async def _migrate(settings: Settings) -> None:
    database = Database(settings.database.url)
    try:
        await upgrade(database.engine)
    finally:
        await database.dispose()


async def _import(settings: Settings, path: Path) -> ImportReport:
    schedule = read_schedule_file(path)  # every problem is found before anything changes
    database = Database(settings.database.url)
    try:
        await upgrade(database.engine)
        async with database.writing() as session:
            report = await apply_schedule(
                session, schedule, default_zone=settings.schedule.timezone
            )
            if report.changed:
                await record(
                    session, actor=None, action="import", subject=path.name, after=asdict(report)
                )
    finally:
        await database.dispose()
    return report


async def _export(settings: Settings) -> str:
    database = Database(settings.database.url)
    try:
        await upgrade(database.engine)
        async with database.reading() as session:
            return await export_schedule(session)
    finally:
        await database.dispose()


def _run(settings: Settings) -> int:
    from bot.app import build_application, prepare_database  # imports telegram.ext's machinery

    token = settings.require_token().get_secret_value()
    configure_logging(secrets=[token])
    asyncio.run(prepare_database(settings))
    app = build_application(settings)
    logger.info(
        "starting: Bot API at %s, database %s",
        settings.telegram.base_url,
        _database_name(settings),
    )
    try:
        app.run_polling(
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY],
            # A server that boots before its network comes up should not give up at once.
            bootstrap_retries=BOOTSTRAP_RETRIES,
        )
    except InvalidToken:
        return _fail("Telegram refused the token: check telegram.token")
    except TelegramError as exc:
        return _fail(f"cannot use the Bot API at {settings.telegram.base_url}: {exc}", (token,))
    except Exception:
        # Not a mistake of the operator's (say, a Bot API server answering in the wrong shape):
        # the traceback goes to the log, which redacts the token.
        logger.exception("could not start")
        return _fail(
            f"could not start; the log above says why (Bot API at {settings.telegram.base_url})"
        )
    return 0


def _command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        return _run(settings)
    configure_logging(level=logging.WARNING)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print(f"database {_database_name(settings)} is up to date")
    elif args.command == "import":
        report = asyncio.run(_import(settings, Path(args.file)))
        print(
            f"imported {args.file}: {report.cases_added} cases added,"
            f" {report.cases_updated} updated; {report.hearings_added} hearings added,"
            f" {report.hearings_updated} updated"
        )
    else:
        text = asyncio.run(_export(settings))
        if args.file:
            try:
                Path(args.file).write_text(text, encoding="utf-8")
            except OSError as exc:
                return _fail(f"cannot write {args.file}: {exc.strerror or exc}")
        else:
            sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings(args.config)
        return _command(args, settings)
    except ConfigError as exc:
        return _fail(str(exc))
    except ScheduleFileError as exc:
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        return _fail(f"{exc.path}: nothing was changed; fix these first:\n{lines}")
    except (SQLAlchemyError, OSError) as exc:
        where = _database_name(settings) if settings else "?"
        return _fail(f"cannot open the database {where}: {exc}")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
