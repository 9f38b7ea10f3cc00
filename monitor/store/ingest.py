"""Storing a poll's new stories: one transaction, lookups once, each table written once.

`Stories.ingest_many` hands its batch to `Batch`, which decides every story in order —
seen, changed, new; which near-duplicate's cluster it joins; which watchlists alert — the
same way as ingesting them one by one would, then writes the new ones together.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

import numpy as np
from sqlalchemy import Connection, select, update

from monitor.dedupe import EventPrint, Fingerprint, Identity, same_story
from monitor.models import Story
from monitor.store import events
from monitor.store.alerting import NewAlert, record_matches
from monitor.store.band_index import BandIndex, pack, stored
from monitor.store.db import (
    dialect_insert,
    driver_value,
    insert_ids,
    insert_plain,
    placeholder,
    rows_in,
)
from monitor.store.schema import stories, story_keys, story_matches


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
    """True when the story joined an earlier story's cluster (a near-duplicate, or another
    outlet's report of the same event)."""

    def __bool__(self) -> bool:
        return self.stored


@dataclass(frozen=True, kw_only=True, slots=True)
class ToIngest:
    """One story for `Stories.ingest_many`: its identity and the alerts its matches ask for."""

    story: Story
    ident: Identity
    alerts: Sequence[NewAlert]


@dataclass(eq=False, slots=True)
class _Entry:
    """A near-duplicate candidate: a stored story, or one of the batch (ids set once written)."""

    fp: Fingerprint
    order: tuple[int, int]
    """Which of two equally similar candidates wins: stored ones by id, then the batch's."""
    story_id: int | None = None
    cluster_id: int | None = None
    ep: EventPrint | None = None
    """Its event print (None: a near-duplicate's copy, kept without one, or a story stored
    before same-event clustering; see `events`)."""


@dataclass(eq=False, slots=True)
class _New:
    """A new story of the batch, decided but not written yet."""

    item: ToIngest
    index: int
    entry: _Entry
    joins: _Entry | None
    """The near-duplicate or same-event story whose cluster it joins (None: its own)."""


