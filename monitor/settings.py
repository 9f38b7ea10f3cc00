"""The one place that reads the config file and the environment.

The config is TOML validated by pydantic models. Values may contain `${VAR}` references, resolved
from the environment at load time, so that apprise URLs keep their secrets out of the file.
Environment variables `MONITOR_<KEY>` (nested keys joined by `__`, e.g. `MONITOR_STORAGE__URL`)
override file values. Every error names the file, the key path and what was expected, and never
echoes a value (it may be a secret).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.config_types import (
    DigestSpec,
    Duration,
    NonEmptyStr,
    QuietHours,
    TimeZone,
)
from monitor.errors import ConfigError
from monitor.models import Entity, Feed, Watchlist

DEFAULT_CONFIG = Path("config/monitor.toml")
CONFIG_ENV = "MONITOR_CONFIG"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class StorageConfig(_Section):
    url: str = "sqlite:///data/monitor.db"
    """SQLAlchemy URL. `postgresql+psycopg://user@host/db` to share one store between processes."""


class FetchConfig(_Section):
    timeout: Duration = 20.0
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    """Bodies larger than this are refused: a feed is never that big, a hostile server may be."""
    concurrency: int = Field(default=8, gt=0)


class FeedConfig(_Section):
    name: NonEmptyStr
    url: NonEmptyStr
    interval: Duration = 300.0
    jitter: Duration | None = None
    """Random delay added to each poll; default a tenth of the interval, at most a minute."""


class ChannelConfig(_Section):
    urls: list[NonEmptyStr] = Field(min_length=1)
    format: Literal["text", "markdown", "html"] = "markdown"
    min_interval: Duration | None = None
    """Least time between two messages to one URL of the channel (deferred, never dropped)."""
    digest: DigestSpec | None = None
    """Hold alerts and send one message per period: hourly, "daily 08:00", "weekly mon 08:00"."""
    quiet_hours: QuietHours | None = None
    """A local-time window ("22:00-07:00") in which alerts are held, then sent as one batch."""
    timezone: TimeZone | None = None
    """Time zone of `digest` and `quiet_hours`; default `notify.timezone`."""
    burst: int = Field(default=10, ge=1)
    """More alerts than this for one URL in one sweep go as one grouped message."""
    template: NonEmptyStr | None = None
    """Jinja2 template of one alert: a file path (relative to the config file) or the text."""
    digest_template: NonEmptyStr | None = None
    """Jinja2 template of a digest, quiet-hours batch or burst: a file path or the text."""


class EntityConfig(_Section):
    aliases: list[NonEmptyStr] = []
    require: list[NonEmptyStr] = []
    """Context phrases: a bare alias counts only in a story that has one of them."""
    exclude: list[NonEmptyStr] = []
    """Phrases that veto an alias hit they overlap or stand near (`musk ox`)."""


class WatchlistConfig(_Section):
    name: NonEmptyStr
    terms: list[NonEmptyStr] = []
    query: NonEmptyStr | None = None
    fold_diacritics: bool = False
    notify: list[NonEmptyStr] = []

    @model_validator(mode="after")
    def _terms_or_query(self) -> WatchlistConfig:
        if not self.terms and self.query is None:
            raise ValueError("a watchlist needs `terms`, a `query`, or both")
        return self


class DedupeConfig(_Section):
    window: Duration = 72 * 3600.0
    """Near-duplicates seen within this time are one story: a watchlist alerts once for them."""
    retention: Duration = 30 * 86400.0
    """Stories older than this are pruned; their identity keys stay, so they never come back."""


class NotifyConfig(_Section):
    retry_horizon: Duration = 24 * 3600.0
    """How long a failing delivery is retried before it is marked dead."""
    check_every: Duration = 15.0
    """How often the daemon looks for deliveries whose retry time has come."""
    send_timeout: Duration = 120.0
    """How long one send may take; a worker's lease on a delivery is twice this."""
    failing_after: Duration = 900.0
    """A target failing this long raises one "delivery is failing" error."""
    alert_channel: str | None = None
    """Channel told when another channel starts failing."""
    default_channel: str | None = None
    """Channel for watchlists that name none."""
    timezone: TimeZone = "UTC"
    """Time zone of channels' `digest` and `quiet_hours` times."""


