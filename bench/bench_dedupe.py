"""Near-duplicate detection: quality on labelled corpus pairs, speed of the store at 1M stories.

    python bench/bench_dedupe.py            # full run: 1,000,000 stories stored (~4 min)
    python bench/bench_dedupe.py --quick    # smoke run: 20,000 stored (~10 s)
    python bench/bench_dedupe.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
                                            # also on PostgreSQL (100,000 stored; a scratch
                                            # database is created beside the one named)

Quality: every pair in tests/data/dedupe_pairs.tsv (how they were labelled is in its header)
is judged by the rule the store runs — `same_story` (near-duplicates) or `same_event`
(reports of one event, monitor/dedupe/event.py) — next to `same_story` alone; precision counts
a pair judged "same" as right when it is labelled copy or event; recall is given for copies
and, separately, for independently written reports of one event. Then the store end to end:
the whole corpus ingested through `Stories.ingest_many` (one poll per feed file, each capture
date at its own time), a pair judged "same" when its two stories end in one cluster — for
several bounds on the candidates fetched per band or event key (`CANDIDATES_PER_KEY`).

Speed: the store's own path, what `monitor.poll.ingest_stories` runs — `Stories.status` (the
batched "seen?" check), then `Stories.ingest_many` (keys, LSH band lookup, verification,
insert of the story, its keys, bands and event keys, in one transaction per poll) — on a
SQLite file (the default store) that already holds N stories with 3 identity keys, 16 band
hashes and as many event keys as a corpus story has (9.3 on average). Those are bulk-loaded
by SQL in a child process: random keys, band hashes and event keys (other stories), the
fingerprints and event words of corpus stories as their stored text, all seen within the
dedupe window (so every band hit is a candidate to verify). Timed, each with the WAL
checkpoint that follows it (no write is left unpaid):

* round 1: the corpus' stories, one poll (one `ingest_many`) per feed file, as new stories;
* round 2: a copy of each under a new link and a changed headline: every one is found by its
  bands, verified, and joins its original's cluster;
* one story per poll: copies again, each in its own `status` + `ingest_many` (a quiet feed).

Fingerprinting (`identify`, pure CPU) is timed on its own, and end to end with each of the
first two rounds (what a poll pays per story for dedupe: identify, then the store). Memory:
peak RSS of this process (the bulk loader's is reported apart) and the size of the database
file.

Baseline: exact pairwise comparison — `same_story` of each new story with every stored
fingerprint, all decoded in memory already (the cheapest exact method) — at a smaller N, next
to the store path at that same N, in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from monitor.dedupe import (  # noqa: E402
    Identity,
    event_keys,
    event_print,
    fingerprint,
    identify,
    same_event,
    same_story,
)
from monitor.models import Story  # noqa: E402
from monitor.parse import parse_feed  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.store import events as store_events  # noqa: E402
from monitor.store.db import CACHE_KIB, WAL_CHECKPOINT_BYTES  # noqa: E402
from monitor.store.ingest import Status, ToIngest  # noqa: E402
from monitor.store.stories import DEFAULT_WINDOW  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
PAIRS = ROOT / "tests" / "data" / "dedupe_pairs.tsv"
NOW = datetime(2024, 12, 21, 19, 0, tzinfo=UTC)
KEYS_PER_STORY = 3
BANDS_PER_STORY = 16
Print = tuple[str, str, int]
"""A corpus story as the bulk load stores it: its encoded fingerprint and event words, and how
many event keys it has (values of `stories.bands` besides the bands)."""


def load_corpus() -> dict[str, list[Story]]:
    return {
        path.name: parse_feed(path.read_bytes(), {}, feed_name=path.name, url="https://x/")
        for path in sorted(CORPUS.glob("*.xml"))
    }


def quality(corpus: dict[str, list[Story]]) -> None:
    by_title = {(name, s.title): s for name, items in corpus.items() for s in items}
    found: dict[str, list[tuple[bool, bool]]] = {}
    for label, how, a, b in labelled_pairs(by_title):
        near = same_story(fingerprint(a.title, a.text), fingerprint(b.title, b.text))
        event = same_event(event_print(a.title, a.text), event_print(b.title, b.text))
        found.setdefault(f"{label}/{how}", []).append((near, near or event))
    print("quality (tests/data/dedupe_pairs.tsv); judged same by same_story alone | by the")
    print("store's rule, same_story or same_event")
    for key, hits in sorted(found.items()):
        near, rule = (sum(h[0] for h in hits), sum(h[1] for h in hits))
        print(f"  {key:<16} {len(hits):4d} pairs, judged same: {near:4d} | {rule:4d}")
    for which, name in ((0, "same_story alone"), (1, "same_story or same_event (the store)")):
        print(f"  {name}:")
        _summary({k: [h[which] for h in hits] for k, hits in found.items()})


def labelled_pairs(by_title: dict[tuple[str, str], Story]) -> list[tuple[str, str, Story, Story]]:
    pairs = []
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        label, how, fa, ta, fb, tb = line.split("\t")
        pairs.append((label, how, by_title[(fa, ta)], by_title[(fb, tb)]))
    return pairs


def _summary(found: dict[str, list[bool]]) -> None:
    tp = sum(sum(hits) for key, hits in found.items() if not key.startswith("diff"))
    fp = sum(sum(hits) for key, hits in found.items() if key.startswith("diff"))
    copies = found["copy/hand"] + found["copy/same-link"]
    positives = copies + found["event/hand"]
    print(f"    precision (same = copy or event): {tp / max(1, tp + fp):.3f}")
    print(f"    recall, copies and events:        {_rate(positives)}")
    print(f"    recall, copies (all):             {_rate(copies)}")
    print(f"    recall, same event, rewritten:    {_rate(found['event/hand'])}")


def store_quality(corpus: dict[str, list[Story]], bounds: tuple[int, ...]) -> None:
    """The labelled pairs judged by the store itself: same cluster after ingesting the corpus."""
    print("  the store end to end (corpus ingested, pair same = one cluster), per bound K on")
    print("  the stories fetched per band or event key:")
    default = store_events.CANDIDATES_PER_KEY
    by_title = {(name, s.title): s for name, items in corpus.items() for s in items}
    pairs = labelled_pairs(by_title)
    try:
        for bound in bounds:
            store_events.CANDIDATES_PER_KEY = bound
            cluster = _ingest_corpus(corpus)
            found: dict[str, list[bool]] = {}
            for label, how, a, b in pairs:
                same = cluster[id(a)] == cluster[id(b)]
                found.setdefault(f"{label}/{how}", []).append(same)
            tp = sum(sum(h) for k, h in found.items() if not k.startswith("diff"))
            fp = sum(sum(h) for k, h in found.items() if k.startswith("diff"))
            positives = found["copy/hand"] + found["copy/same-link"] + found["event/hand"]
            mark = " (CANDIDATES_PER_KEY)" if bound == default else ""
            print(
                f"    K = {bound}{mark}: precision {tp / max(1, tp + fp):.3f}, recall "
                f"{_rate(positives)}, events {_rate(found['event/hand'])}, diff judged same "
                f"{fp}/{len(found['diff/hand']) + len(found['diff/random'])}"
            )
    finally:
        store_events.CANDIDATES_PER_KEY = default


def _ingest_corpus(corpus: dict[str, list[Story]]) -> dict[int, int]:
    """id(story) -> its cluster, after one poll per feed file, capture dates in order."""
    cluster: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as work:
        store = Store.open(f"sqlite:///{work}/q.db")
        try:
            by_key: dict[str, int] = {}
            for name in sorted(corpus, key=lambda n: (n.rsplit("_", 2)[1], n)):
                day = datetime.fromisoformat(name.rsplit("_", 2)[1]).replace(hour=12, tzinfo=UTC)
                idents = [(s, identify(s)) for s in corpus[name]]
                results = store.stories.ingest_many(
                    [ToIngest(story=s, ident=i, alerts=()) for s, i in idents], day
                )
                for (s, ident), result in zip(idents, results, strict=True):
                    if result.cluster_id is not None:
                        for key in ident.keys:
                            by_key.setdefault(key, result.cluster_id)
                    found = [by_key[k] for k in ident.keys if k in by_key]
                    cluster[id(s)] = found[0] if found else -id(s)
        finally:
            store.close()
    return cluster


def _rate(hits: list[int]) -> str:
    return f"{sum(hits) / len(hits):.3f} ({sum(hits)}/{len(hits)})"


# --- bulk loading -------------------------------------------------------------------------


def bulk_load_sqlite(path: str, n: int, prints: list[Print]) -> None:
    """Fill a fresh store file (schema created by `Store.open`) with `n` stories, in SQL."""
    start = NOW - DEFAULT_WINDOW
    step = (DEFAULT_WINDOW.total_seconds() - 60) / n
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-500000"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("BEGIN")
    # The story_id index of the keys is rebuilt at the end (sorting once beats n inserts).
    db.execute("DROP INDEX ix_story_keys_story_id")
    db.execute(
        "CREATE TEMP TABLE prints (i INTEGER PRIMARY KEY, text TEXT, words TEXT, keys INTEGER)"
    )
    db.executemany(
        "INSERT INTO prints VALUES (?, ?, ?, ?)", [(i, *p) for i, p in enumerate(prints)]
    )
    db.execute(
        """
        WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < :n)
        INSERT INTO stories (id, feed, guid, link, title, seen_at, cluster_id, fingerprint,
                             event_words, bands)
        SELECT k.i, 'bulk-' || (k.i % 500), 'https://bulk.example/' || k.i,
               'https://bulk.example/' || k.i, 'bulk story ' || k.i,
               strftime('%Y-%m-%d %H:%M:%f', :start, '+' || (k.i * :step) || ' seconds')
               || '000', k.i, p.text, p.words, randomblob(8 * (:bands + p.keys))
        FROM k JOIN prints p ON p.i = k.i % :count
        """,
        {
            "n": n,
            "start": start.replace(tzinfo=None).isoformat(" "),
            "step": step,
            "count": len(prints),
            "bands": BANDS_PER_STORY,
        },
    )
    # Keys in key order: appends, not random inserts into a growing index.
    db.execute(
        """
        CREATE TEMP TABLE keys AS
        WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < :m - 1)
        SELECT lower(hex(randomblob(20))) AS key, i / :per + 1 AS story_id FROM k
        """,
        {"m": n * KEYS_PER_STORY, "per": KEYS_PER_STORY},
    )
    db.execute("INSERT OR IGNORE INTO story_keys SELECT key, story_id FROM keys ORDER BY key")
    db.execute("DROP TABLE keys")
    db.execute("CREATE INDEX ix_story_keys_story_id ON story_keys (story_id)")
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    # On disk before the clock starts, as a long-running store is: otherwise the first
    # checkpoint's fsync would also flush the loader's 2 GB.
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def bulk_load_postgres(url: str, n: int, prints: list[Print]) -> None:
    """The same as `bulk_load_sqlite` on PostgreSQL: constraints dropped, rows, constraints."""
    engine = create_engine(url)
    start = NOW - DEFAULT_WINDOW
    with engine.begin() as conn:
        constraints = conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE conrelid::regclass::text = 'story_keys' "
                "ORDER BY contype DESC"
            )
        ).all()
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'story_keys' "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
        ).all()
        for table, name, _ in constraints:
            conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(
            text(
                "INSERT INTO stories (id, feed, guid, link, title, seen_at, cluster_id, "
                "fingerprint, event_words, bands) SELECT i, 'bulk-' || (i % 500), "
                "'https://bulk.example/' || i, "
                "'https://bulk.example/' || i, 'bulk story ' || i, "
                ":start + i * ((:window - interval '1 minute') / :n), i, "
                "(CAST(:prints AS text[]))[1 + i % :count], "
                "(CAST(:words AS text[]))[1 + i % :count], "
                # random values: 16 random bytes (two values) per md5, as many as it has
                "substring(decode((SELECT string_agg(md5(random()::text || i || g), '') "
                "FROM generate_series(0, (:bands + (CAST(:keys AS int[]))[1 + i % :count]) / 2) g"
                "), 'hex') FROM 1 FOR 8 * (:bands + (CAST(:keys AS int[]))[1 + i % :count])) "
                "FROM generate_series(1, :n) i"
            ),
            {
                "n": n,
                "start": start,
                "window": DEFAULT_WINDOW,
                "prints": [p[0] for p in prints],
                "words": [p[1] for p in prints],
                "keys": [p[2] for p in prints],
                "count": len(prints),
                "bands": BANDS_PER_STORY,
            },
        )
        conn.execute(text("SELECT setval(pg_get_serial_sequence('stories', 'id'), :n)"), {"n": n})
        conn.execute(
            text(
                "INSERT INTO story_keys SELECT md5(random()::text) || "
                "substr(md5(random()::text), 1, 8), (i - 1) / :per + 1 "
                "FROM generate_series(1, :m) i"
            ),
            {"m": n * KEYS_PER_STORY, "per": KEYS_PER_STORY},
        )
        for table, name, definition in reversed(constraints):
            conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
        for _, definition in indexes:
            conn.execute(text(definition))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does to a long-lived store
        conn.execute(text("CHECKPOINT"))  # on disk before the clock starts
    engine.dispose()


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A scratch database on the server of `server` (dropped afterwards): its URL."""
    name = f"mm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def load_in_child(url: str, n: int, prints: list[Print], workdir: str) -> float:
    """Bulk-load in a child process (its memory is not this one's); returns seconds taken."""
    Store.open(url).close()  # the schema, exactly as the store creates it
    job = Path(workdir) / "prints.json"
    job.write_text(json.dumps(prints), encoding="utf-8")
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--load", url, str(n), str(job)], check=True)
    return time.perf_counter() - start


