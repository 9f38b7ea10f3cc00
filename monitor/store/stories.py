"""Seen stories, their clusters and their alerts.

A story is stored under all its identity keys, with its LSH bands, the watchlists it matched,
its alerts and their deliveries, in one transaction: "seen" and "alerted" can never disagree,
whatever crashes when. A poll stores its new stories together (`Stories.ingest_many`): one
transaction, one key lookup and one band lookup for the batch, each table written once — the
same decisions as one story at a time, 2-3x faster (bench/bench_dedupe.py).

Near-duplicates (`monitor.dedupe.same_story`) seen within the dedupe window join the cluster
of the earlier story, and so do other outlets' own reports of the same event
(`monitor.dedupe.same_event`, when no near-duplicate is found: `monitor.store.events`); an
alert is unique per (watchlist, cluster), so a watchlist alerts once per event however many
outlets carry it. The cluster remembers every outlet (`also_in`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import IntegrityError

from monitor.collector import paused
from monitor.dedupe import Identity
from monitor.models import Story
from monitor.store.alerting import NewAlert
from monitor.store.band_index import BandIndex
from monitor.store.db import IN_CHUNK, Database
from monitor.store.ingest import Batch, Ingested, Status, ToIngest, known_keys, status_of
from monitor.store.schema import (
    alerts,
    stories,
)

DEFAULT_WINDOW = timedelta(hours=72)


class Stories:
    def __init__(self, db: Database, window: timedelta = DEFAULT_WINDOW) -> None:
        self._db = db
        self.window = window
        """Near-duplicates seen within this time join one cluster (one alert per watchlist)."""
        self.index = BandIndex()
        """This process's view of the stored stories' bands and event keys (`band_index`)."""

    def status(self, identities: Sequence[Identity]) -> list[Status]:
        """A cheap batched pre-check so that only new or changed stories are matched.

        `ingest` decides for real, atomically.
        """
        known = self._known({key for ident in identities for key in ident.keys})
        return [status_of(ident, known) for ident in identities]

    def load_index(self, now: datetime) -> BandIndex:
        """Build this process's band index from the stories of the window now, rather than
        at the first poll (at 1,000,000 stories within the window: ~10 s, ~410 MB)."""
        with self._db.transaction() as conn:
            self.index.catch_up(conn, now - self.window)
        return self.index

    def ingest(
        self,
        story: Story,
        ident: Identity,
        new_alerts: Sequence[NewAlert],
        now: datetime,
    ) -> Ingested:
        """Store one story with its alerts and their deliveries, in one transaction.

        `new_alerts` are all the watchlists that matched; an alert is created only for a
        watchlist that has none in the story's cluster yet, and, for a changed story, that did
        not match it before. Returns a false `Ingested` (and writes nothing but any new keys)
        when the story was already seen.
        """
        return self.ingest_many([ToIngest(story=story, ident=ident, alerts=new_alerts)], now)[0]

    def ingest_many(self, items: Sequence[ToIngest], now: datetime) -> list[Ingested]:
        """`ingest` for the new stories of one poll, in order, in one transaction.

        The same decisions as ingesting them one by one (a later item can be seen by, or join
        the cluster of, an earlier one), with one key lookup and one band lookup for the
        whole batch and each table written once. If another process stores one of them
        meanwhile (a unique key fails), the batch is rolled back and ingested one by one.
        """
        if not items:
            return []
        with paused():  # re-enabled once `_batch`'s objects are gone: nothing left to scan
            results = self._batch(items, now)
        if results is None:  # another process stored one of them meanwhile
            return [self.ingest_many([item], now)[0] for item in items]
        return results

    def _batch(self, items: Sequence[ToIngest], now: datetime) -> list[Ingested] | None:
        """`ingest_many` in one transaction; None if a unique key failed (several items)."""
        try:
            with self._db.transaction() as conn:
                batch = Batch(conn, self.index, now, now - self.window)
                results = batch.run(items)
        except IntegrityError:
            if len(items) > 1:
                return None
            # Another process stored the same story (or alert) between our check and insert.
            return [Ingested(stored=False)]
        # Committed: the index may learn them (its own stories first, as it would read them).
        self.index.add_own(batch.added)
        for story_id, before, after in batch.edits:
            self.index.edit(story_id, before, after)
        return results

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

        Their matches, alerts and deliveries go with them; their identity keys stay as
        tombstones (story_id NULL), so a feed that re-serves an old item does not make it new.
        Their ids may stay in a process's band index a while: they lead nowhere, as
        candidates are read from `stories`.
        """
        with self._db.transaction() as conn:
            result = conn.execute(delete(stories).where(stories.c.seen_at < now - horizon))
            return int(result.rowcount or 0)

    def alert_count(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute(select(func.count()).select_from(alerts)).scalar() or 0)

    def _known(self, wanted: set[str]) -> set[str]:
        if not wanted:
            return set()
        with self._db.transaction() as conn:
            return {key for key, _ in known_keys(conn, sorted(wanted))}


def outlets_by_cluster(conn: Connection, cluster_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each cluster's outlets (feed names), first seen first: the "also in" of an alert."""
    outlets: dict[int, list[str]] = {}
    wanted = sorted(set(cluster_ids))
    for start in range(0, len(wanted), IN_CHUNK):
        query = (
            select(stories.c.cluster_id, stories.c.feed)
            .where(stories.c.cluster_id.in_(wanted[start : start + IN_CHUNK]))
            .order_by(stories.c.id)
        )
        for cluster_id, feed in conn.execute(query):
            feeds = outlets.setdefault(cluster_id, [])
            if feed not in feeds:
                feeds.append(feed)
    return outlets
