"""The outbox: deliveries waiting to be sent, with leases so that one worker sends each.

Deliveries to one target go out in creation order: a delivery is due only when no earlier
delivery to the same (channel, target) is still waiting for its retry or held by a worker.
`channel_health` remembers since when a target has been failing, so that a long outage raises
one error rather than one per attempt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.models import AlertMessage
from monitor.store.db import Database
from monitor.store.schema import DEAD, PENDING, SENT, alerts, channel_health, deliveries, stories
from monitor.store.stories import outlets_by_cluster


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
    next_attempt_at: datetime | None = None
    retry_from: datetime | None = None
    """Start of the retry horizon: creation, or the last manual requeue."""

    @property
    def horizon_start(self) -> datetime:
        return self.retry_from or self.created_at


@dataclass(frozen=True, kw_only=True, slots=True)
class Failing:
    """A target that is failing: since when, and whether the error was raised already."""

    channel: str
    target: str
    failing_since: datetime
    alerted_at: datetime | None


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def due(self, now: datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose time has come and that nobody holds a lease on.

        A delivery waits while an earlier one to the same target waits (for its retry time or
        another worker's lease): a target receives its alerts in order.
        """
        earlier = deliveries.alias("earlier")
        blocked = exists().where(
            and_(
                earlier.c.channel == deliveries.c.channel,
                earlier.c.target == deliveries.c.target,
                earlier.c.status == PENDING,
                earlier.c.id < deliveries.c.id,
                (earlier.c.next_attempt_at > now) | (earlier.c.lease_until >= now),
            )
        )
        query = (
            _delivery_query()
            .where(deliveries.c.status == PENDING)
            .where(deliveries.c.next_attempt_at <= now)
            .where((deliveries.c.lease_until.is_(None)) | (deliveries.c.lease_until < now))
            .where(~blocked)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self._db.transaction() as conn:
            return _deliveries(conn, conn.execute(query).all())

    def by_status(self, statuses: Sequence[str] = (PENDING, DEAD)) -> list[Delivery]:
        query = _delivery_query().where(deliveries.c.status.in_(list(statuses)))
        with self._db.transaction() as conn:
            return _deliveries(conn, conn.execute(query.order_by(deliveries.c.id)).all())

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

    def mark_sent_many(self, delivery_ids: Sequence[int], now: datetime) -> None:
        """Mark the deliveries one message covered (a digest, a batch) sent, all or none."""
        with self._db.transaction() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .values(
                    status=SENT,
                    sent_at=now,
                    lease_until=None,
                    last_error=None,
                    attempts=deliveries.c.attempts + 1,
                )
            )

    def defer(self, delivery_id: int, until: datetime) -> None:
        """Hold a delivery until `until` without counting an attempt (rate limit, quiet hours)."""
        with self._db.transaction() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(next_attempt_at=until, lease_until=None)
            )

    def last_sent(self, channel: str, target: str) -> datetime | None:
        """When this target last accepted a delivery."""
        with self._db.transaction() as conn:
            value = conn.execute(
                select(func.max(deliveries.c.sent_at))
                .where(deliveries.c.channel == channel)
                .where(deliveries.c.target == target)
                .where(deliveries.c.status == SENT)
            ).scalar()
        if isinstance(value, datetime) and value.tzinfo is None:  # SQLite: func.max loses the type
            value = value.replace(tzinfo=UTC)
        elif isinstance(value, str):
            value = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value

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

    def get(self, delivery_id: int) -> Delivery | None:
        with self._db.transaction() as conn:
            row = conn.execute(_delivery_query().where(deliveries.c.id == delivery_id)).first()
            found = _deliveries(conn, [row] if row is not None else [])
        return found[0] if found else None

    def requeue(self, now: datetime, *, ids: Sequence[int] = (), dead: bool = False) -> int:
        """Make deliveries pending and due now, with a fresh retry horizon; returns how many.

        `ids` picks deliveries (pending or dead; sent ones are never sent again); `dead`
        picks every dead one.
        """
        query = update(deliveries).where(deliveries.c.status.in_([PENDING, DEAD]))
        if dead:
            query = query.where(deliveries.c.status == DEAD)
        if ids:
            query = query.where(deliveries.c.id.in_(list(ids)))
        if not ids and not dead:
            return 0
        with self._db.transaction() as conn:
            done = conn.execute(
                query.values(status=PENDING, next_attempt_at=now, lease_until=None, retry_from=now)
            )
        return int(done.rowcount)

    # -- channel health ------------------------------------------------------------------------
    def note_failure(self, channel: str, target: str, now: datetime) -> Failing:
        """Record that a target failed now; return since when it has been failing."""
        key = (channel_health.c.channel == channel) & (channel_health.c.target == target)
        with self._db.transaction() as conn:
            row = conn.execute(select(channel_health).where(key)).first()
            if row is not None:
                return _failing(row)
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    insert(channel_health).values(channel=channel, target=target, failing_since=now)
                )
        except IntegrityError:  # another worker noted it first
            with self._db.transaction() as conn:
                return _failing(conn.execute(select(channel_health).where(key)).one())
        return Failing(channel=channel, target=target, failing_since=now, alerted_at=None)

    def mark_alerted(self, channel: str, target: str, now: datetime) -> bool:
        """Claim the one "delivery is failing" error for this outage; False if already raised."""
        with self._db.transaction() as conn:
            done = conn.execute(
                update(channel_health)
                .where(channel_health.c.channel == channel)
                .where(channel_health.c.target == target)
                .where(channel_health.c.alerted_at.is_(None))
                .values(alerted_at=now)
            )
        return done.rowcount == 1

    def note_success(self, channel: str, target: str) -> Failing | None:
        """The target works: forget its outage; return it if there was one."""
        key = (channel_health.c.channel == channel) & (channel_health.c.target == target)
        with self._db.transaction() as conn:
            row = conn.execute(select(channel_health).where(key)).first()
            if row is None:
                return None
            conn.execute(delete(channel_health).where(key))
        return _failing(row)

    def failing(self) -> list[Failing]:
        with self._db.transaction() as conn:
            rows = conn.execute(select(channel_health).order_by(channel_health.c.channel)).all()
        return [_failing(row) for row in rows]

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
            alerts.c.cluster_id,
            stories.c.title,
            stories.c.link,
            stories.c.feed,
            stories.c.published_at,
        )
        .join(alerts, alerts.c.id == deliveries.c.alert_id)
        .join(stories, stories.c.id == alerts.c.story_id)
    )


def _deliveries(conn: Connection, rows: Sequence[Any]) -> list[Delivery]:
    """Rows to deliveries, each message with the other outlets of its story's cluster."""
    outlets = outlets_by_cluster(conn, {row.cluster_id for row in rows})
    return [
        _delivery(row, tuple(f for f in outlets.get(row.cluster_id, ()) if f != row.feed))
        for row in rows
    ]


def _delivery(row: Any, also_in: tuple[str, ...]) -> Delivery:
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
        next_attempt_at=row.next_attempt_at,
        retry_from=row.retry_from,
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
            also_in=also_in,
        ),
    )


def _failing(row: Any) -> Failing:
    return Failing(
        channel=row.channel,
        target=row.target,
        failing_since=row.failing_since,
        alerted_at=row.alerted_at,
    )
