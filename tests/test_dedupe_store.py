"""Dedupe through the store, on the real cross-outlet corpus sets, on SQLite and PostgreSQL.

Stories go through `monitor.poll.ingest_stories` (the code a poll runs) with a tiny stand-in
matcher (a watchlist matches when its word occurs in title or text), so these tests depend
on dedupe and the store, not on the matching engine.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.dedupe import identify
from monitor.models import Hit, Match, Story
from monitor.parse import parse_feed
from monitor.poll import PollContext, ingest_stories
from monitor.store import NewAlert, Store
from monitor.store.band_index import stored
from monitor.store.events import story_values
from monitor.store.ingest import Status, ToIngest
from monitor.store.schema import alerts, stories, story_keys

from conftest import CORPUS

NOW = datetime(2024, 12, 21, 19, 0, tzinfo=UTC)


class WordMatcher:
    """watchlist name -> word; matches whole words, case-insensitively."""

    def __init__(self, **watchlists: str) -> None:
        self.patterns = {
            name: re.compile(rf"\b{re.escape(word)}", re.IGNORECASE)
            for name, word in watchlists.items()
        }

    def match(self, story: Story) -> list[Match]:
        out = []
        for name, pattern in self.patterns.items():
            found = pattern.search(story.title) or pattern.search(story.text)
            if found:
                field = "title" if pattern.search(story.title) else "text"
                hit = Hit(term=pattern.pattern, field=field, start=found.start(), end=found.end())
                out.append(Match(watchlist=name, hits=(hit,)))
        return out


def corpus(name: str) -> list[Story]:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {name} is not beside the checkout")
    return parse_feed(path.read_bytes(), {}, feed_name=name.split("_")[0], url=f"https://x/{name}")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def poll(
    store: Store, items: Sequence[Story], at: datetime = NOW, **watchlists: str
) -> tuple[int, int]:
    ctx = PollContext(
        client=None,  # type: ignore[arg-type]  # ingest_stories does no I/O
        store=store,
        engine=WordMatcher(**watchlists),  # type: ignore[arg-type]
        routes={},
        max_bytes=0,
        clock=lambda: at,
    )
    stored, alerted, failed = ingest_stories(items, ctx)
    assert failed == 0
    return stored, alerted


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def alerted_titles(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(stories.c.title).join(alerts, alerts.c.story_id == stories.c.id)
        ).scalars()
        return sorted(rows)


def test_dlf_items_in_three_feeds_are_stored_and_alerted_once(store: Store) -> None:
    feeds = [
        corpus(f"deutschlandfunk-{name}_2024-12-21_rss2.xml")
        for name in ("politikportal", "wirtschaft", "wissen")
    ]
    links = {s.link for items in feeds for s in items}
    musk = {
        s.link for items in feeds for s in items if re.search(r"\bmusk", s.title + s.text, re.I)
    }
    total_alerts = sum(poll(store, items, musk="Musk")[1] for items in feeds)
    assert count(store, stories) == len(links)
    assert total_alerts == len(musk) == store.stories.alert_count()
    # A second round of the same feeds: nothing new, nothing alerted.
    assert [poll(store, items, musk="Musk") for items in feeds] == [(0, 0)] * 3


def test_ap_wire_copy_differing_by_one_word_alerts_once_and_records_both_outlets(
    store: Store,
) -> None:
    ctv = [s for s in corpus("ctvnews_2017-01-07_rss2.xml") if "election hacking" in s.title]
    ie = [s for s in corpus("indianexpress_2017-01-07_rss2.xml") if "election hacking" in s.title]
    assert len(ctv) == len(ie) == 1 and ctv[0].link != ie[0].link
    assert poll(store, ctv, russia="Russia") == (1, 1)
    assert poll(store, ie, russia="Russia") == (1, 0)  # stored, joins the cluster, no alert
    with store.engine.connect() as conn:
        [alert_id] = conn.execute(select(alerts.c.id)).scalars()
        clusters = set(conn.execute(select(stories.c.cluster_id)).scalars())
    assert len(clusters) == 1
    assert store.stories.also_in(alert_id) == ("indianexpress",)
    assert store.stories.cluster_feeds(clusters.pop()) == ("ctvnews", "indianexpress")


def test_wire_copy_after_the_window_alerts_again(store: Store) -> None:
    ctv = [s for s in corpus("ctvnews_2017-01-07_rss2.xml") if "election hacking" in s.title]
    ie = [s for s in corpus("indianexpress_2017-01-07_rss2.xml") if "election hacking" in s.title]
    poll(store, ctv, russia="Russia")
    later = NOW + store.stories.window + timedelta(minutes=1)
    assert poll(store, ie, at=later, russia="Russia") == (1, 1)


def test_daily_mail_a_day_later_alerts_only_new_stories(store: Store) -> None:
    day1 = corpus("dailymail_2020-05-30_rss2.xml")
    day2 = corpus("dailymail_2020-05-31_rss2.xml")
    poll(store, day1, trump="Trump")
    first = set(alerted_titles(store))
    day1_links = {s.link for s in day1}
    shared = [s for s in day2 if s.link in day1_links]
    assert len(shared) >= 21
    new, _ = poll(store, day2, at=NOW + timedelta(days=1), trump="Trump")
    assert new <= len(day2) - len(shared)
    again = alerted_titles(store)
    # Every shared item that alerted on day 1 did not alert again on day 2.
    assert len(again) == len(set(again))
    assert first <= set(again)
    shared_alerted = [s.title for s in shared if s.title in again]
    assert all(again.count(t) == 1 for t in shared_alerted)


def test_golem_atom_feed_after_its_rss_twin_is_all_seen(store: Store) -> None:
    rss = corpus("golem_2013-05-04_rss2.xml")
    atom = corpus("golem_2013-05-04_atom.xml")
    assert all("feedsportal" not in (s.link or "") for s in rss)  # redirector unwrapped
    assert poll(store, rss)[0] == 40
    assert store.stories.status([identify(s) for s in atom]) == [Status.SEEN] * 40
    assert poll(store, atom) == (0, 0)


def test_musk_stories_of_one_day_stay_separate_but_copies_join(store: Store) -> None:
    tagesschau = corpus("tagesschau_2024-12-21_rss2.xml")
    rnd = corpus("rnd_2024-12-21_rss2.xml")
    musk_titles = ("unterstützt AfD", "den Shutdown provozieren", "Rücktritt von Kanzler Scholz")
    picked = [s for s in tagesschau if any(t in s.title for t in musk_titles)]
    assert len(picked) == 3
    assert poll(store, picked, musk="Musk") == (3, 3)  # AfD, shutdown, Scholz: three alerts
    scholz = [s for s in rnd if "Musk fordert Rücktritt von Scholz" in s.title]
    assert poll(store, scholz, musk="Musk") == (1, 0)  # the same story at rnd: no alert


MUSK_MEETS_SCHOLZ = Story(
    feed="f",
    title="Musk trifft Scholz in Berlin zu Gesprächen über Industrie",
    link="https://news.example/a/1",
    guid="a-1",
    text="Der Tesla-Chef traf den Kanzler am Freitag im Kanzleramt. " * 3,
)


def test_edited_story_alerts_only_watchlists_new_to_it(store: Store) -> None:
    base = MUSK_MEETS_SCHOLZ
    watch = {"musk": "Musk", "starlink": "Starlink"}
    assert poll(store, [base], **watch) == (1, 1)
    typo = dataclasses.replace(base, title=base.title.replace("Gesprächen", "Gespräche"))
    assert poll(store, [typo], **watch) == (0, 0)  # changed, re-matched, nobody new
    starlink = dataclasses.replace(base, text=base.text + " Es ging auch um Starlink.")
    assert poll(store, [starlink], **watch) == (0, 1)  # only the Starlink watch alerts
    assert poll(store, [starlink], **watch) == (0, 0)
    # New guid, new link, same text: the same story.
    moved = dataclasses.replace(starlink, guid="b-9", link="https://news.example/b/9?utm_source=x")
    assert store.stories.status([identify(moved)]) == [Status.SEEN]


def test_prune_keeps_tombstones_so_old_items_stay_seen(store: Store) -> None:
    items = corpus("ctvnews_2017-01-07_rss2.xml")
    poll(store, items, trump="Trump")
    assert store.stories.prune(NOW + timedelta(days=29), timedelta(days=30)) == 0
    pruned = store.stories.prune(NOW + timedelta(days=31), timedelta(days=30))
    assert pruned == len(items) and count(store, stories) == 0
    assert count(store, story_keys) > 0  # tombstones
    assert poll(store, items, at=NOW + timedelta(days=31), trump="Trump") == (0, 0)


def test_near_duplicate_index_survives_a_restart(store_url: str) -> None:
    ctv = [s for s in corpus("ctvnews_2017-01-07_rss2.xml") if "election hacking" in s.title]
    ie = [s for s in corpus("indianexpress_2017-01-07_rss2.xml") if "election hacking" in s.title]
    first = Store.open(store_url)
    poll(first, ctv, russia="Russia")
    first.close()
    again = Store.open(store_url)
    assert poll(again, ie, russia="Russia") == (1, 0)
    again.close()


def batch_items(items: Sequence[Story], **watchlists: str) -> list[ToIngest]:
    matcher = WordMatcher(**watchlists)
    return [
        ToIngest(
            story=s,
            ident=identify(s),
            alerts=[
                NewAlert(watchlist=m.watchlist, terms=(), snippet="", highlight=None, targets=())
                for m in matcher.match(s)
            ],
        )
        for s in items
    ]


def test_a_batch_decides_exactly_as_one_story_at_a_time(tmp_path: Path) -> None:
    """One `ingest_many` over several outlets' feeds (copies, DLF items in three feeds, near-
    duplicates of each other inside the batch) stores, clusters and alerts like `ingest`."""
    items = [
        s
        for name in (
            "tagesschau_2024-12-21_rss2.xml",
            "rnd_2024-12-21_rss2.xml",
            "deutschlandfunk-politikportal_2024-12-21_rss2.xml",
            "deutschlandfunk-wirtschaft_2024-12-21_rss2.xml",
            "ctvnews_2017-01-07_rss2.xml",
            "indianexpress_2017-01-07_rss2.xml",
        )
        for s in corpus(name)
    ]
    watch = {"musk": "Musk", "russia": "Russia", "scholz": "Scholz"}
    outcomes = []
    for one_by_one in (False, True):
        opened = Store.open(f"sqlite:///{tmp_path}/{one_by_one}.db")
        batch = batch_items(items, **watch)
        if one_by_one:
            results = [opened.stories.ingest(i.story, i.ident, i.alerts, NOW) for i in batch]
        else:
            results = opened.stories.ingest_many(batch, NOW)
        # Clusters as groups of item positions, so the two stores' ids need not agree.
        first: dict[int | None, int] = {}
        shape = [
            (r.stored, r.alerts, r.joined, first.setdefault(r.cluster_id, n) if r else None)
            for n, r in enumerate(results)
        ]
        outcomes.append((shape, opened.stories.alert_count(), count(opened, stories)))
        opened.close()
    batched, single = outcomes
    assert batched == single
    shape = batched[0]
    assert sum(joined for _, _, joined, _ in shape) >= 2  # near-duplicates inside the batch
    assert sum(not stored for stored, _, _, _ in shape) >= 10  # DLF items in two feeds


def test_a_batch_with_one_link_twice_treats_the_second_as_a_correction(store: Store) -> None:
    base = MUSK_MEETS_SCHOLZ
    starlink = dataclasses.replace(base, text=base.text + " Es ging auch um Starlink.")
    other = Story(
        feed="f",
        title="Bahn streicht Verbindungen zwischen Hamburg und Berlin",
        link="https://news.example/b/2",
        guid="b-2",
        text="Wegen Bauarbeiten fallen am Wochenende viele Züge aus. " * 3,
    )
    batch = batch_items([base, starlink, other], musk="Musk", starlink="Starlink")
    first, second, third = store.stories.ingest_many(batch, NOW)
    assert (first.stored, first.alerts, first.joined) == (True, 1, False)
    assert (second.stored, second.alerts, second.cluster_id) == (True, 1, first.cluster_id)
    assert third.stored and third.cluster_id != first.cluster_id
    assert store.stories.alert_count() == 2 and count(store, stories) == 2


def _poll(store: Store, batch: list[Story], barrier: threading.Barrier, out: list[bool]) -> None:
    barrier.wait()
    out += [bool(result) for result in store.stories.ingest_many(batch_items(batch), NOW)]


def test_two_processes_ingesting_one_batch_at_once_store_each_story_once(
    store_url: str,
) -> None:
    """Two pollers of the same feed (two stores, two connections), started together by a
    barrier: whichever batch loses the race on a unique key is redone story by story, so
    every story is stored once and reported stored to exactly one of them."""
    stores = [Store.open(store_url), Store.open(store_url)]
    try:
        for round_ in range(5):
            batch = [
                Story(
                    feed="f",
                    title=f"Round {round_} story {n} about",
                    link=f"https://e/{round_}/{n}",
                )
                for n in range(30)
            ]
            barrier = threading.Barrier(2)
            results: list[list[bool]] = [[], []]
            threads = [
                threading.Thread(target=_poll, args=(stores[which], batch, barrier, results[which]))
                for which in (0, 1)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert all(len(r) == 30 for r in results), results
            assert [a + b for a, b in zip(*results, strict=True)] == [1] * 30
        assert count(stores[0], stories) == 5 * 30
    finally:
        for each in stores:
            each.close()


def band_rows(store: Store) -> set[tuple[int, int]]:
    """(value, story id) of every stored story's `stories.bands`."""
    columns = (stories.c.id, stories.c.bands, stories.c.fingerprint, stories.c.event_words)
    with store.engine.connect() as conn:
        return {
            (value, int(row.id))
            for row in conn.execute(select(*columns))
            for value in stored(row.bands, row.fingerprint, row.event_words)
        }


