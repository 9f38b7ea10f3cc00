"""Same-event clustering through the store (issue #4), on real SQLite and PostgreSQL: one alert
per news event across outlets, event keys kept exactly like bands (edit, prune), the bound on
hot keys, and the upgrade of a store made before event words existed."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect, select, text

from monitor.dedupe import event_keys, identify, same_event, same_story
from monitor.dedupe.event import key_words, tokens
from monitor.models import Story
from monitor.parse import parse_feed
from monitor.store import NewAlert, Store, band_index
from monitor.store import events as store_events
from monitor.store.band_index import BandIndex, pack, stored
from monitor.store.events import story_values
from monitor.store.ingest import ToIngest
from monitor.store.schema import alerts, metadata, stories

from conftest import CORPUS, needs_corpus

NOW = datetime(2024, 12, 21, 19, 0, tzinfo=UTC)
DE = "2024-12-21"
GERMAN_FEEDS = (
    "deutschlandfunk-nachrichten",
    "deutschlandfunk-politikportal",
    "deutschlandfunk-wirtschaft",
    "deutschlandfunk-wissen",
    "geo",
    "ntv",
    "rnd",
    "spiegel",
    "tagesschau",
)
WATCHLISTS = {"magdeburg": r"\bMagdeburg", "musk": r"\bMusk"}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def items(batch: Sequence[Story]) -> list[ToIngest]:
    """The batch with an alert for every watchlist whose pattern occurs in title or text."""
    return [
        ToIngest(
            story=s,
            ident=identify(s),
            alerts=[
                NewAlert(watchlist=name, terms=(), snippet="", highlight=None, targets=())
                for name, pattern in WATCHLISTS.items()
                if re.search(pattern, s.title + " " + s.text)
            ],
        )
        for s in batch
    ]


def feed(name: str) -> list[Story]:
    path = CORPUS / f"{name}_{DE}_rss2.xml"
    return parse_feed(path.read_bytes(), {}, feed_name=name, url=f"https://x/{name}")


def clusters_and_alerts(store: Store) -> tuple[dict[tuple[str, str], int], dict[str, list[int]]]:
    """(feed, title) -> cluster id; watchlist -> the clusters it alerted, one entry per alert."""
    with store.engine.connect() as conn:
        cluster = {
            (f, t): c
            for f, t, c in conn.execute(
                select(stories.c.feed, stories.c.title, stories.c.cluster_id)
            )
        }
        alerted: dict[str, list[int]] = {}
        for watchlist, cid in conn.execute(select(alerts.c.watchlist, alerts.c.cluster_id)):
            alerted.setdefault(watchlist, []).append(cid)
    return cluster, alerted


TOLL = [
    ("tagesschau", "Anschlag in Magdeburg: Zahl der Toten auf fünf gestiegen"),
    (
        "ntv",
        "Haseloff und Scholz am Tatort: Zahl der Toten bei Anschlag von Magdeburg steigt auf fünf",
    ),
    (
        "deutschlandfunk-politikportal",
        "Anschlag in Magdeburg - Zahl der Todesopfer auf fünf gestiegen",
    ),
]
MUSK_SCHOLZ = [
    ("tagesschau", "Nach Anschlag in Magdeburg: Musk fordert Rücktritt von Kanzler Scholz"),
    ("rnd", 'Magdeburg-Anschlag: Musk fordert Rücktritt von Scholz - "Unfähiger Idiot"'),
]
MUSK_AFD = ("tagesschau", "Musk schaltet sich in deutschen Wahlkampf ein und unterstützt AfD")
MUSK_SHUTDOWN = ("tagesschau", "USA: Wie Trump und Musk den Shutdown provozieren")


@needs_corpus
def test_one_alert_per_event_across_german_outlets_but_separate_musk_stories(
    store: Store,
) -> None:
    """The 2024-12-21 German feeds, one poll per feed: the Magdeburg death toll at tagesschau,
    ntv and Deutschlandfunk is one cluster with one alert (ntv wrote its own headline and lead:
    a near-duplicate of neither), and so is Musk's call on Scholz to resign at tagesschau and
    rnd (near-duplicate headlines), while Musk and the AfD, and Musk and the shutdown, stay
    alerts of their own."""
    for name in GERMAN_FEEDS:
        store.stories.ingest_many(items(feed(name)), NOW)
    cluster, alerted = clusters_and_alerts(store)
    texts = {(s.feed, s.title): s for name in GERMAN_FEEDS for s in feed(name)}
    fps = [identify(texts[story]).fingerprint for story in TOLL]
    assert not any(same_story(fps[1], other) for other in (fps[0], fps[2]))  # ntv's own words
    for event in (TOLL, MUSK_SCHOLZ):
        assert len({cluster[story] for story in event}) == 1, event
    toll, scholz = cluster[TOLL[0]], cluster[MUSK_SCHOLZ[0]]
    afd, shutdown = cluster[MUSK_AFD], cluster[MUSK_SHUTDOWN]
    assert len({toll, scholz, afd, shutdown}) == 4
    assert alerted["magdeburg"].count(toll) == 1
    assert alerted["magdeburg"].count(scholz) == 1
    assert alerted["musk"].count(scholz) == 1
    assert alerted["musk"].count(afd) == alerted["musk"].count(shutdown) == 1
    # What the user sees: the one alert says where else the event ran.
    with store.engine.connect() as conn:
        [alert_id] = conn.execute(
            select(alerts.c.id).where(alerts.c.watchlist == "musk", alerts.c.cluster_id == scholz)
        ).scalars()
    assert store.stories.also_in(alert_id) == ("tagesschau",)  # rnd's story came first
    assert store.stories.cluster_feeds(toll) == (
        "deutschlandfunk-politikportal",
        "ntv",
        "tagesschau",
    )


# -- event keys are kept like bands ---------------------------------------------------------

BASE = Story(
    feed="f",
    title="Bahn streicht Verbindungen zwischen Hamburg und Berlin",
    link="https://news.example/a/1",
    guid="a-1",
    text="Wegen Bauarbeiten fallen am Wochenende viele Züge aus. " * 3,
)
EDITED = dataclasses.replace(
    BASE,
    title="Vulkanausbruch auf Island: Lavastrom erreicht Grindavik, Bewohner evakuiert",
    text="Auf der Halbinsel Reykjanes ist erneut ein Vulkan ausgebrochen. Der Lavastrom hat "
    "die Ortschaft Grindavik erreicht; die Bewohner wurden in der Nacht evakuiert.",
)
REPORT = Story(
    feed="other",
    title="Lava bedroht Fischerort Grindavik: Island evakuiert erneut",
    link="https://other.example/2",
    guid=None,
    text="Nach dem Vulkanausbruch nahe Grindavik sind die Bewohner in Sicherheit gebracht "
    "worden. Experten rechnen damit, dass der Lavastrom weitere Straßen erreicht.",
)
"""Another outlet's own report of the edited story's event: same event, not a near-duplicate,
and no LSH band in common (only an event key finds it)."""


def rows(store: Store) -> set[tuple[int, int]]:
    """(value, story id) of every stored story's `stories.bands`."""
    columns = (stories.c.id, stories.c.bands, stories.c.fingerprint, stories.c.event_words)
    with store.engine.connect() as conn:
        return {
            (value, int(row.id))
            for row in conn.execute(select(*columns))
            for value in stored(row.bands, row.fingerprint, row.event_words)
        }


