"""The in-memory band index (monitor/store/band_index.py) follows the stories table: stories
another process stored, ids that commit out of order, stories that left the window, and a
store whose ids start again after every story was pruned."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from test_dedupe_store import MUSK_MEETS_SCHOLZ, NOW, batch_items

from monitor.dedupe import identify
from monitor.models import Story
from monitor.store import Store
from monitor.store import band_index as band_index_module
from monitor.store.band_index import BandIndex, pack
from monitor.store.events import story_values
from monitor.store.schema import stories


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def copy_of(story: Story, n: int) -> Story:
    """Another outlet's copy of `story`: new feed, guid and link, a word added to the title."""
    return dataclasses.replace(
        story,
        feed=f"copy{n}",
        guid=None,
        link=f"https://copy{n}.example/1",
        title=f"Eilmeldung {n}: {story.title}",
    )


def test_a_story_another_process_stored_is_found_by_this_one(store_url: str) -> None:
    """Two processes on one store: each index reads what the other wrote since."""
    first, second = Store.open(store_url), Store.open(store_url)
    try:
        other = dataclasses.replace(
            MUSK_MEETS_SCHOLZ,
            guid="x-1",
            link="https://news.example/x/1",
            title="Vulkan auf Island bricht erneut aus, Grindavik evakuiert",
            text="Auf der Halbinsel Reykjanes ist der Vulkan erneut ausgebrochen. " * 3,
        )
        first.stories.ingest_many(batch_items([other]), NOW)  # its index is loaded now
        [original] = second.stories.ingest_many(batch_items([MUSK_MEETS_SCHOLZ]), NOW)
        [copy] = first.stories.ingest_many(batch_items([copy_of(MUSK_MEETS_SCHOLZ, 1)]), NOW)
        assert copy.joined and copy.cluster_id == original.cluster_id
    finally:
        first.close()
        second.close()


def test_an_id_that_commits_after_a_higher_one_is_still_read(pg_url: str) -> None:
    """PostgreSQL gives ids out of a sequence: a transaction holding a lower id may commit
    after the index has read a higher one. The gap is asked for again until it commits."""
    store = Store.open(pg_url)
    engine = create_engine(pg_url)
    try:
        index = store.stories.index
        with store.engine.begin() as conn:
            index.catch_up(conn, NOW - timedelta(hours=72))
        slow = engine.connect()
        slow_tx = slow.begin()
        early = slow.execute(
            stories.insert().values(feed="f", title="early", seen_at=NOW, bands=pack([111]))
        ).inserted_primary_key[0]
        with engine.begin() as conn:  # a later id, committed first
            late = conn.execute(
                stories.insert().values(feed="f", title="late", seen_at=NOW, bands=pack([222]))
            ).inserted_primary_key[0]
        assert late > early
        with store.engine.begin() as conn:
            index.catch_up(conn, NOW - timedelta(hours=72))
        assert index.recent([111, 222], 50) == {222: [late]}
        slow_tx.commit()
        slow.close()
        with store.engine.begin() as conn:
            index.catch_up(conn, NOW - timedelta(hours=72))
        assert index.recent([111, 222], 50) == {111: [early], 222: [late]}
    finally:
        engine.dispose()
        store.close()


