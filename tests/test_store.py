"""The store contract, run against real SQLite and real PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    inspect,
    select,
    text,
)

from monitor.dedupe import identify
from monitor.errors import StoreError
from monitor.models import Story, Validators
from monitor.store import DEAD, PENDING, SENT, NewAlert, Store
from monitor.store.ingest import Status
from monitor.store.schema import (
    ALERTS_STORY_INDEX,
    UTCDateTime,
    metadata,
    stories,
    story_keys,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def story(n: int, **changes: object) -> Story:
    values: dict[str, object] = {
        "feed": "f",
        "title": f"Story {n}",
        "link": f"https://example.org/{n}",
        "guid": f"g{n}",
    }
    values.update(changes)
    return Story(**values)  # type: ignore[arg-type]


def alert(watchlist: str, *targets: tuple[str, str]) -> NewAlert:
    return NewAlert(
        watchlist=watchlist,
        terms=("Musk",),
        snippet="… Musk …",
        highlight=(2, 6),
        targets=targets,
    )


@pytest.fixture
def store(store_url: str) -> Store:
    opened = Store.open(store_url)
    yield opened  # type: ignore[misc]
    opened.close()


def test_ingest_is_exactly_once_by_any_key(store: Store) -> None:
    first = story(1)
    assert store.stories.ingest(first, identify(first), [alert("w", ("c", "t"))], NOW)
    # The same guid again, or the same link under a new guid: seen, nothing new.
    assert not store.stories.ingest(first, identify(first), [alert("w", ("c", "t"))], NOW)
    relinked = story(1, guid="other-guid")
    assert store.stories.status([identify(relinked)]) == [Status.SEEN]
    assert not store.stories.ingest(relinked, identify(relinked), [alert("w")], NOW)
    # ... and the new guid was learned: a later copy with only that guid is seen too.
    only_guid = story(1, guid="other-guid", link="https://example.org/moved")
    assert store.stories.status([identify(only_guid)]) == [Status.SEEN]
    assert store.stories.alert_count() == 1
    assert store.outbox.counts() == {PENDING: 1}


def test_store_survives_reopen(store_url: str) -> None:
    first = Store.open(store_url)
    assert first.stories.ingest(story(1), identify(story(1)), [], NOW)
    first.feeds.record_ok("f", "http://x/f.xml", Validators(etag='"e1"', last_modified="lm"), NOW)
    first.close()
    again = Store.open(store_url)
    assert not again.stories.ingest(story(1), identify(story(1)), [], NOW)
    assert again.feeds.validators("f", "http://x/f.xml") == Validators(
        etag='"e1"', last_modified="lm"
    )
    # A changed feed URL forgets the validators: they belong to the old URL.
    assert again.feeds.validators("f", "http://x/other.xml") == Validators()
    again.close()


def test_feed_errors_count_up_and_reset(store: Store) -> None:
    store.feeds.record_error("f", "http://x", "HTTP 500", NOW)
    store.feeds.record_error("f", "http://x", "HTTP 502", NOW)
    [state] = store.feeds.all()
    assert (state.consecutive_failures, state.last_error) == (2, "HTTP 502")
    store.feeds.record_ok("f", "http://x", None, NOW)
    [state] = store.feeds.all()
    assert (state.consecutive_failures, state.last_error, state.last_ok_at) == (0, None, NOW)


def test_outbox_lease_send_retry_dead(store: Store) -> None:
    store.stories.ingest(story(1), identify(story(1)), [alert("w", ("c", "t1"), ("c", "t2"))], NOW)
    due = store.outbox.due(NOW)
    assert [(d.channel, d.target) for d in due] == [("c", "t1"), ("c", "t2")]
    assert due[0].message.title == "Story 1"
    assert due[0].message.terms == ("Musk",)
    assert due[0].message.highlight == (2, 6)
    # A lease keeps a second worker off the same delivery until it expires.
    assert store.outbox.claim(due[0].id, NOW, timedelta(minutes=5))
    assert not store.outbox.claim(due[0].id, NOW, timedelta(minutes=5))
    assert [d.id for d in store.outbox.due(NOW)] == [due[1].id]
    store.outbox.mark_sent(due[0].id, NOW)
    # A failure is retried at its time, not before; a dead one is never due again.
    store.outbox.mark_failed(due[1].id, "SMTP down", NOW + timedelta(minutes=1))
    assert store.outbox.due(NOW) == []
    [retry] = store.outbox.due(NOW + timedelta(minutes=2))
    assert (retry.attempts, retry.last_error) == (1, "SMTP down")
    store.outbox.mark_failed(retry.id, "still down", None)
    assert store.outbox.due(NOW + timedelta(days=2)) == []
    assert store.outbox.counts() == {SENT: 1, DEAD: 1}
    [dead] = store.outbox.by_status([DEAD])
    assert dead.last_error == "still down"


def test_unreachable_store_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="not a SQLAlchemy database URL"):
        Store.open("not a url")


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.feeds.record_ok("f", "u", None, datetime(2026, 1, 1))


def v1_schema() -> MetaData:
    """The schema before story_bands lost seen_at, its story_id index and foreign key, and
    before both tables became WITHOUT ROWID on SQLite."""
    old = MetaData()
    for table in metadata.sorted_tables:
        if table.name not in ("story_keys", "story_bands"):
            table.to_metadata(old)
    ids = stories.c.id.type
    Table(
        "story_keys",
        old,
        Column("key", String(64), primary_key=True),
        Column("story_id", ids, ForeignKey("stories.id", ondelete="SET NULL"), index=True),
    )
    Table(
        "story_bands",
        old,
        Column("band", BigInteger, primary_key=True),
        Column("story_id", ids, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
        Column("seen_at", UTCDateTime(), nullable=False),
        Index("ix_story_bands_story", "story_id"),
    )
    return old


def test_a_store_made_by_the_old_schema_is_upgraded_when_opened(store_url: str) -> None:
    first = story(1, title="Musk trifft Scholz in Berlin zu Gesprächen über Industrie")
    ident = identify(first)
    engine = create_engine(store_url)
    old = v1_schema()
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE stories DROP COLUMN event_words"))  # v3 added it
        conn.execute(text("ALTER TABLE stories DROP COLUMN bands"))  # v5 added it
        conn.execute(text(f"DROP INDEX {ALERTS_STORY_INDEX}"))  # v4 added it
        sid = conn.execute(
            old.tables["stories"].insert(),
            {
                "feed": "f",
                "title": first.title,
                "link": first.link,
                "guid": first.guid,
                "seen_at": NOW,
                "fingerprint": ident.fingerprint.encode(),
            },
        ).inserted_primary_key[0]
        conn.execute(old.tables["stories"].update().values(cluster_id=sid))
        conn.execute(
            old.tables["story_keys"].insert(), [{"key": k, "story_id": sid} for k in ident.keys]
        )
        conn.execute(
            old.tables["story_bands"].insert(),
            [{"band": b, "story_id": sid, "seen_at": NOW} for b in ident.fingerprint.bands],
        )
    engine.dispose()
    for _ in range(2):  # the second open finds nothing to do
        opened = Store.open(store_url)
        assert not inspect(opened.engine).has_table("story_bands")  # v5: in `stories.bands`
        columns = {c["name"] for c in inspect(opened.engine).get_columns("stories")}
        assert {"event_words", "bands"} <= columns
        indexes = {
            i["name"]: i["column_names"] for i in inspect(opened.engine).get_indexes("alerts")
        }
        assert indexes[ALERTS_STORY_INDEX] == ["story_id"]
        if opened.engine.dialect.name == "sqlite":
            with opened.engine.connect() as conn:
                ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table'"))
                assert sum("WITHOUT ROWID" in sql for sql in ddl.scalars()) == 1
        opened.close()
    opened = Store.open(store_url)
    # Keys came along: the story is seen; a copy joins it through the bands of its stored
    # fingerprint (its `bands` column is NULL: computed when the index loads it).
    assert opened.stories.status([ident]) == [Status.SEEN]
    copy = dataclasses.replace(
        first, guid="g2", link="https://other.example/2", title="Eilmeldung: " + first.title
    )
    result = opened.stories.ingest(copy, identify(copy), [], NOW)
    assert result.joined and result.cluster_id == sid
    assert opened.stories.prune(NOW + timedelta(days=31), timedelta(days=30)) == 2
    with opened.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(stories)).scalar_one() == 0
        keys = conn.execute(select(story_keys.c.story_id)).scalars().all()
    assert len(keys) >= len(ident.keys) and set(keys) == {None}  # tombstones
    opened.close()