def test_event_keys_follow_the_stored_text_and_go_with_prune(store: Store) -> None:
    edited, report = identify(EDITED), identify(REPORT)
    assert same_event(edited.event, report.event)
    assert not same_story(edited.fingerprint, report.fingerprint)
    assert not set(edited.fingerprint.bands) & set(report.fingerprint.bands)
    [first] = store.stories.ingest_many(items([BASE]), NOW)
    sid = first.cluster_id
    assert sid is not None
    base = identify(BASE)
    assert event_keys(base.event)  # the rows hold them, besides the bands
    assert rows(store) == {(v, sid) for v in story_values(base.fingerprint, base.event)}
    assert {(k, sid) for k in event_keys(base.event)} <= rows(store)
    # An edit replaces the event keys (and the stored words) with those of the new text...
    store.stories.ingest_many(items([EDITED]), NOW)
    assert rows(store) == {(v, sid) for v in story_values(edited.fingerprint, edited.event)}
    assert not {(k, sid) for k in event_keys(base.event)} & rows(store)
    # ...so another outlet's report of the new text's event joins it.
    [joined] = store.stories.ingest_many(items([REPORT]), NOW)
    assert joined.joined and joined.cluster_id == sid
    assert store.stories.prune(NOW + timedelta(days=31), timedelta(days=30)) == 2
    assert rows(store) == set()