def test_a_merge_drops_the_stories_that_left_the_window(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Merging runs drops the stories seen before the window: the index of a daemon that runs
    for months holds about the window, not the months."""
    monkeypatch.setattr(band_index_module, "FLUSH_AT", 2)
    index = BandIndex()
    with store.engine.begin() as conn:
        for title, seen, values in (("old", NOW - timedelta(hours=80), [1]), ("new", NOW, [2])):
            conn.execute(
                stories.insert().values(feed="f", title=title, seen_at=seen, bands=pack(values))
            )
        index.catch_up(conn, NOW - timedelta(hours=100))  # both within that window
        assert set(index.recent([1, 2], 50)) == {1, 2}
        conn.execute(
            stories.insert().values(feed="f", title="newer", seen_at=NOW, bands=pack([3, 4]))
        )
        index.catch_up(conn, NOW - timedelta(hours=72))  # 2 entries read: a run, merged
        assert set(index.recent([1, 2, 3, 4], 50)) == {2, 3, 4}
        assert len(index) == 3


def test_stories_stored_after_a_prune_emptied_the_store_are_found(store: Store) -> None:
    """SQLite gives out ids from 1 again once every story is gone: the index must not take
    the new story 1 for the one it read before."""
    old = dataclasses.replace(MUSK_MEETS_SCHOLZ, guid="old", link="https://news.example/old")
    old = dataclasses.replace(old, title="Bahnstreik legt den Fernverkehr am Montag lahm")
    older = dataclasses.replace(old, guid="older", link="https://news.example/older")
    older = dataclasses.replace(older, title="Glatteis sorgt für Unfälle auf der A7 bei Kassel")
    store.stories.ingest_many(batch_items([old]), NOW - timedelta(days=40))
    store.stories.ingest_many(batch_items([older]), NOW - timedelta(days=40))  # reads `old`
    assert store.stories.prune(NOW, timedelta(days=30)) == 2
    [original] = store.stories.ingest_many(batch_items([MUSK_MEETS_SCHOLZ]), NOW)
    [copy] = store.stories.ingest_many(batch_items([copy_of(MUSK_MEETS_SCHOLZ, 2)]), NOW)
    assert copy.joined and copy.cluster_id == original.cluster_id


def test_the_index_holds_each_stored_story_under_its_values(store: Store) -> None:
    """What the ingest path writes (`stories.bands`) is what a new process's index reads."""
    [first] = store.stories.ingest_many(batch_items([MUSK_MEETS_SCHOLZ]), NOW)
    ident = identify(MUSK_MEETS_SCHOLZ)
    values = story_values(ident.fingerprint, ident.event)
    fresh = BandIndex()
    with store.engine.begin() as conn:
        fresh.catch_up(conn, NOW - timedelta(hours=72))
    assert fresh.recent([*values, 12345], 50) == {v: [first.cluster_id] for v in values}


def test_a_batch_s_own_stories_are_in_the_index_without_reading_them_back(store: Store) -> None:
    """After a commit the index holds the batch's stories at once (`add_own`): the next
    `catch_up` finds nothing new to read."""
    store.stories.load_index(NOW)
    [first] = store.stories.ingest_many(batch_items([MUSK_MEETS_SCHOLZ]), NOW)
    ident = identify(MUSK_MEETS_SCHOLZ)
    values = story_values(ident.fingerprint, ident.event)
    index = store.stories.index
    assert index.recent(values, 50) == {v: [first.cluster_id] for v in values}
    assert index._upto == first.cluster_id


def test_own_stories_after_an_unread_id_wait_for_catch_up() -> None:
    """Ids that do not follow the last one read would hide a gap: `add_own` leaves them to
    `catch_up`, which reads the table in id order."""
    index = BandIndex()
    index._upto = 10
    index.add_own([(12, (1, 2)), (13, (3,))])  # 11 unread
    index.add_own([(11, (1,)), (13, (3,))])  # not contiguous
    assert index.recent([1, 2, 3], 50) == {}
    assert index._upto == 10
    index.add_own([(11, (1, 2)), (12, (2,))])
    assert index.recent([1, 2, 3], 50) == {1: [11], 2: [11, 12]}
    assert index._upto == 12


@settings(max_examples=300, deadline=None)
@given(
    stored=st.lists(
        st.one_of(st.integers(-200, 200), st.sampled_from([-(2**63), 2**63 - 1])), max_size=400
    ),
    wanted=st.lists(st.one_of(st.integers(-210, 210), st.sampled_from([-(2**63), 2**63 - 1]))),
)
def test_a_run_finds_exactly_the_entries_of_each_value(
    stored: list[int], wanted: list[int]
) -> None:
    """A run's lookup (a sample, then a block of neighbours) agrees with scanning every
    entry: runs shorter and longer than its stride, repeated values, the int64 extremes, and
    every stored value and its neighbours asked for."""
    wanted = wanted + [v + d for v in stored for d in (-1, 0, 1) if abs(v) < 2**62]
    run = band_index_module._sorted_run(
        np.array(stored, dtype=np.int64), np.arange(len(stored), dtype=np.int64)
    )
    query = np.array(sorted(set(wanted)), dtype=np.int64)
    found = {int(query[k]): run.ids[low:high].tolist() for k, low, high in spans(run, query)}
    expected: dict[int, list[int]] = {}
    for story_id, value in enumerate(stored):  # ids in the order read, as a run keeps them
        if value in set(wanted):
            expected.setdefault(value, []).append(story_id)
    assert found == expected


@pytest.mark.parametrize("size", [1, 31, 32, 33, 64, 65, 100, 1000])
def test_a_run_finds_values_on_and_around_the_sample_boundaries(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Distinct values 0, 2, 4, ...: every one found once, every odd one (between two
    entries, hence also just below and above each sample) not at all."""
    monkeypatch.setattr(band_index_module, "SAMPLE_FROM", 0)
    values = np.arange(0, 2 * size, 2, dtype=np.int64)
    run = band_index_module._sorted_run(values, np.arange(size, dtype=np.int64))
    query = np.arange(-1, 2 * size + 1, dtype=np.int64)
    found = {int(query[k]): (low, high) for k, low, high in spans(run, query)}
    assert found == {2 * i: (i, i + 1) for i in range(size)}


def spans(run: band_index_module._Run, query: np.ndarray) -> list[tuple[int, int, int]]:
    present, lows, highs = run.spans(query)
    return list(zip(present.tolist(), lows.tolist(), highs.tolist(), strict=True))
