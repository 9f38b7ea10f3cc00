"""The store: seen stories, alerts and their deliveries (the outbox), per-feed state.

Every method is one short transaction. Correctness under restarts and several processes comes
from the unique keys in `schema.py`: an insert that collides means "already there".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from monitor.errors import StoreError
from monitor.models import AlertMessage, Story, Validators
from monitor.store.schema import alerts, deliveries, feeds, metadata, stories, story_keys

PENDING, SENT, DEAD = "pending", "sent", "dead"


@dataclass(frozen=True, kw_only=True, slots=True)
class NewAlert:
    """An alert to create with a story: one delivery per (channel, target) it routes to."""

    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    highlight: tuple[int, int] | None
    targets: tuple[tuple[str, str], ...]
    """(channel name, target key) pairs."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """One message to one apprise target, as the outbox worker and `monitor deliveries` see it."""

    id: int
    channel: str
    target: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    message: AlertMessage


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedState:
    name: str
    url: str
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    consecutive_failures: int


class Store:
    """A handle on the database. Create it with `Store.open(url)`; it creates its schema."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(f"storage.url is not a SQLAlchemy database URL: {url!r}") from None
        try:
            if parsed.get_backend_name() == "sqlite":
                engine = _sqlite_engine(parsed.database)
            else:
                engine = create_engine(parsed, pool_pre_ping=True)
            metadata.create_all(engine)
        except (SQLAlchemyError, OSError) as exc:
            safe = parsed.render_as_string(hide_password=True)
            raise StoreError(f"cannot open the store at {safe}: {_reason(exc)}") from None
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"store error: {_reason(exc)}") from exc

    # -- feeds -------------------------------------------------------------------------------

    def validators(self, feed: str, url: str) -> Validators:
        """The feed's remembered ETag/Last-Modified; none if its URL changed in the config."""
        with self._begin() as conn:
            row = conn.execute(
                select(feeds.c.url, feeds.c.etag, feeds.c.last_modified).where(feeds.c.name == feed)
            ).first()
        if row is None or row.url != url:
            return Validators()
        return Validators(etag=row.etag, last_modified=row.last_modified)

    def record_feed_ok(
        self, feed: str, url: str, validators: Validators | None, now: datetime
    ) -> None:
        """A poll worked. `validators` None means "keep the ones we have" (304 Not Modified)."""
        values: dict[str, Any] = {
            "url": url,
            "last_polled_at": now,
            "last_ok_at": now,
            "last_error": None,
            "consecutive_failures": 0,
        }
        if validators is not None:
            values.update(etag=validators.etag, last_modified=validators.last_modified)
        self._upsert_feed(feed, values)

    def record_feed_error(self, feed: str, url: str, error: str, now: datetime) -> None:
        with self._begin() as conn:
            failures = conn.execute(
                select(feeds.c.consecutive_failures).where(feeds.c.name == feed)
            ).scalar()
        self._upsert_feed(
            feed,
            {
                "url": url,
                "last_polled_at": now,
                "last_error": error,
                "consecutive_failures": (failures or 0) + 1,
            },
        )

    def _upsert_feed(self, feed: str, values: dict[str, Any]) -> None:
        with self._begin() as conn:
            statement = _dialect_insert(conn)(feeds).values(name=feed, **values)
            conn.execute(
                statement.on_conflict_do_update(index_elements=[feeds.c.name], set_=values)
            )

    def feed_states(self) -> list[FeedState]:
        with self._begin() as conn:
            rows = conn.execute(select(feeds).order_by(feeds.c.name)).all()
        return [
            FeedState(
                name=row.name,
                url=row.url,
                last_polled_at=row.last_polled_at,
                last_ok_at=row.last_ok_at,
                last_error=row.last_error,
                consecutive_failures=row.consecutive_failures,
            )
            for row in rows
        ]

    # -- stories and alerts ------------------------------------------------------------------

    def unseen(self, keyed: Sequence[Sequence[str]]) -> list[bool]:
        """For each story's key list: True when none of its keys is stored yet.

        A cheap pre-check so that only new stories are matched; `ingest` decides for real.
        """
        wanted = {key for keys in keyed for key in keys}
        if not wanted:
            return [True] * len(keyed)
        known: set[str] = set()
        with self._begin() as conn:
            batch = sorted(wanted)
            for start in range(0, len(batch), 500):
                chunk = batch[start : start + 500]
                known.update(
                    conn.execute(select(story_keys.c.key).where(story_keys.c.key.in_(chunk)))
                    .scalars()
                    .all()
                )
        return [not any(key in known for key in keys) for keys in keyed]

    def ingest(
        self, story: Story, keys: Sequence[str], new_alerts: Sequence[NewAlert], now: datetime
    ) -> bool:
        """Store a story with its alerts and their deliveries, in one transaction.

        Returns False (and writes nothing but any new keys) when the story was already seen:
        then it never alerts again. A crash before commit leaves nothing, so the next poll
        simply does the work again.
        """
        try:
            with self._begin() as conn:
                existing = conn.execute(
                    select(story_keys.c.key, story_keys.c.story_id).where(
                        story_keys.c.key.in_(list(keys))
                    )
                ).all()
                if existing:
                    known = {row.key for row in existing}
                    _add_keys(conn, existing[0].story_id, [k for k in keys if k not in known])
                    return False
                story_id = _insert_id(
                    conn,
                    insert(stories).values(
                        feed=story.feed,
                        guid=story.guid,
                        link=story.link,
                        title=story.title,
                        published_at=story.published,
                        seen_at=now,
                    ),
                )
                conn.execute(insert(story_keys), [{"key": k, "story_id": story_id} for k in keys])
                for alert in new_alerts:
                    _insert_alert(conn, story_id, alert, now)
                return True
        except IntegrityError:
            # Another process stored the same story between our check and our insert.
            return False

    # -- deliveries (the outbox) -------------------------------------------------------------

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose time has come and that nobody holds a lease on."""
        query = (
            _delivery_query()
            .where(deliveries.c.status == PENDING)
            .where(deliveries.c.next_attempt_at <= now)
            .where((deliveries.c.lease_until.is_(None)) | (deliveries.c.lease_until < now))
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self._begin() as conn:
            return [_delivery(row) for row in conn.execute(query).all()]

    def deliveries(self, statuses: Sequence[str] = (PENDING, DEAD)) -> list[Delivery]:
        query = _delivery_query().where(deliveries.c.status.in_(list(statuses)))
        with self._begin() as conn:
            return [_delivery(row) for row in conn.execute(query.order_by(deliveries.c.id))]

    def claim(self, delivery_id: int, now: datetime, lease: timedelta) -> bool:
        """Take a lease on a delivery so no other worker sends it meanwhile."""
        with self._begin() as conn:
            claimed = conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .where(deliveries.c.status == PENDING)
                .where((deliveries.c.lease_until.is_(None)) | (deliveries.c.lease_until < now))
                .values(lease_until=now + lease)
            )
        return claimed.rowcount == 1

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        with self._begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    status=SENT,
                    sent_at=now,
                    lease_until=None,
                    last_error=None,
                    attempts=deliveries.c.attempts + 1,
                )
            )

    def mark_failed(self, delivery_id: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt: retry at `retry_at`, or mark dead when it is None."""
        values: dict[str, Any] = {
            "last_error": error,
            "lease_until": None,
            "attempts": deliveries.c.attempts + 1,
        }
        if retry_at is None:
            values["status"] = DEAD
        else:
            values["next_attempt_at"] = retry_at
        with self._begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))

    def delivery_counts(self) -> dict[str, int]:
        with self._begin() as conn:
            rows = conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            ).all()
        return {status: count for status, count in rows}

    def alert_count(self) -> int:
        with self._begin() as conn:
            return int(conn.execute(select(func.count()).select_from(alerts)).scalar() or 0)


