"""Per-feed state: cache validators for conditional GET, last poll, last error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from monitor.models import Validators
from monitor.store.db import Database, dialect_insert
from monitor.store.schema import feeds


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedState:
    name: str
    url: str
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    consecutive_failures: int


class FeedStates:
    def __init__(self, db: Database) -> None:
        self._db = db

    def validators(self, feed: str, url: str) -> Validators:
        """The feed's remembered ETag/Last-Modified; none if its URL changed in the config."""
        with self._db.transaction() as conn:
            row = conn.execute(
                select(feeds.c.url, feeds.c.etag, feeds.c.last_modified).where(feeds.c.name == feed)
            ).first()
        if row is None or row.url != url:
            return Validators()
        return Validators(etag=row.etag, last_modified=row.last_modified)

    def record_ok(self, feed: str, url: str, validators: Validators | None, now: datetime) -> None:
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
        self._upsert(feed, values)

    def record_error(self, feed: str, url: str, error: str, now: datetime) -> None:
        with self._db.transaction() as conn:
            failures = conn.execute(
                select(feeds.c.consecutive_failures).where(feeds.c.name == feed)
            ).scalar()
        self._upsert(
            feed,
            {
                "url": url,
                "last_polled_at": now,
                "last_error": error,
                "consecutive_failures": (failures or 0) + 1,
            },
        )

    def _upsert(self, feed: str, values: dict[str, Any]) -> None:
        with self._db.transaction() as conn:
            statement = dialect_insert(conn)(feeds).values(name=feed, **values)
            conn.execute(
                statement.on_conflict_do_update(index_elements=[feeds.c.name], set_=values)
            )

    def all(self) -> list[FeedState]:
        with self._db.transaction() as conn:
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
