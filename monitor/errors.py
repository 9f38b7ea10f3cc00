"""Every exception media-monitor raises on purpose, in one tree.

    MonitorError
    ├── ConfigError          the config file or environment is wrong (exit code 2)
    ├── StoreError           the database cannot be reached or migrated
    ├── FeedError            one feed failed; recorded on that feed, never fatal
    │   ├── FetchError       network, HTTP status, size cap, blocked URL
    │   │   ├── BlockedURLError
    │   │   ├── ResponseTooLargeError
    │   │   └── HTTPStatusError
    │   └── ParseError       the body is not a feed we can read
    └── NotifyError          a channel could not be set up (bad apprise URL)

"Not modified" and "already seen" are return values, not exceptions: they are normal.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class: the CLI turns these into one clear line and an exit code."""


class ConfigError(MonitorError):
    """The configuration is invalid. The message names the file and the key path."""


class StoreError(MonitorError):
    """The store (SQLite or PostgreSQL) is unreachable or unusable."""


class FeedError(MonitorError):
    """One feed could not be polled. Other feeds carry on."""


class FetchError(FeedError):
    """The feed could not be downloaded."""


class BlockedURLError(FetchError):
    """The URL (or a redirect target) is not allowed by the fetch gate."""


class ResponseTooLargeError(FetchError):
    """The body exceeded the configured size cap."""


class HTTPStatusError(FetchError):
    """The server answered with a status other than 2xx or 304."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class ParseError(FeedError):
    """The body is not a feed (garbage, HTML page, truncated beyond repair)."""


class NotifyError(MonitorError):
    """A notification channel cannot be used at all (for example an unknown apprise URL)."""
