"""Seen stories, their clusters and their alerts.

A story is stored under all its identity keys, with its LSH bands, the watchlists it matched,
its alerts and their deliveries, in one transaction: "seen" and "alerted" can never disagree,
whatever crashes when.

Near-duplicates (`monitor.dedupe.same_story`) seen within the dedupe window join the cluster
of the earlier story; an alert is unique per (watchlist, cluster), so a watchlist alerts once
per story however many outlets carry it. The cluster remembers every outlet (`also_in`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.dedupe import Fingerprint, Identity, same_story
from monitor.dedupe.fingerprint import jaccard
from monitor.models import Story
from monitor.store.db import Database, dialect_insert, insert_id
from monitor.store.schema import (
    PENDING,
    alerts,
    deliveries,
    stories,
    story_bands,
    story_keys,
    story_matches,
)

DEFAULT_WINDOW = timedelta(hours=72)
_CHUNK = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class NewAlert:
    """An alert to create with a story: one delivery per (channel, target) it routes to."""

    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    highlight: tuple[int, int] | None
    targets: tuple[tuple[str, str], ...]
    """(channel name, target key) pairs."""


class Status(enum.Enum):
    NEW = "new"
    SEEN = "seen"
    """Known, with the same content (or a tombstone): nothing to do."""
    CHANGED = "changed"
    """Known by guid or link, but its content key is new: the text changed; match it again."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Ingested:
    """What `ingest` did. True when the story was new (or changed) and got stored."""

    stored: bool
    alerts: int = 0
    cluster_id: int | None = None
    joined: bool = False
    """True when the story joined an earlier near-duplicate's cluster."""

    def __bool__(self) -> bool:
        return self.stored


class Stories:
    def __init__(self, db: Database, window: timedelta = DEFAULT_WINDOW) -> None:
        self._db = db
        self.window = window
        """Near-duplicates seen within this time join one cluster (one alert per watchlist)."""

    def status(self, identities: Sequence[Identity]) -> list[Status]:
        """A cheap batched pre-check so that only new or changed stories are matched.

        `ingest` decides for real, atomically.
        """
        known = self._known({key for ident in identities for key in ident.keys})
        return [_status(ident, known) for ident in identities]

    def ingest(
        self,
        story: Story,
        ident: Identity,
        new_alerts: Sequence[NewAlert],
        now: datetime,
    ) -> Ingested:
        """Store a story with its alerts and their deliveries, in one transaction.

        `new_alerts` are all the watchlists that matched; an alert is created only for a
        watchlist that has none in the story's cluster yet, and, for a changed story, that did
        not match it before. Returns a false `Ingested` (and writes nothing but any new keys)
        when the story was already seen.
        """
        all_keys = list(ident.keys)
        try:
            with self._db.transaction() as conn:
                existing = dict(
                    conn.execute(
                        select(story_keys.c.key, story_keys.c.story_id).where(
                            story_keys.c.key.in_(all_keys)
                        )
                    ).all()
                )
                if existing:
                    return self._known_story(
                        conn, story, ident, all_keys, existing, new_alerts, now
                    )
                fp = ident.fingerprint
                cluster_id = self._cluster_of(conn, fp, now)
                story_id = insert_id(
                    conn,
                    insert(stories).values(
                        feed=story.feed,
                        guid=story.guid,
                        link=story.link,
                        title=story.title,
                        published_at=story.published,
                        seen_at=now,
                        cluster_id=cluster_id,
                        fingerprint=fp.encode(),
                    ),
                )
                joined = cluster_id is not None
                if cluster_id is None:
                    cluster_id = story_id
                    conn.execute(
                        update(stories).where(stories.c.id == story_id).values(cluster_id=story_id)
                    )
                conn.execute(
                    insert(story_keys), [{"key": k, "story_id": story_id} for k in all_keys]
                )
                bands = [{"band": b, "story_id": story_id, "seen_at": now} for b in fp.bands()]
                if bands:
                    conn.execute(insert(story_bands), _unique_bands(bands))
                count = _record_matches(conn, story_id, cluster_id, new_alerts, set(), now)
                return Ingested(stored=True, alerts=count, cluster_id=cluster_id, joined=joined)
        except IntegrityError:
            # Another process stored the same story (or alert) between our check and insert.
            return Ingested(stored=False)

    def also_in(self, alert_id: int) -> tuple[str, ...]:
        """The other outlets (feed names) that carried the alerted story's cluster, in order."""
        with self._db.transaction() as conn:
            row = conn.execute(
                select(alerts.c.cluster_id, stories.c.feed)
                .join(stories, stories.c.id == alerts.c.story_id)
                .where(alerts.c.id == alert_id)
            ).one_or_none()
            if row is None:
                return ()
            outlets = outlets_by_cluster(conn, {row.cluster_id})
        return tuple(feed for feed in outlets.get(row.cluster_id, ()) if feed != row.feed)

    def cluster_feeds(self, cluster_id: int) -> tuple[str, ...]:
        """Every outlet (feed name) in a cluster, first seen first."""
        with self._db.transaction() as conn:
            return tuple(outlets_by_cluster(conn, {cluster_id}).get(cluster_id, ()))

    def prune(self, now: datetime, horizon: timedelta) -> int:
        """Forget stories first seen before `now - horizon`; returns how many went.

        Their bands, matches, alerts and deliveries go with them; their identity keys stay as
        tombstones (story_id NULL), so a feed that re-serves an old item does not make it new.
        """
        cutoff = now - horizon
        with self._db.transaction() as conn:
            result = conn.execute(delete(stories).where(stories.c.seen_at < cutoff))
            return int(result.rowcount or 0)

    def alert_count(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute(select(func.count()).select_from(alerts)).scalar() or 0)

    def _known(self, wanted: set[str]) -> set[str]:
        known: set[str] = set()
        if not wanted:
            return known
        batch = sorted(wanted)
        with self._db.transaction() as conn:
            for start in range(0, len(batch), _CHUNK):
                chunk = batch[start : start + _CHUNK]
                known.update(
                    conn.execute(select(story_keys.c.key).where(story_keys.c.key.in_(chunk)))
                    .scalars()
                    .all()
                )
        return known

    def _known_story(
        self,
        conn: Connection,
        story: Story,
        ident: Identity,
        all_keys: Sequence[str],
        existing: dict[str, int | None],
        new_alerts: Sequence[NewAlert],
        now: datetime,
    ) -> Ingested:
        """A story some key of which is stored: learn its new keys; re-match if it changed."""
        story_id = next((sid for sid in existing.values() if sid is not None), None)
        new_keys = [k for k in all_keys if k not in existing]
        if story_id is None:  # only tombstones: pruned long ago, stays seen
            _add_keys(conn, None, new_keys)
            return Ingested(stored=False)
        _add_keys(conn, story_id, new_keys)
        if ident.content is None or ident.content in existing:
            return Ingested(stored=False)
        # Same guid or link, new text: a correction or an update.
        cluster_id = conn.execute(
            select(stories.c.cluster_id).where(stories.c.id == story_id)
        ).scalar_one()
        conn.execute(
            update(stories)
            .where(stories.c.id == story_id)
            .values(title=story.title, fingerprint=ident.fingerprint.encode())
        )
        before = set(
            conn.execute(
                select(story_matches.c.watchlist).where(story_matches.c.story_id == story_id)
            ).scalars()
        )
        count = _record_matches(conn, story_id, cluster_id, new_alerts, before, now)
        return Ingested(stored=True, alerts=count, cluster_id=cluster_id, joined=True)

    def _cluster_of(self, conn: Connection, fp: Fingerprint, now: datetime) -> int | None:
        """The cluster of the most similar near-duplicate seen within the window, if any."""
        bands = fp.bands()
        if not bands:
            return None
        rows = conn.execute(
            select(stories.c.cluster_id, stories.c.fingerprint)
            .distinct()
            .join(story_bands, story_bands.c.story_id == stories.c.id)
            .where(story_bands.c.band.in_(bands), story_bands.c.seen_at >= now - self.window)
        ).all()
        best: tuple[float, int] | None = None
        for row in rows:
            other = Fingerprint.decode(row.fingerprint)
            if same_story(fp, other):
                score = jaccard(fp.title, other.title)
                if best is None or score > best[0]:
                    best = (score, int(row.cluster_id))
        return best[1] if best else None