def test_a_copy_is_kept_without_event_keys_and_its_event_still_joins(store: Store) -> None:
    """A near-duplicate's copy writes its bands only (no event words, no event keys: wire copy
    in twenty outlets would write 9 more index rows each), in a batch of its own or in the
    original's; an independent report of the event still joins the cluster, through the
    original; prune deletes the copy's rows all the same."""
    copy = dataclasses.replace(
        EDITED, feed="wire", link="https://wire.example/9", guid=None, title=EDITED.title + " (dpa)"
    )
    original, duplicate = identify(EDITED), identify(copy)
    assert same_story(original.fingerprint, duplicate.fingerprint)
    [first, second] = store.stories.ingest_many(items([EDITED, copy]), NOW)
    assert second.joined and second.cluster_id == first.cluster_id
    with store.engine.connect() as conn:
        words = dict(conn.execute(select(stories.c.link, stories.c.event_words)).all())
    assert words[EDITED.link] is not None and words[copy.link] is None
    sid = first.cluster_id
    assert sid is not None
    copy_id = sid + 1
    assert {(b, s) for b, s in rows(store) if s == copy_id} == {
        (v, copy_id) for v in story_values(duplicate.fingerprint, None)
    }
    third = dataclasses.replace(copy, link="https://afp.example/3", title=EDITED.title + " (AFP)")
    [again] = store.stories.ingest_many(items([third]), NOW)
    assert again.joined and {s for _, s in rows(store)} == {sid, copy_id, copy_id + 1}
    assert len([1 for _, s in rows(store) if s == copy_id + 1]) == len(
        set(identify(third).fingerprint.bands)
    )
    [joined] = store.stories.ingest_many(items([REPORT]), NOW)
    assert joined.joined and joined.cluster_id == sid
    assert store.stories.prune(NOW + timedelta(days=31), timedelta(days=30)) == 4
    assert rows(store) == set()


