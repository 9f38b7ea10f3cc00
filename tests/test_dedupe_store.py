"""Dedupe through the store, on the real cross-outlet corpus sets, on SQLite and PostgreSQL.

Stories go through `monitor.poll.ingest_stories` (the code a poll runs) with a tiny stand-in
matcher (a watchlist matches when its word occurs in title or text), so these tests depend
on dedupe and the store, not on the matching engine.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from monitor.dedupe import identify
from monitor.models import Hit, Match, Story
from monitor.parse import parse_feed
from monitor.poll import PollContext, ingest_stories
from monitor.store import Store
from monitor.store.schema import alerts, stories, story_keys
from monitor.store.stories import Status

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
    return ingest_stories(items, ctx)


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


def test_edited_story_alerts_only_watchlists_new_to_it(store: Store) -> None:
    base = Story(
        feed="f",
        title="Musk trifft Scholz in Berlin zu Gesprächen über Industrie",
        link="https://news.example/a/1",
        guid="a-1",
        text="Der Tesla-Chef traf den Kanzler am Freitag im Kanzleramt. " * 3,
    )
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
