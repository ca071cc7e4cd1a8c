"""The ``hearing-watch`` command: run, migrate, import, export, chat-ref, secret."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from telegram.error import InvalidToken, TelegramError

from jobs import logref
from jobs.outage import RETRY, database_outage
from service.logs import configure_logging, install_excepthooks, redact
from service.settings import ConfigError, Settings, load_settings
from storage.database import Database
from storage.leadership import AnotherInstanceError, leadership_for
from storage.migrate import upgrade
from storage.schedule_file import (
    ImportReport,
    ScheduleFileError,
    apply_schedule,
    export_schedule,
    read_schedule_file,
)
from storage.staff import record

if TYPE_CHECKING:
    from service.instance import Instance

logger = logging.getLogger("hearing_watch")


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
        "run": "serve Telegram, by long polling or a webhook (upgrades the database first)",
        "migrate": "upgrade the database schema and exit",
        "import": "add or update cases and hearings from a schedule file (all or nothing)",
        "export": "write every case and hearing as a schedule file",
        "chat-ref": "print how the log refers to a chat or user id (a keyed hash)",
        "secret": "print a fresh random secret, for the webhook secret or the log key",
    }
    for name, about in subcommands.items():
        sub = commands.add_parser(name, help=about, description=about)
        # Accept --config after the subcommand too: `hearing-watch run --config PATH`.
        sub.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
        if name == "import":
            sub.add_argument("file", metavar="FILE", help="a schedule file (TOML)")
            sub.add_argument(
                "--force",
                action="store_true",
                help="overwrite hearings the database changed since the file was exported",
            )
        elif name == "export":
            sub.add_argument(
                "file", metavar="FILE", nargs="?", help="where to write (default: stdout)"
            )
        elif name == "chat-ref":
            sub.add_argument("id", metavar="ID", type=int, help="a numeric chat or user id")
    return parser


def _fail(message: str, settings: Settings | None = None) -> int:
    message = redact(message, settings.secrets() if settings else ())
    print(f"hearing-watch: {message}", file=sys.stderr)
    return 1


def fresh_secret() -> str:
    """43 random characters of A-Z, a-z, 0-9, _ and - (256 bits): what the webhook secret and
    the log key take."""
    return secrets.token_urlsafe(32)


def _database_name(settings: Settings) -> str:
    return make_url(settings.database.url.get_secret_value()).render_as_string(hide_password=True)


async def _migrate(settings: Settings) -> None:
    database = Database(settings.database.url.get_secret_value())
    try:
        await upgrade(database.engine)
    finally:
        await database.dispose()


async def _import(settings: Settings, path: Path, *, force: bool) -> ImportReport:
    schedule = read_schedule_file(path)  # every problem is found before anything changes
    database = Database(settings.database.url.get_secret_value())
    try:
        await upgrade(database.engine)
        async with database.writing() as session:
            report = await apply_schedule(
                session, schedule, default_zone=settings.schedule.timezone, force=force
            )
            if report.changed:
                await record(
                    session, actor=None, action="import", subject=path.name, after=asdict(report)
                )
        if report.changed:
            # Running instances (PostgreSQL) replan reminders and drop cached calendars at
            # once; on SQLite, and if this fails, they catch up within five minutes.
            with contextlib.suppress(SQLAlchemyError, OSError):
                leadership = leadership_for(
                    settings.database.url.get_secret_value(), database.engine
                )
                await leadership.announce("schedule:import")
    finally:
        await database.dispose()
    return report


async def _export(settings: Settings) -> str:
    database = Database(settings.database.url.get_secret_value())
    try:
        await upgrade(database.engine)
        async with database.reading() as session:
            return await export_schedule(session)
    finally:
        await database.dispose()


def _run(settings: Settings) -> int:
    token = settings.require_token().get_secret_value()
    configure_logging(secrets=settings.secrets())
    return asyncio.run(_serve(settings, token))


async def _wait_for_database(settings: Settings) -> None:
    """Migrate and seed, waiting out a PostgreSQL that is not up yet (one line per try).

    A SQLite file that cannot be opened is a mistake in the config, not an outage: it stops.
    """
    from service.wiring import prepare_database  # imports telegram.ext's machinery

    sqlite = make_url(settings.database.url.get_secret_value()).get_backend_name() == "sqlite"
    # Told attempt by attempt below rather than once, while an operator watches it start.
    outage = database_outage(announce=False)
    attempt = 0
    while True:
        if sqlite:
            await prepare_database(settings)
            return
        with outage.absorbed() as tried:
            await prepare_database(settings)
        if not tried.failed:
            return
        attempt += 1
        wait = RETRY.delay(attempt)
        logger.warning(
            "cannot reach the database %s (attempt %d: %s); trying again in %.1f s",
            _database_name(settings),
            attempt,
            outage.reason,
            wait,
        )
        outage.ok()  # each attempt is told on its own
        await asyncio.sleep(wait)


async def _serve(settings: Settings, token: str) -> int:
    """Run one instance until SIGTERM or SIGINT, then stop it cleanly."""
    from service.instance import Instance, ListenError  # imports telegram.ext's machinery

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    instance = Instance(settings)
    try:
        await instance.claim()
    except AnotherInstanceError as exc:
        await instance.parts.database.dispose()
        return _fail(str(exc), settings)
    logger.info(
        "starting: Bot API at %s, database %s, %s mode",
        settings.telegram.base_url,
        _database_name(settings),
        settings.telegram.mode,
    )
    starting = asyncio.create_task(_start(instance, settings))
    try:
        if await _until(starting, stop):
            await stop.wait()
    except ListenError as exc:
        return _fail(str(exc), settings)
    except InvalidToken:
        return _fail("Telegram refused the token: check telegram.token")
    except TelegramError as exc:
        return _fail(f"cannot use the Bot API at {settings.telegram.base_url}: {exc}", settings)
    finally:
        logger.info("stopping: finishing the sends under way")
        await instance.stop()
    return 0


async def _start(instance: Instance, settings: Settings) -> None:
    await _wait_for_database(settings)
    await instance.start()


async def _until(task: asyncio.Task[None], stop: asyncio.Event) -> bool:
    """Await ``task`` unless ``stop`` is set first (then cancel it): whether it finished."""
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stopping
    if task.done():
        task.result()  # its exception, if any, is the caller's
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


def _command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        return _run(settings)
    if args.command == "chat-ref":
        # Keyed as the running bot's log is.
        key = settings.privacy.log_key
        if key is None:
            return _fail(
                "chat-ref needs the log's key: set [privacy] log_key (or"
                " HEARINGWATCH_PRIVACY__LOG_KEY) as the bot has it; without one the bot keys"
                " its log at random on each start, and nothing can match its references"
            )
        logref.set_key(key.get_secret_value())
        print(logref.ref(args.id))
        return 0
    configure_logging(secrets=settings.secrets(), level=logging.WARNING)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print(f"database {_database_name(settings)} is up to date")
    elif args.command == "import":
        report = asyncio.run(_import(settings, Path(args.file), force=args.force))
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
                return _fail(f"cannot write {args.file}: {exc.strerror or exc}", settings)
        else:
            sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "secret":
        print(fresh_secret())
        return 0
    settings: Settings | None = None
    try:
        settings = load_settings(args.config)
        # Until logging is set up, a traceback that escapes is redacted all the same.
        install_excepthooks(settings.secrets())
        return _command(args, settings)
    except ConfigError as exc:
        return _fail(str(exc))
    except ScheduleFileError as exc:
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        return _fail(f"{exc.path}: nothing was changed; fix these first:\n{lines}", settings)
    except (SQLAlchemyError, OSError) as exc:
        where = _database_name(settings) if settings else "?"
        return _fail(f"cannot open the database {where}: {exc}", settings)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