def hot_key_fillers(report: Story) -> list[Story]:
    """For each pair of the report's key words, a story of another event with that pair in its
    headline (and nothing else in common): each of the report's event keys gets a newer story."""
    words = {stem: word for word in report.title.split() for stem in tokens(word)}
    keys = sorted(key_words(identify(report).event.title))
    pairs = [(words[a], words[b]) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    fillers = [
        Story(
            feed="fill",
            title=f"{a} {b} Ulm Kuh Zoo{n}",  # short words: a and b stay among the longest
            link=f"https://fill.example/{n}",
        )
        for n, (a, b) in enumerate(pairs)
    ]
    for filler in fillers:
        assert not same_event(identify(report).event, identify(filler).event)
    covered = {k for f in fillers for k in event_keys(identify(f).event)}
    assert set(event_keys(identify(report).event)) <= covered
    return fillers


def test_only_the_most_recent_stories_of_a_hot_key_are_candidates(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for one candidate per key, a report whose every key was since taken by a
    newer story of another event (sharing only that pair of words) is not compared with the
    older report it would join; a batch decides it exactly as one poll per story does."""
    fillers = hot_key_fillers(REPORT)
    for per_key, joins in ((2, True), (1, False)):
        monkeypatch.setattr(store_events, "CANDIDATES_PER_KEY", per_key)
        with store.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
        store.stories.ingest_many(items([EDITED]), NOW)
        store.stories.ingest_many(items(fillers), NOW)
        [report] = store.stories.ingest_many(items([REPORT]), NOW)
        assert report.stored and report.joined is joins, per_key


@pytest.mark.parametrize("flush_at", [1, band_index.FLUSH_AT])
def test_recent_keeps_the_most_recent_stories_of_each_value_in_id_order(
    store: Store, flush_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup's bound: per value, the `bound` highest ids, ascending (what `ingest.Batch`
    relies on for its candidates' order), across the index's sorted runs and its dict of
    recent entries, and after edits take values away and give them back."""
    monkeypatch.setattr(band_index, "FLUSH_AT", flush_at)
    index = BandIndex()
    with store.engine.begin() as conn:

        def add(*stored: tuple[int, list[int]]) -> None:
            for sid, values in stored:
                conn.execute(
                    stories.insert().values(
                        id=sid, feed="f", title="t", seen_at=NOW, fingerprint="", bands=pack(values)
                    )
                )
            index.catch_up(conn, NOW - timedelta(hours=1))

        add((1, [-5]), (3, [-5]), (4, [2**62]))  # loaded: one run
        add((7, [-5, 8]), (9, [-5]))  # read after: the dict, or (flush_at 1) a second run
        assert index.recent([-5, 8, 2**62, 11], 2) == {-5: [7, 9], 8: [7], 2**62: [4]}
        index.edit(2, [], [-5, 11])  # a story the index has not read gains values
        assert index.recent([-5, 11], 3) == {-5: [3, 7, 9], 11: [2]}
        index.edit(7, [-5, 8], [8])  # story 7 loses -5: the next most recent counts
        index.edit(3, [-5], [])
        assert index.recent([-5, 8], 2) == {-5: [2, 9], 8: [7]}
        index.edit(2, [-5, 11], [])  # an edited value can be lost again
        assert index.recent([-5, 11], 5) == {-5: [1, 9]}
        index.edit(3, [], [-5])  # and one lost can come back
        add((10, [-5]))
        assert index.recent([-5], 5) == {-5: [1, 3, 9, 10]}


def test_a_hot_key_in_one_batch_decides_as_one_poll_per_story(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fillers = hot_key_fillers(REPORT)
    monkeypatch.setattr(store_events, "CANDIDATES_PER_KEY", 1)
    batch = [EDITED, *fillers, REPORT]
    shapes = []
    for one_by_one in (False, True):
        opened = Store.open(store_url)
        if one_by_one:
            results = [opened.stories.ingest_many(items([s]), NOW)[0] for s in batch]
        else:
            results = opened.stories.ingest_many(items(batch), NOW)
        first: dict[int | None, int] = {}
        shapes.append(
            [(r.joined, first.setdefault(r.cluster_id, n)) for n, r in enumerate(results)]
        )
        with opened.engine.begin() as conn:  # the same store, emptied, for the other order
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
        opened.close()
    assert shapes[0] == shapes[1]
    assert shapes[0][-1][0] is False  # the old report is beyond the bound: not joined


# -- upgrade ---------------------------------------------------------------------------------


def test_a_store_without_event_words_gets_the_column_and_keeps_working(store_url: str) -> None:
    """A store made before same-event clustering (v2): `stories` has no `event_words`. Opening
    it adds the column; its old stories (no event words, no event keys) still join copies and
    are pruned with their bands; new stories are stored with theirs."""
    old = Store.open(store_url)
    with old.engine.begin() as conn:
        conn.execute(text("ALTER TABLE stories DROP COLUMN event_words"))
    engine = create_engine(store_url)
    assert "event_words" not in {c["name"] for c in inspect(engine).get_columns("stories")}
    engine.dispose()
    old.close()
    for _ in range(2):  # the second open finds nothing to do
        opened = Store.open(store_url)
        columns = {c["name"] for c in inspect(opened.engine).get_columns("stories")}
        assert "event_words" in columns
        opened.close()
    opened = Store.open(store_url)
    try:
        # A story stored as the old code did: bands only, no event words.
        with opened.engine.begin() as conn:
            conn.execute(text("UPDATE stories SET event_words = NULL"))
        opened.stories.ingest_many(items([EDITED]), NOW)
        with opened.engine.begin() as conn:
            conn.execute(text("UPDATE stories SET event_words = NULL, bands = NULL"))
        opened.close()  # a new process: its index loads the old story from its fingerprint
        opened = Store.open(store_url)
        [report] = opened.stories.ingest_many(items([REPORT]), NOW)
        assert report.stored and not report.joined  # the old story has no event words
        copy = dataclasses.replace(REPORT, feed="third", link="https://third.example/3")
        copy = dataclasses.replace(copy, title="Eilmeldung: " + REPORT.title)
        [joined] = opened.stories.ingest_many(items([copy]), NOW)
        assert joined.joined and joined.cluster_id == report.cluster_id
        assert opened.stories.prune(NOW + timedelta(days=31), timedelta(days=30)) == 3
        assert rows(opened) == set()
    finally:
        opened.close()