# --- the store path -----------------------------------------------------------------------


def copies(feeds: dict[str, list[Story]], tag: str) -> dict[str, list[Story]]:
    """Each story again at another outlet: new feed, guid and link, one word added in front
    of the headline (a near-duplicate, not an exact copy: its content key is new)."""
    return {
        f"{tag}-{name}": [
            dataclasses.replace(
                s,
                feed=f"{tag}-{s.feed}",
                guid=None,
                link=f"https://{tag}.example/{name}/{i}",
                title=f"{tag.capitalize()}: {s.title}",
            )
            for i, s in enumerate(items)
        ]
        for name, items in feeds.items()
    }


def checkpoint(store: Store) -> None:
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def poll_round(
    store: Store, polls: list[list[tuple[Story, Identity]]]
) -> tuple[float, int, int, int]:
    """Each poll's stories through status + ingest_many; (seconds, stories, stored, joined)."""
    stored = joined = total = 0
    start = time.perf_counter()
    for poll in polls:
        statuses = store.stories.status([ident for _, ident in poll])
        items = [
            ToIngest(story=story, ident=ident, alerts=())
            for (story, ident), status in zip(poll, statuses, strict=True)
            if status is not Status.SEEN
        ]
        for result in store.stories.ingest_many(items, NOW):
            stored += result.stored
            joined += result.joined
        total += len(poll)
    checkpoint(store)
    return time.perf_counter() - start, total, stored, joined


