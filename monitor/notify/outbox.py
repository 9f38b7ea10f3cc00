"""The outbox worker: send pending deliveries through apprise, keep each until it succeeds.

Alerts and their deliveries are written with the story, in one transaction (see `monitor.store`).
This worker only reads due deliveries, takes a lease on one, sends it to its single apprise
target, and marks it sent after apprise reports success. A failure is retried with exponential
backoff and jitter until the retry horizon; then the delivery is marked dead and stays visible.

Order: a target gets its deliveries in creation order. When one fails, the later ones to the same
target wait behind it (the store's `due` enforces that across sweeps and processes).

Rate limits: apprise's plugins do not expose response headers, so a `Retry-After` header cannot
be read. A failure that apprise reports as HTTP 429 ("Too Many Requests") is retried no sooner
than `RATE_LIMIT_DELAY` (or the backoff, if that is longer), and the target gets nothing more in
this sweep.

The one window where a message can go out twice: the channel accepted it, and the process died
before `mark_sent` committed. That window is one small UPDATE long. (A send that apprise gives up
on after `send_timeout` but that the server still accepts later is the same case.)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from monitor.models import AlertMessage
from monitor.notify.health import HealthPolicy, note_failure, note_success
from monitor.notify.hold import Digest, QuietHours
from monitor.notify.render import DEFAULT_TEMPLATES, Batch, Templates, render
from monitor.notify.send import DEFAULT_TIMEOUT, send
from monitor.store import Delivery, Store

log = logging.getLogger(__name__)

FIRST_RETRY = 60.0
MAX_RETRY = 3600.0
RATE_LIMIT_DELAY = 60.0
_RATE_LIMITED = re.compile(r"\b429\b|too many (consecutive )?requests|rate.?limit", re.IGNORECASE)
_MAX_BATCHES = 1000
DEFAULT_BURST = 10
MAX_INLINE_WAIT = 5.0
"""A rate-limit wait up to this long is waited out in the sweep; a longer one is deferred."""


def target_key(url: str) -> str:
    """A delivery names its target by a hash: the URL itself may hold a secret."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True, slots=True)
class Channel:
    """A configured channel: its apprise URLs (by target key), format, pacing and templates."""

    name: str
    targets: Mapping[str, str]
    format: str = "markdown"
    min_interval: float = 0.0
    """Seconds between two messages to one target of this channel (0: no limit)."""
    digest: Digest | None = None
    quiet: QuietHours | None = None
    burst: int = DEFAULT_BURST
    """More due deliveries than this for one target in one sweep go as one message."""
    templates: Templates = DEFAULT_TEMPLATES


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    held: int = 0
    """Deliveries held back for a digest or quiet hours in this sweep."""

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            sent=self.sent + other.sent,
            failed=self.failed + other.failed,
            dead=self.dead + other.dead,
            held=self.held + other.held,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class _Unit:
    """What one message carries: one delivery, or a batch (`heading` set) of them."""

    deliveries: list[Delivery]
    heading: str | None = None


