"""Configuration: TOML file, environment overrides, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli import main
from service.settings import ConfigError, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    """With no config.toml and no variables the defaults hold, token absent."""
    settings = load_settings()
    assert settings.database.url.get_secret_value() == "sqlite+aiosqlite:///hearing-watch.db"
    assert settings.telegram.base_url == "https://api.telegram.org/bot"
    assert settings.schedule.timezone == "Asia/Almaty"
    assert settings.telegram.token is None


def test_file_values_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[telegram]\ntoken = "1:abc"\nbase_url = "http://127.0.0.1:8081/bot"\n'
        '[database]\nurl = "postgresql+asyncpg://u@localhost/db"\n'
        "[access]\nadmins = [1, 2]\n"
        '[schedule]\ntimezone = "Europe/Vilnius"\n',
    )
    settings = load_settings(str(path))
    assert settings.require_token().get_secret_value() == "1:abc"
    assert settings.telegram.base_url == "http://127.0.0.1:8081/bot"
    assert settings.database.url.get_secret_value().startswith("postgresql+asyncpg://")
    assert settings.access.admins == {1, 2}
    assert settings.schedule.zone.key == "Europe/Vilnius"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "c.toml", '[telegram]\ntoken = "from-file"\n[access]\nadmins = [1]\n')
    monkeypatch.setenv("HEARINGWATCH_TELEGRAM__TOKEN", "from-env")
    monkeypatch.setenv("HEARINGWATCH_ACCESS__ADMINS", "[7, 8]")
    settings = load_settings(str(path))
    assert settings.require_token().get_secret_value() == "from-env"
    assert settings.access.admins == {7, 8}


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "elsewhere.toml", '[schedule]\ntimezone = "UTC"\n')
    monkeypatch.setenv("HEARINGWATCH_CONFIG", str(path))
    assert load_settings().schedule.timezone == "UTC"


def test_config_toml_in_the_working_directory_is_default(tmp_path: Path) -> None:
    write(tmp_path / "config.toml", '[schedule]\ntimezone = "UTC"\n')  # cwd is tmp_path
    assert load_settings().schedule.timezone == "UTC"


def test_token_is_hidden_in_repr(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path / "c.toml", '[telegram]\ntoken = "1:secret"\n')))
    assert "1:secret" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("x = ", "not valid TOML"),
        ('[telegram]\ntokn = "x"\n', "telegram.tokn: unknown key"),
        ("[nonsense]\n", "nonsense: unknown key"),
        ('[database]\nurl = "mysql://x/y"\n', "database.url: must start with sqlite+aiosqlite"),
        ('[database]\nurl = "not a url"\n', "database.url: is not a database URL"),
        ('[telegram]\nbase_url = "ftp://x"\n', "telegram.base_url: must start with http"),
        ('[schedule]\ntimezone = "Mars/Base"\n', "unknown time zone 'Mars/Base'"),
        ('[schedule]\ntimezone = "Asia"\n', "unknown time zone 'Asia'"),
        ('[access]\nadmins = ["bob"]\n', "access.admins"),
        ("[delivery]\nconcurrency = 0\n", "delivery.concurrency"),
        ("[delivery]\nmessages_per_second = -1\n", "delivery.messages_per_second"),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, content: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(str(write(tmp_path / "c.toml", content)))
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_delivery_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        "[delivery]\nmessages_per_second = 20\npaid_broadcast = true\nconcurrency = 50\n",
    )
    delivery = load_settings(str(path)).delivery
    assert delivery.messages_per_second == 20
    assert delivery.paid_broadcast
    assert delivery.concurrency == 50
    assert delivery.group_messages_per_minute == 20


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """config.example.toml documents the real keys: it loads as it is."""
    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    settings = load_settings(str(example))
    assert settings.schedule.timezone == "Asia/Almaty"
    assert settings.delivery.messages_per_second == 30


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(str(tmp_path / "missing.toml"))


def test_run_without_token_exits_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """No token: exit non-zero with one line naming the setting, no traceback."""
    assert main(["run"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "telegram.token" in err
    assert "HEARINGWATCH_TELEGRAM__TOKEN" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("content", ["x = ", "[telegram]\ntokn = 1\n", '[database]\nurl = "x"\n'])
def test_cli_reports_config_mistakes_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = write(tmp_path / "c.toml", content)
    assert main(["run", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.startswith("hearing-watch: ")
    assert err.count("\n") == 1


def test_migrate_needs_no_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "c.toml", f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/m.db"\n')
    assert main(["migrate", "--config", str(path)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (tmp_path / "m.db").exists()


def test_unreachable_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "c.toml",
        '[database]\nurl = "postgresql+asyncpg://hw:s3cret@127.0.0.1:1/none"\n',
    )
    assert main(["migrate", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot open the database" in err
    assert "s3cret" not in err