def test_bands_follow_the_stored_text_and_go_with_prune(store: Store) -> None:
    """A story's stored bands (and event keys) are always those of its stored text: an edit
    replaces them, and this process's index learns the new ones once the edit has committed
    (a copy of the new text finds it); prune deletes them with the story."""
    base = MUSK_MEETS_SCHOLZ
    [first] = store.stories.ingest_many(batch_items([base]), NOW)
    ident = identify(base)
    assert band_rows(store) == {
        (b, first.cluster_id) for b in story_values(ident.fingerprint, ident.event)
    }
    retitled, copy = _edited_and_copied(base)
    assert store.stories.status([identify(retitled)]) == [Status.CHANGED]
    store.stories.ingest_many(batch_items([retitled]), NOW)
    new = identify(retitled)
    new_bands = story_values(new.fingerprint, new.event)
    assert band_rows(store) == {(b, first.cluster_id) for b in new_bands}
    found = store.stories.index.recent(new_bands, 50)
    assert set(found) == set(new_bands)
    assert all(ids == [first.cluster_id] for ids in found.values())
    [joined] = store.stories.ingest_many(batch_items([copy]), NOW)
    assert joined.joined and joined.cluster_id == first.cluster_id
    assert store.stories.prune(NOW + timedelta(days=31), timedelta(days=30)) == 2
    assert band_rows(store) == set()
    assert count(store, story_keys) > 0  # tombstones stay


