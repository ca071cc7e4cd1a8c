"""Configuration: a TOML file, every key overridable from HEARINGWATCH_* environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.context import Config
from jobs.reminder_plan import ReminderRules, duration_name, parse_duration
from storage.schedule import is_zone_name
from storage.schedule_file import parse_time

CONFIG_ENV_VAR = "HEARINGWATCH_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.toml")
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class ConfigError(Exception):
    """A configuration mistake, described in one line an operator can act on."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A webhook's secret_token: Telegram takes 1 to 256 of these characters. It is the only thing
# that tells a post from Telegram from a forged one carrying any admin's user id, so at least
# 32 of them (about 190 bits from `hearing-watch secret`), which nobody guesses.
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{32,256}$")
MIN_LOG_KEY = 32
# The database's password is also replaced wherever a log line shows it, if it is long enough
# not to eat ordinary words (a test's "postgres"); the URL itself is never printed whole.
MIN_REDACTED_PASSWORD = 8
PRINTS_A_FRESH_ONE = "`hearing-watch secret` prints a fresh one"


class TelegramSettings(_Section):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    # polling: the active instance asks Telegram for updates. webhook: Telegram posts them to
    # webhook_url, which a reverse proxy forwards to [server].
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("https://") or not urlsplit(value).netloc):
            raise ValueError(
                "must be the public https:// URL Telegram posts to,"
                " e.g. https://bot.example.org/telegram"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError(
                f"must be 32 to 256 characters of A-Z, a-z, 0-9, _ and - ({PRINTS_A_FRESH_ONE})"
            )
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> Self:
        if self.mode == "webhook":
            missing = [
                name
                for name, value in (
                    ("webhook_url", self.webhook_url),
                    ("webhook_secret", self.webhook_secret),
                )
                if value is None
            ]
            if missing:
                raise ValueError(
                    f'mode = "webhook" needs {" and ".join(missing)} (the secret preferably'
                    " from HEARINGWATCH_TELEGRAM__WEBHOOK_SECRET)"
                )
        return self

    @property
    def webhook_path(self) -> str:
        """The path of webhook_url, where the HTTP server takes Telegram's posts."""
        return urlsplit(self.webhook_url or "").path or "/"


class ServerSettings(_Section):
    """The HTTP server: /healthz, /metrics, calendars and, in webhook mode, Telegram's posts."""

    host: str = "127.0.0.1"
    # 0 picks a free port (for tests); the server is always on.
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # Where the public reaches this server through a proxy, e.g. https://bot.example.org: /calendar
    # shows <public_url>/calendar/<case-id>.ics, and calendar events' UIDs carry its host.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. https://bot.example.org")
        if parts.query or parts.fragment:
            raise ValueError("must have no ?query or #fragment, e.g. https://bot.example.org")
        # One slash between it and /calendar/..., however the operator wrote it.
        return value.rstrip("/")

    @property
    def calendar_domain(self) -> str:
        """What calendar events' UIDs end with: public_url's host, else a name that is ours.

        Changing public_url's host changes the UIDs: a calendar file opened before then adds
        its events again instead of updating them. Set it before announcing calendars.
        """
        host = urlsplit(self.public_url).hostname if self.public_url else None
        return host or "hearing-watch.invalid"


class DatabaseSettings(_Section):
    # A secret: a PostgreSQL URL carries the password (never in a repr or a log).
    url: SecretStr = SecretStr("sqlite+aiosqlite:///hearing-watch.db")

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: SecretStr) -> SecretStr:
        try:
            driver = make_url(value.get_secret_value()).drivername
        except ArgumentError:
            raise ValueError("is not a database URL") from None
        if driver not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"must start with sqlite+aiosqlite:/// or postgresql+asyncpg:// (got {driver}://)"
            )
        return value

    @property
    def password(self) -> str | None:
        """The password in the URL, if any (for the log's redaction)."""
        return make_url(self.url.get_secret_value()).password


class AccessSettings(_Section):
    admins: frozenset[int] = frozenset()


class ScheduleSettings(_Section):
    timezone: str = "Asia/Almaty"
    # The cases loaded into an empty database; None means the bundled seed.
    seed_file: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_zone_name(value):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Almaty")
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The default zone of new hearings."""
        return ZoneInfo(self.timezone)


class DeliverySettings(_Section):
    """How fast broadcasts go out: Telegram's limits, which the bot keeps itself."""

    messages_per_second: Annotated[float, Field(gt=0)] = 30.0
    chat_messages_per_second: Annotated[float, Field(gt=0)] = 1.0
    group_messages_per_minute: Annotated[int, Field(gt=0)] = 20
    # Telegram's paid broadcasts: up to 1,000 messages a second, charged in Stars.
    paid_broadcast: bool = False
    paid_messages_per_second: Annotated[float, Field(gt=0)] = 1000.0
    concurrency: Annotated[int, Field(gt=0, le=1000)] = 200
    max_attempts: Annotated[int, Field(gt=0)] = 5


