"""How the store writes a poll's stories: plain-SQL inserts, cluster ids, SQLite's settings.

The hot path writes rows through the driver (`db.insert_ids`, `db.insert_plain`) instead of
SQLAlchemy's per-row machinery; these tests pin what that path must still get right on both
backends: ids in order, datetimes as the schema stores them, each story's cluster.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, select

from monitor.dedupe import identify
from monitor.models import Story
from monitor.store import Store
from monitor.store.db import CACHE_KIB, Database, insert_ids
from monitor.store.ingest import ToIngest
from monitor.store.schema import stories

NOW = datetime(2024, 12, 21, 19, 0, tzinfo=UTC)
LEAD = (
    "The regional council voted late on Tuesday to close the old harbour bridge for repairs "
    "after engineers found cracks in two of its supporting piers during a routine inspection."
)


def story(link: str, title: str, text: str = LEAD) -> Story:
    return Story(feed=link.split("/")[2], title=title, link=link, text=text)


def test_insert_ids_gives_each_row_its_id_in_order(store_url: str) -> None:
    db = Database.open(store_url)
    try:
        berlin = timezone(timedelta(hours=1))
        rows = [
            {
                "feed": "f",
                "guid": None,
                "link": f"https://example.org/{i}",
                "title": f"story {i}",
                "published_at": datetime(2024, 12, 21, 10, i, tzinfo=berlin) if i % 2 else None,
                "seen_at": NOW,
                "cluster_id": None,
                "fingerprint": None,
            }
            for i in range(7)
        ]
        with db.transaction() as conn:
            assert insert_ids(conn, stories, []) == []
            ids = insert_ids(conn, stories, rows[:3])
            # The highest row gone (SQLite then gives its id out again) and one in the middle.
            conn.execute(delete(stories).where(stories.c.id.in_([ids[1], ids[2]])))
        with db.transaction() as conn:
            ids = [ids[0], *insert_ids(conn, stories, rows[1:])]
        with db.transaction() as conn:
            stored = conn.execute(
                select(stories.c.id, stories.c.link, stories.c.published_at, stories.c.seen_at)
            ).all()
    finally:
        db.close()
    assert len(set(ids)) == 7
    assert {row.id: row.link for row in stored} == {
        story_id: row["link"] for story_id, row in zip(ids, rows, strict=True)
    }
    by_id = {row.id: row for row in stored}
    for story_id, row in zip(ids, rows, strict=True):
        assert by_id[story_id].seen_at == NOW
        assert by_id[story_id].published_at == row["published_at"]  # the same instant, in UTC


def test_a_batch_writes_each_storys_cluster(store_url: str) -> None:
    """Joining a stored story (cluster known before the insert), starting a cluster, and
    joining a story of the same batch (known only once that one has its id)."""
    store = Store.open(store_url)
    try:
        first = story("https://a.example/1", "Harbour bridge closed for repairs after cracks")
        (stored,) = store.stories.ingest_many(
            [ToIngest(story=first, ident=identify(first), alerts=())], NOW
        )
        batch = [
            story("https://b.example/1", "Harbour bridge closed for repairs after cracks found"),
            story(
                "https://b.example/2",
                "Minister resigns over pension reform dispute",
                "The pension minister stepped down on Wednesday after a dispute with the finance "
                "ministry about the reform bill, which parliament is due to debate next month, "
                "saying she could no longer defend the cuts it contained.",
            ),
            story(
                "https://c.example/2",
                "Minister resigns over pension reform dispute, says aide",
                "The pension minister stepped down on Wednesday after a dispute with the finance "
                "ministry about the reform bill, which parliament is due to debate next month, "
                "saying she could no longer defend the cuts it contained.",
            ),
        ]
        results = store.stories.ingest_many(
            [ToIngest(story=s, ident=identify(s), alerts=()) for s in batch], NOW
        )
        with store.engine.connect() as conn:
            rows = dict(conn.execute(select(stories.c.link, stories.c.cluster_id)).all())
            ids = dict(conn.execute(select(stories.c.link, stories.c.id)).all())
    finally:
        store.close()
    assert [r.joined for r in results] == [True, False, True]
    assert rows["https://a.example/1"] == stored.cluster_id == ids["https://a.example/1"]
    assert rows["https://b.example/1"] == ids["https://a.example/1"]
    assert rows["https://b.example/2"] == ids["https://b.example/2"]
    assert rows["https://c.example/2"] == ids["https://b.example/2"]
    assert [r.cluster_id for r in results] == [rows[s.link or ""] for s in batch]


def test_sqlite_store_connections_have_a_larger_page_cache(tmp_path: Path) -> None:
    """Every connection of the pool gets it (it is per connection, not kept in the file)."""
    store = Store.open(f"sqlite:///{tmp_path}/monitor.db")
    try:
        with store.engine.connect() as one, store.engine.connect() as two:
            for conn in (one, two):
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -CACHE_KIB
                assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 0
    finally:
        store.close()