def test_an_edit_and_its_copy_in_one_batch_decide_as_one_by_one(tmp_path: Path) -> None:
    base = MUSK_MEETS_SCHOLZ
    retitled, copy = _edited_and_copied(base)
    shapes = []
    for one_by_one in (False, True):
        opened = Store.open(f"sqlite:///{tmp_path}/{one_by_one}.db")
        opened.stories.ingest_many(batch_items([base]), NOW)
        batch = batch_items([retitled, copy])
        if one_by_one:
            results = [opened.stories.ingest_many([item], NOW)[0] for item in batch]
        else:
            results = opened.stories.ingest_many(batch, NOW)
        shapes.append([(r.stored, r.joined, r.cluster_id) for r in results])
        opened.close()
    assert shapes[0] == shapes[1] == [(True, True, 1), (True, True, 1)]


def _edited_and_copied(base: Story) -> tuple[Story, Story]:
    """`base` re-served with a new title (an edit), and a copy of the edit in another feed."""
    retitled = dataclasses.replace(
        base, title="Starlink startet neue Satelliten von Cape Canaveral"
    )
    copy = dataclasses.replace(
        retitled,
        feed="other",
        guid=None,
        link="https://other.example/1",
        title="Eilmeldung: " + retitled.title,
    )
    return retitled, copy
