"""The alerts a stored story makes: which watchlists matched it, and one alert (with its
deliveries, the outbox) per watchlist new to the story and to its cluster.

Written in the transaction that stores the story (`ingest.Batch`), so "seen" and "alerted"
can never disagree, whatever crashes when.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from monitor.store.db import dialect_insert, insert_id
from monitor.store.schema import PENDING, alerts, deliveries, story_matches


@dataclass(frozen=True, kw_only=True, slots=True)
class NewAlert:
    """An alert to create with a story: one delivery per (channel, target) it routes to."""

    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    highlight: tuple[int, int] | None
    targets: tuple[tuple[str, str], ...]
    """(channel name, target key) pairs."""


def record_matches(
    conn: Connection,
    story_id: int,
    cluster_id: int,
    new_alerts: Sequence[NewAlert],
    before: set[str],
    now: datetime,
) -> int:
    """Remember which watchlists matched; alert those new to the story and to its cluster."""
    fresh = [a for a in new_alerts if a.watchlist not in before]
    if not fresh:
        return 0
    conn.execute(
        dialect_insert(conn)(story_matches)
        .values([{"story_id": story_id, "watchlist": a.watchlist} for a in fresh])
        .on_conflict_do_nothing()
    )
    alerted = set(
        conn.execute(
            select(alerts.c.watchlist).where(
                alerts.c.cluster_id == cluster_id,
                alerts.c.watchlist.in_([a.watchlist for a in fresh]),
            )
        ).scalars()
    )
    count = 0
    for alert in fresh:
        if alert.watchlist not in alerted:
            _insert_alert(conn, story_id, cluster_id, alert, now)
            count += 1
    return count


def _insert_alert(
    conn: Connection, story_id: int, cluster_id: int, alert: NewAlert, now: datetime
) -> None:
    start, end = alert.highlight if alert.highlight else (None, None)
    alert_id = insert_id(
        conn,
        insert(alerts).values(
            watchlist=alert.watchlist,
            story_id=story_id,
            cluster_id=cluster_id,
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