def _status(ident: Identity, known: set[str]) -> Status:
    if ident.content is not None and ident.content in known:
        return Status.SEEN
    if any(key in known for key in ident.ids):
        return Status.SEEN if ident.content is None else Status.CHANGED
    return Status.NEW


def _unique_bands(rows: Iterable[dict[str, object]]) -> list[dict[str, object]]:
    return list({row["band"]: row for row in rows}.values())


def _add_keys(conn: Connection, story_id: int | None, keys: Sequence[str]) -> None:
    if keys:
        rows = [{"key": key, "story_id": story_id} for key in keys]
        conn.execute(dialect_insert(conn)(story_keys).values(rows).on_conflict_do_nothing())


def _record_matches(
    conn: Connection,
    story_id: int,
    cluster_id: int,
    new_alerts: Sequence[NewAlert],
    before: set[str],
    now: datetime,
) -> int:
    """Remember which watchlists matched; alert those new to the story and to its cluster."""
    fresh = [a for a in new_alerts if a.watchlist not in before]
    if not fresh:
        return 0
    conn.execute(
        dialect_insert(conn)(story_matches)
        .values([{"story_id": story_id, "watchlist": a.watchlist} for a in fresh])
        .on_conflict_do_nothing()
    )
    alerted = set(
        conn.execute(
            select(alerts.c.watchlist).where(
                alerts.c.cluster_id == cluster_id,
                alerts.c.watchlist.in_([a.watchlist for a in fresh]),
            )
        ).scalars()
    )
    count = 0
    for alert in fresh:
        if alert.watchlist not in alerted:
            _insert_alert(conn, story_id, cluster_id, alert, now)
            count += 1
    return count


def _insert_alert(
    conn: Connection, story_id: int, cluster_id: int, alert: NewAlert, now: datetime
) -> None:
    start, end = alert.highlight if alert.highlight else (None, None)
    alert_id = insert_id(
        conn,
        insert(alerts).values(
            watchlist=alert.watchlist,
            story_id=story_id,
            cluster_id=cluster_id,
            terms=json.dumps(list(alert.terms), ensure_ascii=False),
            snippet=alert.snippet,
            highlight_start=start,
            highlight_end=end,
            created_at=now,
        ),
    )
    if alert.targets:
        conn.execute(
            insert(deliveries),
            [
                {
                    "alert_id": alert_id,
                    "channel": channel,
                    "target": target,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for channel, target in alert.targets
            ],
        )


def outlets_by_cluster(conn: Connection, cluster_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each cluster's outlets (feed names), first seen first: the "also in" of an alert."""
    outlets: dict[int, list[str]] = {}
    wanted = sorted(set(cluster_ids))
    for start in range(0, len(wanted), _CHUNK):
        query = (
            select(stories.c.cluster_id, stories.c.feed)
            .where(stories.c.cluster_id.in_(wanted[start : start + _CHUNK]))
            .order_by(stories.c.id)
        )
        for cluster_id, feed in conn.execute(query):
            feeds = outlets.setdefault(cluster_id, [])
            if feed not in feeds:
                feeds.append(feed)
    return outlets