class RemindersSettings(_Section):
    """When subscribers are reminded of a hearing."""

    offsets: list[str] = ["24h", "2h"]  # before a hearing with a known hour
    # For a hearing whose hour is not announced: the evening before and the morning of the day.
    tba_at: str = "18:00"
    tba_morning: str = "08:00"

    @field_validator("offsets")
    @classmethod
    def _durations(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('give at least one offset, e.g. ["24h", "2h"]')
        return [duration_name(parse_duration(item)) for item in value]

    @field_validator("tba_at", "tba_morning")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        at = parse_time(value)
        if at is None:
            raise ValueError("must be a time of day such as 18:00")
        return value

    @property
    def rules(self) -> ReminderRules:
        """The planner's view of these settings, longest offset first."""
        offsets = sorted((parse_duration(item) for item in self.offsets), reverse=True)
        day_before, morning = parse_time(self.tba_at), parse_time(self.tba_morning)
        assert day_before is not None
        assert morning is not None
        return ReminderRules(tuple(offsets), day_before, morning)


class I18nSettings(_Section):
    """Languages: what a group, or a person whose Telegram speaks none of ours, reads."""

    default_language: Literal["kk", "ru", "en"] = "en"


class PrivacySettings(_Section):
    """How long the bot keeps what it must hold for a while."""

    # A finished broadcast's delivery rows (which chat was sent what, and when) are deleted this
    # many days after it finished; its figures stay on the broadcast. 0: at the next purge.
    keep_deliveries_days: Annotated[int, Field(ge=0)] = 7
    # The key of the log's references to chats and people (``c:3f9a1b2c4d``): a secret of the
    # operator's, preferably from HEARINGWATCH_PRIVACY__LOG_KEY. Without it each start keys them
    # at random, so that no reader of the log can recompute one; they then match nothing else.
    log_key: SecretStr | None = None

    @field_validator("log_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_LOG_KEY:
            raise ValueError(f"must be at least {MIN_LOG_KEY} characters ({PRINTS_A_FRESH_ONE})")
        return value


class Settings(BaseSettings):
    """Everything an operator configures."""

    model_config = SettingsConfigDict(
        env_prefix="HEARINGWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    telegram: TelegramSettings = TelegramSettings()
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    access: AccessSettings = AccessSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    delivery: DeliverySettings = DeliverySettings()
    reminders: RemindersSettings = RemindersSettings()
    i18n: I18nSettings = I18nSettings()
    privacy: PrivacySettings = PrivacySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings passes the TOML file's contents as init values: the environment wins.
        return env_settings, init_settings

    def secrets(self) -> list[str]:
        """Everything the log must never show: the token, the webhook secret, the log key and
        the database's password (when it is long enough to be told apart from other words)."""
        values = [
            secret.get_secret_value()
            for secret in (self.telegram.token, self.telegram.webhook_secret, self.privacy.log_key)
            if secret is not None
        ]
        password = self.database.password
        if password and len(password) >= MIN_REDACTED_PASSWORD:
            values.append(password)
        return [value for value in values if value]

    def require_token(self) -> SecretStr:
        """The bot token, or a ConfigError naming both places it can be set."""
        if self.telegram.token is None or not self.telegram.token.get_secret_value().strip():
            raise ConfigError(
                "missing setting telegram.token: set it in the config file's [telegram] section"
                " or in the HEARINGWATCH_TELEGRAM__TOKEN environment variable"
            )
        return self.telegram.token


def config_path(explicit: str | None) -> tuple[Path, bool]:
    """Where the config file is, and whether the operator named it (so it must exist)."""
    if explicit:
        return Path(explicit), True
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def load_settings(explicit_path: str | None = None) -> Settings:
    """Read the config file and the environment; raise ConfigError with one line on any mistake."""
    path, required = config_path(explicit_path)
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read: {exc}") from None
    elif required:
        raise ConfigError(f"{path}: config file not found (copy config.example.toml to start)")
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors as 'section.key: problem' pairs on one line."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            problem = "unknown key"
        else:
            problem = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {problem}")
    return "; ".join(parts)


def bot_config(settings: Settings) -> Config:
    """What the conversation needs of the settings (``bot`` does not read them itself)."""
    return Config(
        default_language=settings.i18n.default_language,
        admins=settings.access.admins,
        timezone=settings.schedule.timezone,
        reminder_offsets=settings.reminders.rules.offset_names,
        calendar_domain=settings.server.calendar_domain,
        public_url=settings.server.public_url,
    )
