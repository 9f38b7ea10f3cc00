"""The types of config values that are more than a number or a string.

Each is an `Annotated` type whose validator turns the written form into a checked value, with
an error message that says what was expected and never repeats the value (it may be a secret).
"""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds from `"90s"`, `"10m"`, `"1h30m"`, `"1d"` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '90s', '10m' or '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = _DURATION.findall(text)
        if not parts or _DURATION.sub("", text).strip():
            raise ValueError("expected a duration such as '90s', '10m' or '1h'")
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    else:
        raise ValueError("expected a duration such as '90s', '10m' or '1h'")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]

_DIGEST = re.compile(
    r"hourly|daily (\d{1,2}):(\d{2})|weekly (mon|tue|wed|thu|fri|sat|sun) (\d{1,2}):(\d{2})"
)
_QUIET = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def _clock_ok(*parts: str | None) -> bool:
    """Whether (hour, minute) pairs among `parts` are real times of day."""
    numbers = [int(p) for p in parts if p is not None and p.isdigit()]
    return all(h < 24 and m < 60 for h, m in zip(numbers[::2], numbers[1::2], strict=True))


def parse_digest(value: object) -> str:
    """`"hourly"`, `"daily 08:00"` or `"weekly mon 08:00"`, normalized to lower case."""
    text = " ".join(str(value).lower().split()) if isinstance(value, str) else ""
    match = _DIGEST.fullmatch(text)
    if match is None or not _clock_ok(*match.groups()):
        raise ValueError("expected 'hourly', 'daily HH:MM' or 'weekly mon HH:MM'")
    return text


def parse_quiet_hours(value: object) -> str:
    """`"22:00-07:00"`: a window of local time that may wrap past midnight."""
    match = _QUIET.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or not _clock_ok(*match.groups()) or match.group(1, 2) == match.group(3, 4):
        raise ValueError("expected a window such as '22:00-07:00'")
    return "{:02d}:{:02d}-{:02d}:{:02d}".format(*map(int, match.groups()))


def parse_timezone(value: object) -> str:
    """An IANA time zone name such as `Europe/Berlin`."""
    try:
        return ZoneInfo(str(value)).key if isinstance(value, str) else ZoneInfo("").key
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as 'Europe/Berlin' or 'UTC'") from None


DigestSpec = Annotated[str, BeforeValidator(parse_digest)]
QuietHours = Annotated[str, BeforeValidator(parse_quiet_hours)]
TimeZone = Annotated[str, BeforeValidator(parse_timezone)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