class Batch:
    """`ingest_many` inside its transaction: lookups once, decisions in order, writes at once.

    The keys and bands of the whole batch are looked up first; each story is then decided in
    order against the store *and* the batch's earlier stories, exactly as if each had been
    ingested on its own. New stories are written together (`_flush`); a story some key of
    which is already known is handled by `_known` after the pending ones are written,
    so it sees the store as the one-by-one order would.
    """

    def __init__(self, conn: Connection, index: BandIndex, now: datetime, cutoff: datetime) -> None:
        self.conn = conn
        self.index = index
        self.now = now
        self.cutoff = cutoff
        self.keys: dict[str, int | _Entry | None] = {}
        """Identity key -> stored story id (None: a tombstone), or a story of this batch."""
        self.bands: dict[int, list[_Entry]] = {}
        """Band hash or event key -> the stories within the window that have it, oldest first
        (`events.best` looks at the most recent `events.CANDIDATES_PER_KEY`)."""
        self.stored: dict[int, _Entry] = {}
        self.values: list[tuple[int, ...]] = []
        """Per item of the batch, its `events.story_values`."""
        self.pending: list[_New] = []
        self.results: list[Ingested] = []
        self.edits: list[tuple[int, Sequence[int], Sequence[int]]] = []
        """(story id, its values before and after its edit): for the index, once the batch
        has committed (`BandIndex.catch_up` reads new stories, not changed ones)."""
        self.added: list[tuple[int, Sequence[int]]] = []
        """(story id, its values) of the stories written, in id order: for the index, once
        the batch has committed (`BandIndex.add_own`)."""

    def run(self, items: Sequence[ToIngest]) -> list[Ingested]:
        # Each story's bands and event keys, computed once: looked up, compared, written.
        self.values = [events.story_values(i.ident.fingerprint, i.ident.event) for i in items]
        self._lookup(items)
        self.results = [Ingested(stored=False)] * len(items)
        for index, item in enumerate(items):
            keys = item.ident.keys
            if any(key in self.keys for key in keys):
                self._flush()
                self.results[index] = self._known(item)
                continue
            fp, ep = item.ident.fingerprint, item.ident.event
            entry = _Entry(fp=fp, order=(1, index), ep=ep)
            values = self.values[index]
            joins = events.best(fp, ep, [self.bands.get(v, []) for v in values])
            if joins is not None and same_story(fp, joins.fp):
                # A copy of a story already in the store: its cluster is found through the
                # story it copies, so it is kept without event words or keys (9 index rows
                # of 28 fewer). `events.best` prefers a near-duplicate, so this is one.
                entry.ep = None
                values = self.values[index] = events.story_values(fp, None)
            self.pending.append(_New(item=item, index=index, entry=entry, joins=joins))
            for key in keys:
                self.keys[key] = entry
            for band in values:
                self.bands.setdefault(band, []).append(entry)
        self._flush()
        return self.results

    def _lookup(self, items: Sequence[ToIngest]) -> None:
        conn = self.conn
        wanted = sorted({key for item in items for key in item.ident.keys})
        self.keys.update(known_keys(conn, wanted))
        self.index.catch_up(conn, self.cutoff)
        values = np.unique(np.fromiter(chain.from_iterable(self.values), np.int64)).tolist()
        recent = self.index.recent(values, events.CANDIDATES_PER_KEY)
        ids = sorted({story_id for found in recent.values() for story_id in found})
        cutoff = driver_value(conn, stories.c.seen_at, self.cutoff)
        decoded: dict[int, _Entry] = {}
        for story_id, cluster_id, text, words in rows_in(conn, events.STORY_ROWS, ids, cutoff):
            entry = _Entry(Fingerprint.decode(text), (0, story_id), story_id, cluster_id)
            entry.ep = EventPrint.decode(words) if words is not None else None
            decoded[story_id] = entry
        # Ids ascending: each list is already in `order`, as the batch's stories append to it.
        for band, found in recent.items():
            entries = [decoded[story_id] for story_id in found if story_id in decoded]
            if entries:
                self.bands[band] = entries
        self.stored = decoded

    def _flush(self) -> None:
        """Write the pending new stories: rows, cluster ids, keys, bands, then their alerts."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        conn, now = self.conn, self.now
        rows = [
            {
                "feed": new.item.story.feed,
                "guid": new.item.story.guid,
                "link": new.item.story.link,
                "title": new.item.story.title,
                "published_at": new.item.story.published,
                "seen_at": now,
                # Joining a stored story: its cluster is known now. Its own cluster, or one of
                # the batch: known once the ids are (below).
                "cluster_id": new.joins.cluster_id if new.joins and new.joins.story_id else None,
                "fingerprint": new.entry.fp.encode(),
                "event_words": new.entry.ep.encode() if new.entry.ep is not None else None,
                "bands": pack(self.values[new.index]),
            }
            for new in pending
        ]
        unknown: list[tuple[int, int]] = []
        written: list[tuple[_New, int, int]] = []
        for new, row, story_id in zip(pending, rows, insert_ids(conn, stories, rows), strict=True):
            # `joins` is a stored story or an earlier one of the batch: its cluster is known.
            cluster = new.joins.cluster_id if new.joins else story_id
            assert cluster is not None
            new.entry.story_id, new.entry.cluster_id = story_id, cluster
            self.stored[story_id] = new.entry
            self.added.append((story_id, self.values[new.index]))
            written.append((new, story_id, cluster))
            if row["cluster_id"] is None:
                unknown.append((cluster, story_id))
        if unknown:
            mark = placeholder(conn)
            conn.exec_driver_sql(
                f"UPDATE stories SET cluster_id = {mark} WHERE id = {mark}", unknown
            )
        keys = [(key, sid) for new, sid, _ in written for key in new.item.ident.keys]
        insert_plain(conn, story_keys, ("key", "story_id"), keys)
        for new, story_id, cluster_id in written:
            count = record_matches(conn, story_id, cluster_id, new.item.alerts, set(), now)
            self.results[new.index] = Ingested(
                stored=True, alerts=count, cluster_id=cluster_id, joined=new.joins is not None
            )

    def _known(self, item: ToIngest) -> Ingested:
        """A story some key of which is stored: learn its new keys; re-match if it changed."""
        existing: dict[str, int | None] = {}
        for key in item.ident.keys:
            if key in self.keys:
                found = self.keys[key]
                existing[key] = found.story_id if isinstance(found, _Entry) else found
        story_id = next((sid for sid in existing.values() if sid is not None), None)
        new_keys = [k for k in item.ident.keys if k not in existing]
        _add_keys(self.conn, story_id, new_keys)
        for key in new_keys:
            self.keys[key] = story_id
        if story_id is None:  # only tombstones: pruned long ago, stays seen
            return Ingested(stored=False)
        ident = item.ident
        if ident.content is None or ident.content in existing:
            return Ingested(stored=False)
        # Same guid or link, new text: a correction or an update.
        conn = self.conn
        row = conn.execute(
            select(
                stories.c.cluster_id,
                stories.c.seen_at,
                stories.c.fingerprint,
                stories.c.event_words,
                stories.c.bands,
            ).where(stories.c.id == story_id)
        ).one()
        cluster_id = row.cluster_id
        after = events.story_values(ident.fingerprint, ident.event)
        conn.execute(
            update(stories)
            .where(stories.c.id == story_id)
            .values(
                title=item.story.title,
                fingerprint=ident.fingerprint.encode(),
                event_words=ident.event.encode(),
                bands=pack(after),
            )
        )
        old_values = stored(row.bands, row.fingerprint, row.event_words)
        self._rebanded(story_id, row.cluster_id, row.seen_at, old_values, after, ident)
        before = set(
            conn.execute(
                select(story_matches.c.watchlist).where(story_matches.c.story_id == story_id)
            ).scalars()
        )
        count = record_matches(conn, story_id, cluster_id, item.alerts, before, self.now)
        return Ingested(stored=True, alerts=count, cluster_id=cluster_id, joined=True)

    def _rebanded(
        self,
        story_id: int,
        cluster_id: int,
        seen_at: datetime,
        before: Sequence[int],
        after: Sequence[int],
        ident: Identity,
    ) -> None:
        """An edited story's bands and event keys (`before`: those of its stored text) become
        those of its new text (`after`), in the batch's view of it and, once committed, in
        the index, so that later stories find the text they will be compared with."""
        fp, ep = ident.fingerprint, ident.event
        self.edits.append((story_id, before, after))
        entry = self.stored.get(story_id)
        if entry is None:
            entry = _Entry(fp, (0, story_id), story_id, cluster_id)
            self.stored[story_id] = entry
        entry.fp, entry.ep = fp, ep
        for band in before:
            if entry in self.bands.get(band, ()):
                self.bands[band].remove(entry)
        if seen_at >= self.cutoff:  # what a lookup of its bands would find now
            for band in after:
                found = self.bands.setdefault(band, [])
                if entry not in found:
                    found.append(entry)
                    found.sort(key=_order)


def known_keys(conn: Connection, keys: Sequence[str]) -> list[tuple[str, int | None]]:
    """(key, story id or None for a tombstone) of each of `keys` that is stored."""
    query = 'SELECT "key", story_id FROM story_keys WHERE "key" IN ({marks})'
    return [(key, story_id) for key, story_id in rows_in(conn, query, keys)]


def _order(entry: _Entry) -> tuple[int, int]:
    return entry.order


def status_of(ident: Identity, known: set[str]) -> Status:
    """What `known` (the stored identity keys) says about a story's identity."""
    if ident.content is not None and ident.content in known:
        return Status.SEEN
    if any(key in known for key in ident.ids):
        return Status.SEEN if ident.content is None else Status.CHANGED
    return Status.NEW


def _add_keys(conn: Connection, story_id: int | None, keys: Sequence[str]) -> None:
    if keys:
        rows = [{"key": key, "story_id": story_id} for key in keys]
        conn.execute(dialect_insert(conn)(story_keys).values(rows).on_conflict_do_nothing())
