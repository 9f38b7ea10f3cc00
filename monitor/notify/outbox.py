"""The outbox worker: send pending deliveries through apprise, keep each until it succeeds.

Alerts and their deliveries are written with the story, in one transaction (see `monitor.store`).
This worker only reads due deliveries, takes a lease on one, sends it to its single apprise
target, and marks it sent after apprise reports success. A failure is retried with exponential
backoff and jitter until the retry horizon; then the delivery is marked dead and stays visible.

The one window where a message can go out twice: the channel accepted it, and the process died
before `mark_sent` committed. That window is one small UPDATE long.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.notify.render import render
from monitor.notify.send import send
from monitor.store import Delivery, Store

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
FIRST_RETRY = 60.0
MAX_RETRY = 3600.0


def target_key(url: str) -> str:
    """A delivery names its target by a hash: the URL itself may hold a secret."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True, slots=True)
class Channel:
    """A configured channel: its apprise URLs (by target key) and its message format."""

    name: str
    targets: Mapping[str, str]
    format: str = "markdown"


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0


def retry_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempts` (1 = first retry): 1 min, 2, 4 … capped at 1 h."""
    base = min(FIRST_RETRY * 2.0 ** max(attempts - 1, 0), MAX_RETRY)
    return base * (rng or random.Random()).uniform(0.8, 1.2)


async def deliver_due(
    store: Store,
    channels: Mapping[str, Channel],
    *,
    horizon: timedelta,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int = 100,
) -> DeliveryReport:
    """Send every delivery whose time has come, one target at a time, in creation order."""
    sent = failed = dead = 0
    for delivery in store.outbox.due(clock(), limit=limit):
        if not store.outbox.claim(delivery.id, clock(), LEASE):
            continue  # another worker holds it
        ok, error = await _attempt(delivery, channels)
        now = clock()
        if ok:
            store.outbox.mark_sent(delivery.id, now)
            sent += 1
            continue
        retry_at = now + timedelta(seconds=retry_delay(delivery.attempts + 1))
        if retry_at > delivery.created_at + horizon or error.startswith("not configured"):
            store.outbox.mark_failed(delivery.id, error, None)
            log.error("delivery %d to channel %r is dead: %s", delivery.id, delivery.channel, error)
            dead += 1
        else:
            store.outbox.mark_failed(delivery.id, error, retry_at)
            log.warning(
                "delivery %d to channel %r failed (attempt %d), retrying at %s: %s",
                delivery.id,
                delivery.channel,
                delivery.attempts + 1,
                retry_at.isoformat(timespec="seconds"),
                error,
            )
            failed += 1
    return DeliveryReport(sent=sent, failed=failed, dead=dead)


async def _attempt(delivery: Delivery, channels: Mapping[str, Channel]) -> tuple[bool, str]:
    channel = channels.get(delivery.channel)
    if channel is None:
        return False, f"not configured: channel {delivery.channel!r} was removed from the config"
    url = channel.targets.get(delivery.target)
    if url is None:
        return False, f"not configured: this target was removed from channel {channel.name!r}"
    result = await send(url, render(delivery.message, channel.format))
    if result.ok:
        log.info(
            "delivered alert %d to channel %r (%s)",
            delivery.message.alert_id,
            channel.name,
            result.target,
        )
        return True, ""
    return False, f"{result.target}: {result.error or 'apprise reported failure'}"