def _sqlite_engine(database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{database or ':memory:'}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA busy_timeout=10000")  # wait for another process's write
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints, safe with WAL
        cursor.close()

    return engine


def _dialect_insert(conn: Connection) -> Any:
    """INSERT with ON CONFLICT support: the two backends we support both have it."""
    return sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert


def _insert_id(conn: Connection, statement: Any) -> int:
    """Run an INSERT and return the id the database gave the new row."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


def _add_keys(conn: Connection, story_id: int, keys: Sequence[str]) -> None:
    if keys:
        rows = [{"key": key, "story_id": story_id} for key in keys]
        conn.execute(_dialect_insert(conn)(story_keys).values(rows).on_conflict_do_nothing())


def _insert_alert(conn: Connection, story_id: int, alert: NewAlert, now: datetime) -> None:
    start, end = alert.highlight if alert.highlight else (None, None)
    alert_id = _insert_id(
        conn,
        insert(alerts).values(
            watchlist=alert.watchlist,
            story_id=story_id,
            terms=json.dumps(list(alert.terms), ensure_ascii=False),
            snippet=alert.snippet,
            highlight_start=start,
            highlight_end=end,
            created_at=now,
        ),
    )
    if alert.targets:
        conn.execute(
            insert(deliveries),
            [
                {
                    "alert_id": alert_id,
                    "channel": channel,
                    "target": target,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for channel, target in alert.targets
            ],
        )


def _delivery_query() -> Any:
    return (
        select(
            deliveries,
            alerts.c.watchlist,
            alerts.c.terms,
            alerts.c.snippet,
            alerts.c.highlight_start,
            alerts.c.highlight_end,
            stories.c.title,
            stories.c.link,
            stories.c.feed,
            stories.c.published_at,
        )
        .join(alerts, alerts.c.id == deliveries.c.alert_id)
        .join(stories, stories.c.id == alerts.c.story_id)
    )


def _delivery(row: Any) -> Delivery:
    highlight = None
    if row.highlight_start is not None and row.highlight_end is not None:
        highlight = (row.highlight_start, row.highlight_end)
    return Delivery(
        id=row.id,
        channel=row.channel,
        target=row.target,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        message=AlertMessage(
            alert_id=row.alert_id,
            watchlist=row.watchlist,
            title=row.title,
            link=row.link,
            source=row.feed,
            terms=tuple(json.loads(row.terms)),
            snippet=row.snippet,
            highlight=highlight,
            published=row.published_at,
        ),
    )


def _reason(exc: BaseException) -> str:
    """The driver's own message, first line only, without SQLAlchemy's long footer."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
