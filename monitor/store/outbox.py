"""The outbox: deliveries waiting to be sent, with leases so that one worker sends each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from monitor.models import AlertMessage
from monitor.store.db import Database
from monitor.store.schema import alerts, deliveries, stories

PENDING, SENT, DEAD = "pending", "sent", "dead"


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


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def due(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose time has come and that nobody holds a lease on."""
        query = (
            _delivery_query()
            .where(deliveries.c.status == PENDING)
            .where(deliveries.c.next_attempt_at <= now)
            .where((deliveries.c.lease_until.is_(None)) | (deliveries.c.lease_until < now))
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self._db.transaction() as conn:
            return [_delivery(row) for row in conn.execute(query).all()]

    def by_status(self, statuses: Sequence[str] = (PENDING, DEAD)) -> list[Delivery]:
        query = _delivery_query().where(deliveries.c.status.in_(list(statuses)))
        with self._db.transaction() as conn:
            return [_delivery(row) for row in conn.execute(query.order_by(deliveries.c.id))]

    def claim(self, delivery_id: int, now: datetime, lease: timedelta) -> bool:
        """Take a lease on a delivery so no other worker sends it meanwhile."""
        with self._db.transaction() as conn:
            claimed = conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .where(deliveries.c.status == PENDING)
                .where((deliveries.c.lease_until.is_(None)) | (deliveries.c.lease_until < now))
                .values(lease_until=now + lease)
            )
        return claimed.rowcount == 1

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        with self._db.transaction() as conn:
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
        with self._db.transaction() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))

    def counts(self) -> dict[str, int]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            ).all()
        return {status: count for status, count in rows}


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
