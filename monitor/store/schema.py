"""Tables, as SQLAlchemy Core. One schema for SQLite and PostgreSQL.

Unique keys carry correctness, not application locks: `story_keys.key` makes "seen" atomic,
`alerts (watchlist, cluster_id)` makes an alert exactly-once per story cluster,
`deliveries (alert_id, channel, target)` makes a delivery exactly-once, even with several
daemon processes on one store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

ALERTS_STORY_INDEX = "ix_alerts_story_id"
"""The index on `alerts.story_id` (named: `upgrade` adds it to stores made before it)."""

metadata = MetaData()

# The values of deliveries.status.
PENDING, SENT, DEAD = "pending", "sent", "dead"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which has no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("store datetimes must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for long runs.
_Id = BigInteger().with_variant(Integer(), "sqlite")

feeds = Table(
    "feeds",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_polled_at", UTCDateTime()),
    Column("last_ok_at", UTCDateTime()),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
)

stories = Table(
    "stories",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("feed", String(200), nullable=False),
    Column("guid", Text),
    Column("link", Text),
    Column("title", Text, nullable=False),
    Column("published_at", UTCDateTime()),
    Column("seen_at", UTCDateTime(), nullable=False),
    # Near-duplicates share a cluster: the id of the cluster's first story (see dedupe/).
    Column("cluster_id", _Id, index=True),
    Column("fingerprint", Text),  # monitor.dedupe.Fingerprint.encode()
    # monitor.dedupe.EventPrint.encode(): NULL for stories stored before same-event clustering
    # (they have no event keys either; see monitor/store/events.py).
    Column("event_words", Text),
    # Its LSH bands and event keys (`monitor.store.events.story_values`), packed as signed
    # 64-bit ints (`monitor.store.band_index.pack`): what the in-memory candidate index of
    # each process is built from. NULL for stories stored before store version 5 (their
    # values are computed from `fingerprint` and `event_words`).
    Column("bands", LargeBinary),
    Index("ix_stories_seen_at", "seen_at"),
)

# Exact identity keys. A pruned story leaves its keys behind with story_id NULL: a tombstone,
# so that an old item re-served by a feed is still "seen", never new. WITHOUT ROWID on SQLite
# (ignored elsewhere): the key's B-tree is the table, not a rowid table plus an index on key.
story_keys = Table(
    "story_keys",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("story_id", _Id, ForeignKey("stories.id", ondelete="SET NULL"), index=True),
    sqlite_with_rowid=False,
)

# Which watchlists matched each story (alerted or not): a re-served, edited story alerts only
# the watchlists that did not match it before.
story_matches = Table(
    "story_matches",
    metadata,
    Column("story_id", _Id, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("watchlist", String(200), primary_key=True),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("watchlist", String(200), nullable=False),
    Column("story_id", _Id, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("cluster_id", _Id, nullable=False),  # one alert per watchlist and cluster
    Column("terms", Text, nullable=False),  # JSON list
    Column("snippet", Text, nullable=False),
    Column("highlight_start", Integer),
    Column("highlight_end", Integer),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("watchlist", "cluster_id", name="uq_alert_watchlist_cluster"),
    # Prune deletes stories, and their alerts with them (the foreign key's cascade): without
    # this index each deleted story scans every alert. Added to older stores by `upgrade`.
    Index(ALERTS_STORY_INDEX, "story_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("alert_id", _Id, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("target", String(64), nullable=False),  # hash of the apprise URL, never the URL
    Column("status", String(16), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime()),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    # When the retry horizon starts: created_at, or the time `monitor deliveries retry` requeued it.
    Column("retry_from", UTCDateTime()),
    UniqueConstraint("alert_id", "channel", "target", name="uq_delivery"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_target", "channel", "target", "status"),
)

# One row per (channel, target) that is failing now: when it started, and whether the one
# "delivery is failing" error has been raised for it. Deleted when the target works again.
channel_health = Table(
    "channel_health",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("target", String(64), primary_key=True),
    Column("failing_since", UTCDateTime(), nullable=False),
    Column("alerted_at", UTCDateTime()),
)

# Watchlist queries as parsed by luqum (`monitor.match.nodes.encode`), by a hash of their text:
# parsing is most of a cold compile, and the same queries come back at every restart.
parsed_queries = Table(
    "parsed_queries",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("tree", Text, nullable=False),
)