def timed_identify(
    feeds: dict[str, list[Story]],
) -> tuple[list[list[tuple[Story, Identity]]], float]:
    start = time.perf_counter()
    polls = [[(s, identify(s)) for s in items] for items in feeds.values()]
    # The fingerprints and event prints, with their bands and event keys, are made here, not
    # in the store's timing (identify makes them lazily).
    _ = [(ident.fingerprint.bands, ident.event.keys) for poll in polls for _, ident in poll]
    return polls, time.perf_counter() - start


def store_speed(
    label: str, url: str, feeds: dict[str, list[Story]], singles: int, report: Callable[..., None]
) -> float:
    """The three timed rounds on a loaded store; returns round 1's rate."""
    store = Store.open(url)
    try:
        # What a daemon does at its first poll, before the clock: the band index loads the
        # stories of the window.
        before, start = rss_now_mb(), time.perf_counter()
        with store.engine.begin() as conn:
            store.stories.index.catch_up(conn, NOW - DEFAULT_WINDOW)
        index = store.stories.index
        report(
            f"  band index loaded in {time.perf_counter() - start:.1f} s: {len(index):,} "
            f"entries, {index.nbytes / 1e6:,.0f} MB of arrays, RSS {rss_now_mb() - before:+,.0f} MB"
        )
        polls, fp_time = timed_identify(feeds)
        count = sum(len(p) for p in polls)
        seconds, total, stored, joined = poll_round(store, polls)
        rate1 = total / seconds
        report(
            f"  round 1, new stories, one poll per feed file: {rate1:,.0f} stories/s "
            f"({total:,} stories, {stored:,} stored, {seconds:.2f} s)"
        )
        ends = [total / (fp_time + seconds)]
        polls2, fp_time2 = timed_identify(copies(feeds, "copy"))
        seconds, total, stored, joined = poll_round(store, polls2)
        report(
            f"  round 2, near-duplicate copies:               {total / seconds:,.0f} stories/s "
            f"({stored:,} stored, {joined:,} joined a cluster)"
        )
        ends.append(total / (fp_time2 + seconds))
        polls3, _ = timed_identify(copies(feeds, "again"))
        one_by_one = [[item] for poll in polls3 for item in poll][:singles]
        seconds, total, stored, joined = poll_round(store, one_by_one)
        report(
            f"  one story per poll (own transaction):         {total / seconds:,.0f} stories/s "
            f"({total:,} stories, {stored:,} stored, {joined:,} joined)"
        )
        if label == "sqlite":
            report(
                f"  fingerprinting (identify), CPU only:          {count / fp_time:,.0f} stories/s"
            )
        report(
            f"  end to end, identify + store, rounds 1 and 2: {ends[0]:,.0f} and {ends[1]:,.0f} "
            "stories/s"
        )
        return rate1
    finally:
        store.close()


