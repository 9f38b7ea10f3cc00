"""The shared vocabulary: plain frozen values passed between the pipeline stages.

Stages never pass raw dicts (feedparser entries, rows) to each other; they pass these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Feed:
    """A feed to poll, as configured."""

    name: str
    url: str
    interval_seconds: float = 300.0
    jitter_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Entity:
    """A named thing with other names: `#Elon Musk` means the name or any alias."""

    name: str
    aliases: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    """Context phrases: a bare alias counts only in a story with at least one of them."""
    exclude: tuple[str, ...] = ()
    """Phrases that veto an alias hit they overlap or stand near (`musk ox`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Watchlist:
    """What a user watches and where alerts go.

    `terms` are OR-ed: `#Name` is an entity (or a feed category of that name), anything else
    a keyword or phrase matched as whole words. `query` is a boolean query (see
    `monitor.match.query`), OR-ed with the terms.
    """

    name: str
    terms: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    query: str | None = None
    fold_diacritics: bool = False
    """Match `Müller`, `Mueller` and `Muller` alike (diacritics are exact by default)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Validators:
    """HTTP cache validators remembered per feed for conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Story:
    """One feed entry after normalization: everything later stages need, nothing more."""

    feed: str
    title: str
    link: str | None
    """Canonical link: fragment and tracking parameters removed."""
    guid: str | None = None
    text: str = ""
    """Plain text of the summary/content, HTML and page furniture removed."""
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    """Timezone-aware UTC, or None when the feed gives no usable date."""
    language: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Hit:
    """One place a watchlist term hit, as offsets into the story's own (unfolded) field text.

    `field` is "title", "text" or "category"; for "category", `index` says which category.
    """

    term: str
    field: str
    start: int
    end: int
    index: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Match:
    """A watchlist that matched a story, with every hit in reading order (title first)."""

    watchlist: str
    hits: tuple[Hit, ...]

    @property
    def terms(self) -> tuple[str, ...]:
        """The distinct terms that hit, in first-hit order."""
        return tuple(dict.fromkeys(hit.term for hit in self.hits))


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertMessage:
    """What a notification says about one alert; rendered per channel by `monitor.notify`."""

    alert_id: int
    watchlist: str
    title: str
    link: str | None
    source: str
    terms: tuple[str, ...]
    snippet: str
    """A short stretch of the story around the first hit, plain text."""
    highlight: tuple[int, int] | None = None
    """Start and end of the first hit inside `snippet`, for formats that can mark it."""
    published: datetime | None = None
    also_in: tuple[str, ...] = ()
    """Other outlets that carried the same story (near-duplicates in its cluster)."""
