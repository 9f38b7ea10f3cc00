"""Same-event clustering in the store (issue #4): what a story's retrieval values are, and
which candidate a new story joins.

A story has two kinds of retrieval value (both signed 64-bit hashes, in disjoint hash
families): the LSH bands of its fingerprint, which find near-identical copies (`same_story`),
and the `event_keys` of its event print, which find independently written reports of the same
event (`same_event`). Both are kept together, packed in the story's row (`stories.bands`), and
looked up together in one in-memory index (`monitor.store.band_index`): one lookup per poll.

A new story joins the cluster of the best near-duplicate when there is one (the stricter
rule wins), otherwise the cluster of the best same-event candidate, so a watchlist alerts
once per event however many outlets write it up in their own words. A story that joins a
near-duplicate is stored without event words and keys (`event_words` NULL): it is a copy,
and a later report of its event finds the cluster through the story it copies.

Hot topics: a key such as (anschlag, magdeburg) or (donald, trump) may be shared by thousands
of stories within the dedupe window. Only the `CANDIDATES_PER_KEY` most recent stories of
each value are fetched, decoded and compared (`BandIndex.recent`; ids grow with `seen_at`),
so the work per story is bounded whatever the news. A report of an event joins its cluster
through any recent member, so the bound rarely costs a join; the bench
(bench/bench_dedupe.py, quality) measures what it costs on the corpus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from monitor.dedupe import EventPrint, Fingerprint, same_event, same_story
from monitor.dedupe.event import shared_words
from monitor.dedupe.fingerprint import jaccard

CANDIDATES_PER_KEY = 50
"""Most recent stories fetched (and compared) per band hash or event key. On the corpus
(bench/bench_dedupe.py, the store end to end) recall of the labelled pairs is 0.933 at K = 1,
0.956 at 2-3 and 0.961 from 5 on (no key of a capture date is shared by more than a few
dozen stories); 50 leaves room for a busy day while bounding a poll's work to at most
26 x 50 candidates per story."""

STORY_ROWS = (
    "SELECT id, cluster_id, fingerprint, event_words FROM stories "
    "WHERE id IN ({marks}) AND seen_at >= {mark}"
)
"""The candidates' rows, for `db.rows_in` with the parameter (cutoff): those seen within the
window (no index on seen_at needed: each is found by its id)."""


def story_values(fp: Fingerprint, ep: EventPrint | None) -> tuple[int, ...]:
    """A story's retrieval values: its LSH bands, then its event keys, each once."""
    keys = ep.keys if ep is not None else ()
    return tuple(dict.fromkeys((*fp.bands, *keys)))


def stored_values(fingerprint: str | None, event_words: str | None) -> tuple[int, ...]:
    """The `story_values` of a stored story, from its stored fingerprint and event words."""
    if not fingerprint:
        return ()
    ep = EventPrint.decode(event_words) if event_words is not None else None
    return story_values(Fingerprint.decode(fingerprint), ep)


class Candidate(Protocol):
    """A stored story or one of the batch, as `ingest.Batch` keeps them."""

    @property
    def fp(self) -> Fingerprint: ...
    @property
    def ep(self) -> EventPrint | None: ...
    @property
    def order(self) -> tuple[int, int]: ...


C = TypeVar("C", bound=Candidate)


def best(fp: Fingerprint, ep: EventPrint | None, found: Iterable[Sequence[C]]) -> C | None:
    """The candidate a new story joins, if any.

    `found` holds, per value of the story, the candidates sharing it in `order` (oldest
    first); only the last `CANDIDATES_PER_KEY` of each count, as `recent` fetches them. A
    near-duplicate (`same_story`) wins: the most title overlap, the earliest on a tie. Only
    if there is none, the same-event candidate with the most shared words (the earliest on a
    tie): `same_event` is not asked at all when a near-duplicate exists (a copy's poll).
    """
    near: tuple[float, C] | None = None
    others: list[C] = []
    seen: set[int] = set()
    for entries in found:
        for entry in entries[-CANDIDATES_PER_KEY:]:
            if id(entry) in seen:
                continue
            seen.add(id(entry))
            if same_story(fp, entry.fp):
                score = jaccard(fp.title, entry.fp.title)
                if near is None or _better(score, entry, near):
                    near = (score, entry)
            elif near is None:
                others.append(entry)
    if near is not None:
        return near[1]
    if ep is None:
        return None
    event: tuple[int, C] | None = None
    for entry in others:
        if entry.ep is not None and same_event(ep, entry.ep):
            words = len(shared_words(ep, entry.ep))
            if event is None or _better(words, entry, event):
                event = (words, entry)
    return event[1] if event is not None else None


def _better(score: float, entry: Candidate, than: tuple[float, Candidate]) -> bool:
    return score > than[0] or (score == than[0] and entry.order < than[1].order)
