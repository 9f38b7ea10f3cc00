"""Config loading: valid files load, every kind of mistake names file, key path and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config_types import parse_duration
from monitor.errors import ConfigError
from monitor.settings import config_path, load_settings, secret_values

GOOD = """
[storage]
url = "sqlite:///{tmp}/m.db"

[[feeds]]
name = "a"
url = "http://127.0.0.1:1/a.xml"
interval = "90s"

[[feeds]]
name = "b"
url = "http://127.0.0.1:1/b.xml"

[channels.mail]
urls = ["mailto://127.0.0.1:25?from=a@example.org&to=b@example.org"]

[channels.hook]
urls = ["json://127.0.0.1:9/hook?token=${{HOOK_TOKEN}}"]

[entities."Elon Musk"]
aliases = ["Musk", "Tesla-Chef"]

[[watchlists]]
name = "musk"
terms = ["#Elon Musk", "Starlink"]
notify = ["mail", "hook"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    return path


def good(tmp_path: Path) -> Path:
    return write(tmp_path, GOOD.replace("{{", "{").replace("}}", "}"))


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"HOOK_TOKEN": "s3cret-token-value"} if environ is None else environ)
    return str(info.value)


def test_good_config_loads_with_defaults_and_env_refs(tmp_path: Path) -> None:
    settings = load_settings(good(tmp_path), {"HOOK_TOKEN": "s3cret-token-value"})
    feeds = settings.feed_models()
    assert [f.name for f in feeds] == ["a", "b"]
    assert feeds[0].interval_seconds == 90
    assert feeds[1].interval_seconds == 300  # default: 5 minutes
    assert feeds[0].jitter_seconds == 9  # a tenth of the interval
    assert settings.channels["hook"].urls == ["json://127.0.0.1:9/hook?token=s3cret-token-value"]
    [watchlist] = settings.watchlist_models()
    assert watchlist.terms == ("#Elon Musk", "Starlink")
    assert settings.entity_models()[0].aliases == ("Musk", "Tesla-Chef")


def test_environment_overrides_file_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_STORAGE__URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("MONITOR_LOG_LEVEL", "DEBUG")
    settings = load_settings(good(tmp_path), {"HOOK_TOKEN": "x"})
    assert settings.storage.url == "sqlite:///elsewhere.db"
    assert settings.log_level == "DEBUG"
    assert settings.feeds[0].name == "a"  # the rest still comes from the file


def test_missing_env_var_names_the_key(tmp_path: Path) -> None:
    message = error_of(good(tmp_path), environ={})
    assert str(tmp_path / "monitor.toml") in message
    assert "channels.hook.urls[0]" in message
    assert "HOOK_TOKEN is not set" in message


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('interval = "90s"', 'intervall = "90s"'))
    message = error_of(path)
    assert 'feeds[0].intervall (in feeds "a"): unknown key' in message


def test_wrong_type_is_named_without_echoing_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('terms = ["#Elon Musk", "Starlink"]', 'terms = "Musk"'))
    message = error_of(path)
    assert 'watchlists[0].terms (in watchlists "musk")' in message
    assert "valid list" in message


def test_bad_duration(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace('"90s"', '"soon"')))
    assert "feeds[0].interval" in message
    assert "expected a duration" in message


def test_missing_channel_is_named(tmp_path: Path) -> None:
    message = error_of(
        write(tmp_path, GOOD.replace('notify = ["mail", "hook"]', 'notify = ["mail", "legal"]'))
    )
    assert 'watchlists[0].notify[1] (in watchlists "musk"): no channel named "legal"' in message
    assert "channels: hook, mail" in message


def test_duplicate_names(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace('name = "b"', 'name = "a"')))
    assert 'feeds[1].name: duplicate name "a"' in message
    twice = GOOD + '\n[[watchlists]]\nname = "musk"\nterms = ["x"]\n'
    assert 'watchlists[1].name: duplicate name "musk"' in error_of(write(tmp_path, twice))


def test_duplicate_channel_table_is_a_toml_error_with_position(tmp_path: Path) -> None:
    text = GOOD + '\n[channels.mail]\nurls = ["console://"]\n'
    message = error_of(write(tmp_path, text))
    assert "not valid TOML" in message
    assert "line" in message


def test_secret_value_never_echoed(tmp_path: Path) -> None:
    # A secret that lands in a field of the wrong type must not appear in the error.
    text = GOOD.replace('interval = "90s"', 'interval = "${HOOK_TOKEN}"')
    message = error_of(write(tmp_path, text))
    assert "feeds[0].interval" in message
    assert "s3cret-token-value" not in message


def test_missing_file(tmp_path: Path) -> None:
    assert "config file not found" in error_of(tmp_path / "nope.toml")


def test_config_path_precedence(tmp_path: Path) -> None:
    assert config_path("x.toml", {"MONITOR_CONFIG": "y.toml"}) == Path("x.toml")
    assert config_path(None, {"MONITOR_CONFIG": "y.toml"}) == Path("y.toml")
    assert config_path(None, {}) == Path("config/monitor.toml")


def test_secret_values_lists_referenced_env_values(tmp_path: Path) -> None:
    path = good(tmp_path)
    assert secret_values({"HOOK_TOKEN": "abc", "OTHER": "zzz"}, path) == ["abc"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), (45, 45), ("2d", 172800)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10 parsecs", "-5s", "0s", True, "5s garbage"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
