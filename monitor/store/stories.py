"""Seen stories and their alerts.

A story is stored under all its identity keys, with its alerts and their deliveries, in one
transaction: "seen" and "alerted" can never disagree, whatever crashes when.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from monitor.models import Story
from monitor.store.db import Database, dialect_insert, insert_id
from monitor.store.outbox import PENDING
from monitor.store.schema import alerts, deliveries, stories, story_keys


@dataclass(frozen=True, kw_only=True, slots=True)
class NewAlert:
    """An alert to create with a story: one delivery per (channel, target) it routes to."""

    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    highlight: tuple[int, int] | None
    targets: tuple[tuple[str, str], ...]
    """(channel name, target key) pairs."""


class Stories:
    def __init__(self, db: Database) -> None:
        self._db = db

    def unseen(self, keyed: Sequence[Sequence[str]]) -> list[bool]:
        """For each story's key list: True when none of its keys is stored yet.

        A cheap pre-check so that only new stories are matched; `ingest` decides for real.
        """
        wanted = {key for keys in keyed for key in keys}
        if not wanted:
            return [True] * len(keyed)
        known: set[str] = set()
        with self._db.transaction() as conn:
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
            with self._db.transaction() as conn:
                existing = conn.execute(
                    select(story_keys.c.key, story_keys.c.story_id).where(
                        story_keys.c.key.in_(list(keys))
                    )
                ).all()
                if existing:
                    known = {row.key for row in existing}
                    _add_keys(conn, existing[0].story_id, [k for k in keys if k not in known])
                    return False
                story_id = insert_id(
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

    def alert_count(self) -> int:
        with self._db.transaction() as conn:
            return int(conn.execute(select(func.count()).select_from(alerts)).scalar() or 0)


def _add_keys(conn: Connection, story_id: int, keys: Sequence[str]) -> None:
    if keys:
        rows = [{"key": key, "story_id": story_id} for key in keys]
        conn.execute(dialect_insert(conn)(story_keys).values(rows).on_conflict_do_nothing())


def _insert_alert(conn: Connection, story_id: int, alert: NewAlert, now: datetime) -> None:
    start, end = alert.highlight if alert.highlight else (None, None)
    alert_id = insert_id(
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