class Settings(BaseSettings):
    """The whole configuration. Build it with `load_settings`, which reports errors well."""

    model_config = SettingsConfigDict(
        env_prefix="MONITOR_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    storage: StorageConfig = StorageConfig()
    fetch: FetchConfig = FetchConfig()
    notify: NotifyConfig = NotifyConfig()
    dedupe: DedupeConfig = DedupeConfig()
    feeds: list[FeedConfig] = []
    channels: dict[str, ChannelConfig] = {}
    entities: dict[str, EntityConfig] = {}
    watchlists: list[WatchlistConfig] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's content arrives as init arguments (already `${VAR}`-resolved by
        # load_settings); the environment is listed first so MONITOR_* overrides the file.
        return (env_settings, init_settings)

    def feed_models(self) -> list[Feed]:
        return [
            Feed(
                name=f.name,
                url=f.url,
                interval_seconds=f.interval,
                jitter_seconds=f.jitter if f.jitter is not None else min(f.interval / 10, 60.0),
            )
            for f in self.feeds
        ]

    def entity_models(self) -> list[Entity]:
        return [
            Entity(
                name=name,
                aliases=tuple(entity.aliases),
                require=tuple(entity.require),
                exclude=tuple(entity.exclude),
            )
            for name, entity in self.entities.items()
        ]

    def watchlist_models(self) -> list[Watchlist]:
        return [
            Watchlist(
                name=w.name,
                terms=tuple(w.terms),
                notify=tuple(w.notify),
                query=w.query,
                fold_diacritics=w.fold_diacritics,
            )
            for w in self.watchlists
        ]


def config_path(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    """`--config`, else `$MONITOR_CONFIG`, else `config/monitor.toml`."""
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return DEFAULT_CONFIG


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, resolve and validate the config file at `path`; raise `ConfigError` if it is wrong."""
    env = os.environ if environ is None else environ
    raw = _read_toml(path)
    resolved = _resolve_env_refs(raw, env, path, ())
    try:
        settings = Settings(**resolved)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc, resolved)) from None
    problems = _check_references(settings)
    if problems:
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in problems))
    return _load_templates(settings, path)


def _load_templates(settings: Settings, path: Path) -> Settings:
    """Replace each channel's template path by the file's text, and prove the template renders.

    A value holding `{{` or `{%` is the template itself; anything else is a file path, relative
    to the config file. A missing or broken template is a config error naming the channel.
    """
    from monitor.notify.render import check_template  # notify imports apprise: only when needed

    channels = dict(settings.channels)
    for name, channel in settings.channels.items():
        update: dict[str, str] = {}
        for key, kind in (("template", "alert"), ("digest_template", "batch")):
            value = getattr(channel, key)
            if value is None:
                continue
            where = f"{path}: channels.{name}.{key}"
            text = value
            if "{{" not in value and "{%" not in value:
                file = path.parent / value
                try:
                    text = file.read_text(encoding="utf-8")
                except OSError as exc:
                    why = f"cannot read template {file}: {exc.strerror}"
                    raise ConfigError(f"{where}: {why}") from None
            try:
                check_template(text, channel.format, kind)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            update[key] = text
        if update:
            channels[name] = channel.model_copy(update=update)
    return settings.model_copy(update={"channels": channels})


def secret_values(raw_environ: Mapping[str, str], path: Path) -> list[str]:
    """Values the config pulls from the environment: the logging filter masks them verbatim."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    names = set(_ENV_REF.findall(text))
    return [raw_environ[name] for name in sorted(names) if raw_environ.get(name)]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _resolve_env_refs(
    value: Any, environ: Mapping[str, str], path: Path, where: tuple[str | int, ...]
) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(
                    f"{path}: {_key_path(where)}: environment variable {name} is not set"
                )
            return environ[name]

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _resolve_env_refs(v, environ, path, (*where, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env_refs(v, environ, path, (*where, i)) for i, v in enumerate(value)]
    return value


def _key_path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _describe(loc: tuple[str | int, ...], data: Mapping[str, Any]) -> str:
    """The key path, plus the name of the list item when there is one (`watchlists[2] "musk"`)."""
    path = _key_path(loc)
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        items = data.get(loc[0])
        if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
            name = items[loc[1]].get("name")
            if isinstance(name, str):
                return f'{path} (in {loc[0]} "{name}")'
    return path


def _format_validation_error(path: Path, exc: ValidationError, data: Mapping[str, Any]) -> str:
    lines = []
    for error in exc.errors(include_input=False):
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling, or remove it)"
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {_describe(loc, data)}: {message}")
    return "\n".join(lines)


def _check_references(settings: Settings) -> list[str]:
    problems: list[str] = []
    for section, names in (
        ("feeds", [f.name for f in settings.feeds]),
        ("watchlists", [w.name for w in settings.watchlists]),
    ):
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                problems.append(f'{section}[{index}].name: duplicate name "{name}"')
            seen.add(name)
    for key in ("alert_channel", "default_channel"):
        name = getattr(settings.notify, key)
        if name is not None and name not in settings.channels:
            known = ", ".join(sorted(settings.channels)) or "none defined"
            problems.append(f'notify.{key}: no channel named "{name}" (channels: {known})')
    for index, watchlist in enumerate(settings.watchlists):
        for position, channel in enumerate(watchlist.notify):
            if channel not in settings.channels:
                known = ", ".join(sorted(settings.channels)) or "none defined"
                problems.append(
                    f'watchlists[{index}].notify[{position}] (in watchlists "{watchlist.name}"): '
                    f'no channel named "{channel}" (channels: {known})'
                )
    return problems
