"""Which stored stories have a band hash or event key: the near-duplicate candidate index.

Issue #4 asks for 5,000 near-duplicate lookups and inserts per second with 1,000,000 stories
stored. Kept as rows of a B-tree (the `story_bands` table up to store version 4), each new
story wrote ~25 of them (16 LSH bands, ~9 event keys) at random places of an index of
millions: each a page of its own, written to the WAL and again by the checkpoint. The same
inserts through `sqlite3` alone topped out at ~3,000 stories/s here (bench/bench_dedupe.py,
`SQLite alone`), whatever the Python around them did.

So a story's values are one packed column of its own row (`stories.bands`, written with the
row, at the end of the table), and the lookup from a value to its stories is this index in
memory. It is built from the stories of the dedupe window when a process first ingests, and
follows the table (`catch_up`, at the start of every batch): the table stays the one truth,
written by every process, and each process's index reads what was added since (by id: a
range of the primary key, cheap). Its own stories it takes from the batch that wrote them,
once committed (`add_own`), when nothing can be missing below their ids.

Layout: a few sorted runs, each two numpy arrays sorted by value (values, story ids: 16
bytes an entry, ~410 MB for 1,000,000 stories of ~25 values all within the window; a 72-hour
window of a real deployment holds far fewer), and a dict of the entries read since the last
flush. A flush turns the dict into a run; runs of similar size are merged (`RUN_RATIO`), and
merging drops the entries of stories that left the window. A lookup is a binary search per
value and run, batched (`numpy.searchsorted`).

Several processes on PostgreSQL: ids come from a sequence and transactions commit out of
order, so an id below the highest one read may still be in flight; `catch_up` asks for such
gaps again for `GAP_SECONDS`, after which the id is taken as rolled back. An edited story's
new values are added by the process that edited it, after its commit; other processes find it
through its old values only (which stay in the index: a candidate is verified against its
stored fingerprint anyway) until they restart.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select

from monitor.store.db import placeholder, rows_in
from monitor.store.events import stored_values
from monitor.store.schema import stories

FLUSH_AT = 50_000
"""Entries read since the last flush at which they become a sorted run (a dict of lists costs
~100 bytes an entry; a run 16)."""
RUN_RATIO = 4
"""A run is merged with the one before it once it holds at least 1/RUN_RATIO of its entries:
at most ~log4(entries / FLUSH_AT) runs to search (5 at 25,000,000), and each entry copied
about that many times over its life, instead of the whole index at every flush."""
LOAD_CHUNK = 50_000
"""Rows read at a time when an index loads: the rows of 1,000,000 stories as Python objects
at once would take ~600 MB for a moment."""
GAP_SECONDS = 600.0
"""How long an id missing below the highest one read is asked for again: longer than any
transaction that inserts stories (a poll's batch) stays open."""
GAP_LIMIT = 10_000
"""Missing ids asked for at most: those just below the highest id read (an id given out
long before it is not in flight)."""

_COLUMNS = (
    "SELECT id, bands, CASE WHEN bands IS NULL THEN fingerprint END, "
    "CASE WHEN bands IS NULL THEN event_words END FROM stories "
)
"""A story's values; for a story stored before `stories.bands` (NULL), what to compute them
from (`events.stored_values`)."""

STRIDE = 32
"""Entries per step of a run's sample (`_Run.sample`)."""
SAMPLE_FROM = 2_000_000
"""Entries from which a run is searched through its sample."""

_Array = npt.NDArray[np.int64]
_OFFSETS = np.arange(STRIDE)
_EMPTY = np.empty(0, np.int64)


def pack(values: Sequence[int]) -> bytes:
    """A story's values (signed 64-bit ints) as `stories.bands` keeps them."""
    return struct.pack(f"<{len(values)}q", *values)


def stored(
    bands: bytes | None, fingerprint: str | None, event_words: str | None
) -> tuple[int, ...]:
    """A stored story's values: its `stories.bands`, or for a story stored before that
    column (NULL), the values of its stored fingerprint and event words."""
    if bands is None:
        return stored_values(fingerprint, event_words)
    return struct.unpack(f"<{len(bands) // 8}q", bands)


@dataclass(frozen=True, slots=True)
class _Run:
    """Entries sorted by value; per value, in the order read (ids ascending but for the few
    read late: a gap, an edit)."""

    values: _Array
    ids: _Array
    sample: _Array | None = field(init=False, repr=False)
    """Every `STRIDE`th value, for a run of `SAMPLE_FROM` entries or more: a binary search over
    a large run misses the CPU cache at nearly every step; over this (1/32 of the size) most
    steps hit it, and the last step reads `STRIDE` neighbouring values (bench: 1,500 values in
    25,000,000, 0.65 ms against 1.35; in 4,000,000 with the cache cold, 0.8 against 1.0).
    Below, a plain binary search is cheaper (in 250,000: 0.3 ms against 0.55)."""

    def __post_init__(self) -> None:
        sample = self.values[::STRIDE].copy() if len(self.values) >= SAMPLE_FROM else None
        object.__setattr__(self, "sample", sample)

    def __len__(self) -> int:
        return len(self.values)

    def spans(self, wanted: _Array) -> tuple[_Array, _Array, _Array]:
        """(indices into `wanted`, starts, ends) of the wanted values the run has."""
        values, last = self.values, len(self.values) - 1
        if last < 0:
            return _EMPTY, _EMPTY, _EMPTY
        if self.sample is None:
            lows = np.searchsorted(values, wanted, "left")
        else:
            # The first entry >= a wanted value lies in the block of STRIDE entries after the
            # sample just below it (clipped at the end: repeats of the last value).
            start = np.maximum(np.searchsorted(self.sample, wanted, "left") - 1, 0) * STRIDE
            block = values[np.minimum(start[:, None] + _OFFSETS, last)]
            lows = np.minimum(start + (block < wanted[:, None]).sum(axis=1), last + 1)
        # Most wanted values are absent: the end of a span is searched for only if present.
        present = np.flatnonzero(values[np.minimum(lows, last)] == wanted)
        return present, lows[present], np.searchsorted(values, wanted[present], "right")

    def without(self, first: int, gone: dict[int, set[int]]) -> _Run:
        """This run without the stories before id `first` and the values edits took away."""
        keep = self.ids >= first
        for value, lost in gone.items():
            low = int(np.searchsorted(self.values, value, "left"))
            high = int(np.searchsorted(self.values, value, "right"))
            keep[low:high] &= ~np.isin(self.ids[low:high], list(lost))
        return self if keep.all() else _Run(self.values[keep], self.ids[keep])

    def merged(self, newer: _Run) -> _Run:
        """Both runs as one, each entry of `newer` after the entries of its value here."""
        at = np.searchsorted(self.values, newer.values, "right") + np.arange(len(newer))
        mine = np.ones(len(self) + len(newer), dtype=bool)
        mine[at] = False
        values, ids = np.empty(len(mine), np.int64), np.empty(len(mine), np.int64)
        values[at], values[mine] = newer.values, self.values
        ids[at], ids[mine] = newer.ids, self.ids
        return _Run(values, ids)


def _sorted_run(values: _Array, ids: _Array) -> _Run:
    order = np.argsort(values, kind="stable")  # entries of one value stay in the order read
    return _Run(values[order], ids[order])


class BandIndex:
    """Band hash or event key -> ids of the stories that have it, as of the last `catch_up`."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []
        """Sorted runs, the oldest (and largest) first."""
        self._recent: dict[int, list[int]] = {}
        """Entries read since the last flush, by value (ids in the order read)."""
        self._recent_count = 0
        self._gone: dict[int, set[int]] = {}
        """Value -> ids of the stories in the runs that lost it by an edit."""
        self._upto: int | None = None
        """Every story with an id up to this one has been read, or is a gap (None: not loaded)."""
        self._gaps: dict[int, float] = {}
        """Missing id -> `time.monotonic()` when it was first missed."""
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held by the sorted runs (the dict of recent entries not counted)."""
        return sum(run.values.nbytes + run.ids.nbytes for run in self._runs)

    def __len__(self) -> int:
        return sum(map(len, self._runs)) + self._recent_count

    def catch_up(self, conn: Connection, cutoff: datetime) -> None:
        """Read the stories added since the last call (on the first, those seen since
        `cutoff`), and any gap that has committed since."""
        with self._lock:
            if self._upto is None:
                self._load(conn, cutoff)
                return
            sql = f"{_COLUMNS} WHERE id > {placeholder(conn)} ORDER BY id"
            rows: list[Sequence[Any]] = list(conn.exec_driver_sql(sql, (self._upto,)).fetchall())
            if not rows and _top(conn) < self._upto:
                # A prune emptied the store, and SQLite gives out ids from 1 again: ids
                # the index has read would be taken for new stories'.
                self._load(conn, cutoff)
                return
            self._read_up_to(conn, [int(row[0]) for row in rows])
            if self._gaps:
                self._expire_gaps()
                found = list(rows_in(conn, _COLUMNS + "WHERE id IN ({marks})", list(self._gaps)))
                for row in found:
                    del self._gaps[int(row[0])]
                rows += found
            if rows:
                values, ids = _entries(rows)
                self._remember(values.tolist(), ids.tolist())
            if self._recent_count >= FLUSH_AT:
                self._flush(conn, cutoff)

    def add_own(self, added: Sequence[tuple[int, Sequence[int]]]) -> None:
        """Stories this process has just committed (id, values; ids ascending), so that the
        next `catch_up` need not read them back. Taken only when their ids follow the last
        one read without a gap, so that nothing below them can be missing (on SQLite, when
        no other process wrote between this batch's `catch_up` and its insert); otherwise
        `catch_up` reads them like any other story."""
        with self._lock:
            if not added or self._upto is None or added[0][0] != self._upto + 1:
                return
            ids = [story_id for story_id, _ in added]
            if ids[-1] - ids[0] != len(ids) - 1:
                return
            values = [value for _, found in added for value in found]
            self._remember(values, [i for i, found in added for _ in found])
            self._upto = ids[-1]

    def edit(self, story_id: int, before: Sequence[int], after: Sequence[int]) -> None:
        """A story's values changed by an edit (committed), which `catch_up` does not see:
        it is found by its new values and no longer by those it lost."""
        with self._lock:
            lost, gained = set(before) - set(after), [v for v in after if v not in before]
            for value in lost:
                found = self._recent.get(value)
                if found is not None and story_id in found:
                    found.remove(story_id)
                    self._recent_count -= 1
                else:
                    self._gone.setdefault(value, set()).add(story_id)
            for value in gained:
                if story_id in self._gone.get(value, ()):  # lost by an earlier edit: back
                    self._gone[value].discard(story_id)
                else:
                    self._remember([value], [story_id])

    def recent(self, values: Sequence[int], bound: int) -> dict[int, list[int]]:
        """Per value of `values` that some story has, the ids of the (at most) `bound` most
        recent such stories, ascending."""
        with self._lock:
            wanted = np.array(values, dtype=np.int64)
            found: dict[int, list[int]] = {}
            gone = self._gone
            for run in self._runs:
                present, lows, highs = run.spans(wanted)
                if not len(present):
                    continue
                # The last `bound` ids of each span (more where edits took some away), all
                # gathered at once: a numpy slice per value cost more than the search.
                keys = wanted[present].tolist()
                extra = [len(gone.get(v, ())) for v in keys] if gone else 0
                starts = np.maximum(lows, highs - bound - np.asarray(extra, dtype=np.int64))
                counts = highs - starts
                at = np.repeat(starts - np.cumsum(counts) + counts, counts)
                ids = run.ids[at + np.arange(len(at))].tolist()
                if len(ids) == len(keys):  # one id per value: the usual case
                    lists = [[story_id] for story_id in ids]
                else:
                    ends = np.cumsum(counts).tolist()
                    lists = [ids[e - c : e] for e, c in zip(ends, counts.tolist(), strict=True)]
                if not found:
                    found = dict(zip(keys, lists, strict=True))
                    continue
                for value, more in zip(keys, lists, strict=True):
                    if value in found:
                        found[value] += more
                    else:
                        found[value] = more
            recent = self._recent
            for value in recent.keys() & values:  # in C: most values are in no recent entry
                more = recent[value]  # empty once an edit took its only story away
                if more:
                    found[value] = found[value] + more if value in found else list(more)
            for value in [value for value in found if value in gone]:
                kept = [i for i in found[value] if i not in gone[value]]
                if kept:
                    found[value] = kept
                else:
                    del found[value]
            for value, ids in found.items():
                if len(ids) > 1:
                    found[value] = sorted(ids)[-bound:]  # nearly sorted already: cheap
            return found

    def _load(self, conn: Connection, cutoff: datetime) -> None:
        """Read every story seen since `cutoff` into one run, a chunk of rows at a time."""
        self._runs, self._recent, self._recent_count, self._gaps, self._gone = [], {}, 0, {}, {}
        low = _first(conn, cutoff)
        self._upto = _top(conn) if low is None else low - 1
        if low is None:
            return
        sql = f"{_COLUMNS} WHERE id >= {placeholder(conn)} ORDER BY id"
        result = conn.exec_driver_sql(sql, (low,))
        chunks = []
        while rows := result.fetchmany(LOAD_CHUNK):
            self._read_up_to(conn, [int(row[0]) for row in rows])
            chunks.append(_entries(rows))
        values = np.concatenate([values for values, _ in chunks])
        ids = np.concatenate([ids for _, ids in chunks])
        del chunks
        self._runs = [_sorted_run(values, ids)]

    def _read_up_to(self, conn: Connection, ids: list[int]) -> None:
        """`ids` (ascending, above `_upto`) were read: the highest is the new `_upto`, and
        on PostgreSQL those missing below it within `GAP_LIMIT` are gaps."""
        if not ids:
            return
        assert self._upto is not None
        if conn.dialect.name != "sqlite":
            # SQLite has one writer at a time, which gives out ids under its lock: no id
            # below the highest one read can still be in flight there.
            now, before, floor = time.monotonic(), self._upto, ids[-1] - GAP_LIMIT
            for story_id in ids:
                for missing in range(max(before, floor) + 1, story_id):
                    self._gaps[missing] = now
                before = story_id
            while len(self._gaps) > GAP_LIMIT:
                del self._gaps[next(iter(self._gaps))]  # the oldest first: dicts keep order
        self._upto = ids[-1]

    def _expire_gaps(self) -> None:
        too_old = time.monotonic() - GAP_SECONDS
        for story_id in [i for i, since in self._gaps.items() if since < too_old]:
            del self._gaps[story_id]

    def _remember(self, values: list[int], ids: list[int]) -> None:
        """Entries into the dict of recent ones, until the next flush."""
        recent = self._recent
        for value, story_id in zip(values, ids, strict=True):
            found = recent.get(value)
            if found is None:
                recent[value] = [story_id]
            else:
                found.append(story_id)
        self._recent_count += len(values)

    def _flush(self, conn: Connection, cutoff: datetime) -> None:
        """The recent entries become a run; runs of similar size are merged, and what they
        merge loses the stories seen before the window and the values edits took away."""
        recent, self._recent, self._recent_count = self._recent, {}, 0
        count = sum(map(len, recent.values()))
        values = np.fromiter((v for v, found in recent.items() for _ in found), np.int64, count)
        ids = np.fromiter((i for found in recent.values() for i in found), np.int64, count)
        self._runs.append(_sorted_run(values, ids))
        first = _first(conn, cutoff) or 0
        while len(self._runs) > 1 and len(self._runs[-1]) * RUN_RATIO >= len(self._runs[-2]):
            newer, older = self._runs.pop(), self._runs.pop()
            merged = older.without(first, self._gone).merged(newer.without(first, self._gone))
            self._runs.append(merged)
        if len(self._runs) == 1:  # every entry has been through `without`
            self._gone = {}
        else:  # an edit of a story that has left the window no longer matters
            kept = ((value, {i for i in lost if i >= first}) for value, lost in self._gone.items())
            self._gone = {value: lost for value, lost in kept if lost}


def _top(conn: Connection) -> int:
    """The highest story id (0 if none)."""
    return int(conn.exec_driver_sql("SELECT max(id) FROM stories").scalar() or 0)


def _first(conn: Connection, cutoff: datetime) -> int | None:
    """The id of the first story seen since `cutoff` (ids grow with `seen_at`)."""
    found = conn.execute(select(func.min(stories.c.id)).where(stories.c.seen_at >= cutoff))
    return int(found.scalar() or 0) or None


def _entries(rows: Sequence[Sequence[Any]]) -> tuple[_Array, _Array]:
    """(values, story ids) of the (id, bands, fingerprint, event words) rows of `stories`."""
    blobs = [
        bands if bands is not None else pack(stored_values(fp, words))
        for _, bands, fp, words in rows
    ]
    values = np.frombuffer(b"".join(blobs), dtype="<i8").astype(np.int64, copy=False)
    counts = [len(blob) // 8 for blob in blobs]
    return values, np.repeat(np.array([row[0] for row in rows], dtype=np.int64), counts)