def sqlite_alone(path: Path, stories: int, prints: list[Print], per_commit: int = 50) -> float:
    """The same writes with no Python logic in the way: each story's row (a corpus story's
    fingerprint and event words, as many random packed values as it has bands and event keys)
    and its random keys, in transactions of `per_commit` stories, under the store's pragmas;
    returns stories/s."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page_size}")
    rng = random.Random(2)
    bits = rng.getrandbits
    seen_at = NOW.replace(tzinfo=None).isoformat(" ")
    start = time.perf_counter()
    for batch in range(stories // per_commit):
        rows, keys = [], []
        for n in range(per_commit):
            text, words, events = prints[rng.randrange(len(prints))]
            link = f"https://alone.example/{batch}/{n}"
            values = rng.randbytes(8 * (BANDS_PER_STORY + events))
            rows.append(("alone", link, link, link, seen_at, text, words, values))
            keys += [f"{bits(160):040x}" for _ in range(KEYS_PER_STORY)]
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO stories (feed, guid, link, title, seen_at, fingerprint, event_words, "
            "bands) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        last = db.execute("SELECT max(id) FROM stories").fetchone()[0]
        ids = [last - per_commit + 1 + i // KEYS_PER_STORY for i in range(len(keys))]
        db.executemany("INSERT INTO story_keys VALUES (?, ?)", list(zip(keys, ids, strict=True)))
        db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    rate = stories // per_commit * per_commit / (time.perf_counter() - start)
    db.close()
    return rate


def rss_now_mb() -> float:
    """This process's resident memory now (`rss_mb` is the peak)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def speed(
    corpus: dict[str, list[Story]], stored: int, baseline_n: int, singles: int, pg: str | None
) -> None:
    stories = [s for items in corpus.values() for s in items]
    prints = [
        (i.fingerprint.encode(), i.event.encode(), len(event_keys(i.event)))
        for i in map(identify, stories)
    ]
    event_rows = sum(p[2] for p in prints) / len(prints)
    print(
        f"\nspeed: the store path (Stories.status + ingest_many), {len(stories):,} corpus "
        f"stories in {len(corpus)} polls, WAL checkpoint included"
    )
    with tempfile.TemporaryDirectory(prefix="bench-dedupe-") as work:
        path = Path(work) / "big.db"
        url = f"sqlite:///{path}"
        seconds = load_in_child(url, stored, prints, work)
        size = sum(f.stat().st_size for f in Path(work).glob("big.db*"))
        print(
            f"  SQLite file with {stored:,} stories ({KEYS_PER_STORY * stored:,} keys, "
            f"{BANDS_PER_STORY * stored:,} bands and {event_rows * stored:,.0f} event keys "
            "packed in their rows) "
            f"bulk-loaded in {seconds:.0f} s: "
            f"{size / 1e9:.2f} GB, {size / stored:,.0f} bytes/story"
        )
        before = rss_mb()
        rate = store_speed("sqlite", url, corpus, singles, print)
        loader = rss_mb(resource.RUSAGE_CHILDREN)
        print(
            f"  peak RSS of this process: {rss_mb():,.0f} MB ({before:,.0f} MB before the store "
            f"was opened: corpus and code); of the bulk loader: {loader:,.0f} MB"
        )
        print(
            f"  SQLite alone, the same story rows and random key inserts without Python or "
            f"lookups (50 stories per transaction): {sqlite_alone(path, 4_000, prints):,.0f} "
            f"stories/s"
        )
        for f in Path(work).glob("big.db*"):
            f.unlink()

        pool = [identify(stories[i % len(stories)]).fingerprint for i in range(baseline_n)]
        # (pairwise same_story only: the baseline of near-duplicate retrieval, as before)
        queries = [identify(s).fingerprint for s in stories[:300]]
        start = time.perf_counter()
        for fp in queries:
            _ = [other for other in pool if same_story(fp, other)]
            pool.append(fp)
        pairwise = len(queries) / (time.perf_counter() - start)
        small = Path(work) / "small.db"
        load_in_child(f"sqlite:///{small}", baseline_n, prints, work)
        small_rate = store_speed("small", f"sqlite:///{small}", corpus, 0, lambda *_: None)
        scaled = pairwise * baseline_n / stored  # pairwise work grows linearly with N
        print(
            f"  baseline, exact pairwise in memory at {baseline_n:,} stored: {pairwise:,.0f} "
            f"stories/s; the store path at {baseline_n:,}: {small_rate:,.0f}/s "
            f"({small_rate / pairwise:,.0f}x); at {stored:,}: {rate:,.0f}/s, where pairwise "
            f"would be ~{scaled:,.1f}/s ({rate / scaled:,.0f}x)"
        )
    if pg:
        n = min(stored, 100_000)
        print(f"\nspeed on PostgreSQL ({n:,} stories stored, same rounds)")
        with postgres_database(pg) as url, tempfile.TemporaryDirectory() as work:
            seconds = load_in_child(url, n, prints, work)
            print(f"  bulk-loaded in {seconds:.0f} s")
            store_speed("postgres", url, corpus, singles, print)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--load":
        url, n, job = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        prints = [(p[0], p[1], p[2]) for p in json.loads(job.read_text(encoding="utf-8"))]
        if url.startswith("sqlite:///"):
            bulk_load_sqlite(url.removeprefix("sqlite:///"), n, prints)
        else:
            bulk_load_postgres(url, n, prints)
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 stored instead of 1M")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL server")
    args = parser.parse_args()
    random.seed(1)
    corpus = load_corpus()
    quality(corpus)
    store_quality(corpus, (1, 2, 3, 5, store_events.CANDIDATES_PER_KEY))
    if args.quick:
        speed(corpus, 20_000, 2_000, 200, args.postgres)
    else:
        speed(corpus, 1_000_000, 10_000, 1_000, args.postgres)


if __name__ == "__main__":
    main()