def retry_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempts` (1 = first retry): 1 min, 2, 4 … capped at 1 h."""
    base = min(FIRST_RETRY * 2.0 ** max(attempts - 1, 0), MAX_RETRY)
    return base * (rng or random.Random()).uniform(0.8, 1.2)


def is_rate_limited(error: str) -> bool:
    """Whether apprise's failure reason says the service refused for rate (HTTP 429)."""
    return bool(_RATE_LIMITED.search(error))


async def deliver_due(
    store: Store,
    channels: Mapping[str, Channel],
    *,
    horizon: timedelta,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int = 100,
    send_timeout: float = DEFAULT_TIMEOUT,
    health: HealthPolicy | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DeliveryReport:
    """Send every delivery whose time has come, one target at a time, in creation order.

    A digest channel's deliveries are held until their digest time, then go as one message;
    during quiet hours everything is held until the window ends, and what was held goes as one
    message. More than `burst` due deliveries to one target go as one message too. A message
    that covers several deliveries marks them all sent together, after apprise's success.

    A channel's `min_interval` spaces messages to each of its targets: a short wait is waited
    out (`sleep`), a longer one defers the delivery to its time; nothing is dropped.
    The lease on a delivery is twice `send_timeout`: a worker that dies mid-send holds its
    delivery (and the target's later ones) that long before another worker may retry it.
    """
    worker = _Worker(
        store=store,
        channels=channels,
        horizon=horizon,
        clock=clock,
        lease=timedelta(seconds=2 * send_timeout),
        send_timeout=send_timeout,
        health=health or HealthPolicy(),
        rng=rng,
        sleep=sleep,
    )
    report = DeliveryReport()
    for _ in range(_MAX_BATCHES):
        batch = store.outbox.due(clock(), limit=limit)
        if not batch:
            break
        groups: dict[tuple[str, str], list[Delivery]] = {}
        for delivery in batch:
            groups.setdefault((delivery.channel, delivery.target), []).append(delivery)
        for (name, _target), group in groups.items():
            channel = channels.get(name)
            units, held = _plan(store, channel, group, clock())
            report += DeliveryReport(held=held)
            for unit in units:
                outcome = await worker.deliver(channel, unit)
                report += outcome
                if outcome.sent == 0:
                    break  # failed, deferred or held by another worker: keep the order
        if len(batch) < limit:
            break
    return report


def _plan(
    store: Store, channel: Channel | None, group: list[Delivery], now: datetime
) -> tuple[list[_Unit], int]:
    """Split one target's due deliveries into messages; hold (defer) what may not go yet."""
    if channel is None:
        return [_Unit(deliveries=[d]) for d in group], 0
    if channel.quiet is not None and channel.quiet.contains(now):
        until = channel.quiet.ends_after(now)
        for delivery in group:
            store.outbox.defer(delivery.id, until)
        return [], len(group)
    if channel.digest is not None:
        released = []
        for delivery in group:
            release = channel.digest.release(delivery.created_at)
            if release <= now:
                released.append(delivery)
            else:
                store.outbox.defer(delivery.id, release)
        units = [_Unit(deliveries=released, heading=channel.digest.heading)] if released else []
        return units, len(group) - len(released)
    if len(group) > channel.burst:
        return [_Unit(deliveries=group, heading=f"{len(group)} new alerts")], 0
    units = []
    if channel.quiet is not None:
        quiet = channel.quiet
        held = [d for d in group if quiet.contains(d.created_at)]
        if len(held) > 1:
            units.append(_Unit(deliveries=held, heading="Held during quiet hours"))
            group = [d for d in group if d not in held]
    return units + [_Unit(deliveries=[d]) for d in group], 0


@dataclass(kw_only=True)
class _Worker:
    store: Store
    channels: Mapping[str, Channel]
    horizon: timedelta
    clock: Callable[[], datetime]
    lease: timedelta
    send_timeout: float
    health: HealthPolicy
    rng: random.Random | None
    sleep: Callable[[float], Awaitable[None]]

    async def deliver(self, channel: Channel | None, unit: _Unit) -> DeliveryReport:
        """Claim, send and record one message; a report of what became of its deliveries."""
        store = self.store
        claimed = []
        for delivery in unit.deliveries:
            if not store.outbox.claim(delivery.id, self.clock(), self.lease):
                break  # another worker holds it (and so the rest of this target's order)
            claimed.append(delivery)
        if not claimed:
            return DeliveryReport()
        first = claimed[0]
        wait = _rate_wait(store, channel, first, self.clock())
        if wait > MAX_INLINE_WAIT:
            for delivery in claimed:
                store.outbox.defer(delivery.id, self.clock() + timedelta(seconds=wait))
            return DeliveryReport()
        if wait > 0:
            await self.sleep(wait)
        ok, error, target, unfixable = await _attempt(
            claimed, unit.heading, channel, self.send_timeout
        )
        now = self.clock()
        if ok:
            store.outbox.mark_sent_many([d.id for d in claimed], now)
            note_success(store, first.channel, first.target, target)
            return DeliveryReport(sent=len(claimed))
        failed = dead = 0
        delay = retry_delay(max(d.attempts for d in claimed) + 1, self.rng)
        if is_rate_limited(error):
            delay = max(delay, RATE_LIMIT_DELAY)
        retry_at = now + timedelta(seconds=delay)
        for delivery in claimed:
            if unfixable or retry_at > delivery.horizon_start + self.horizon:
                store.outbox.mark_failed(delivery.id, error, None)
                log.error(
                    "delivery %d to channel %r is dead: %s", delivery.id, delivery.channel, error
                )
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
        if not unfixable:
            await note_failure(store, self.channels, self.health, first, target, error, now)
        return DeliveryReport(failed=failed, dead=dead)


def _rate_wait(store: Store, channel: Channel | None, delivery: Delivery, now: datetime) -> float:
    """Seconds to wait before this delivery may go out under its channel's `min_interval`."""
    if channel is None or channel.min_interval <= 0:
        return 0.0
    last = store.outbox.last_sent(delivery.channel, delivery.target)
    if last is None:
        return 0.0
    return max((last + timedelta(seconds=channel.min_interval) - now).total_seconds(), 0.0)


class _Outcome(NamedTuple):
    ok: bool
    error: str
    """Masked: safe to log and store."""
    target: str
    """apprise's masked URL."""
    unfixable: bool = False
    """No retry can help (the channel or target left the config): the delivery is dead now."""


async def _attempt(
    deliveries: list[Delivery], heading: str | None, channel: Channel | None, timeout: float
) -> _Outcome:
    """One attempt at one message (a single alert, or a batch of them) to one target."""
    first = deliveries[0]
    if channel is None:
        why = f"not configured: channel {first.channel!r} was removed from the config"
        return _Outcome(False, why, "", unfixable=True)
    url = channel.targets.get(first.target)
    if url is None:
        why = f"not configured: this target was removed from channel {channel.name!r}"
        return _Outcome(False, why, "", unfixable=True)
    item: AlertMessage | Batch = first.message
    if heading is not None:
        item = Batch(heading=heading, messages=tuple(d.message for d in deliveries))
    result = await send(url, render(item, channel.format, channel.templates), timeout=timeout)
    if result.ok:
        alerts = ", ".join(str(d.message.alert_id) for d in deliveries)
        noun = "alert" if len(deliveries) == 1 else f"{heading or 'batch'}: alerts"
        log.info("delivered %s %s to channel %r (%s)", noun, alerts, channel.name, result.target)
        return _Outcome(True, "", result.target)
    error = f"{result.target}: {result.error or 'apprise reported failure'}"
    return _Outcome(False, error, result.target)
