"""Channel health: one "delivery is failing" error per outage, not one per attempt.

A target that keeps failing for longer than `failing_after` raises one ERROR log line (and, if
`alert_channel` is set, one message on that channel). When it works again, one WARNING says it
recovered. The outage start lives in the store, so restarts and several workers agree.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.notify.render import Rendered
from monitor.notify.send import send
from monitor.store import Delivery, Store

if TYPE_CHECKING:
    from monitor.notify.outbox import Channel

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthPolicy:
    failing_after: timedelta = timedelta(minutes=15)
    alert_channel: str | None = None
    """A channel told (directly, not through the outbox) when another one starts failing."""


async def note_failure(
    store: Store,
    channels: Mapping[str, Channel],
    policy: HealthPolicy,
    delivery: Delivery,
    target: str,
    error: str,
    now: datetime,
) -> None:
    outage = store.outbox.note_failure(delivery.channel, delivery.target, now)
    if now - outage.failing_since < policy.failing_after:
        return
    if not store.outbox.mark_alerted(delivery.channel, delivery.target, now):
        return  # raised already for this outage
    since = outage.failing_since.isoformat(timespec="seconds")
    log.error(
        "delivery is failing: channel %r (%s) has failed since %s; alerts are kept and retried: %s",
        delivery.channel,
        target,
        since,
        error,
    )
    alert = channels.get(policy.alert_channel or "")
    if alert is None or alert.name == delivery.channel:
        return
    notice = Rendered(
        title=f"[media-monitor] delivery is failing: channel {delivery.channel}",
        body=(
            f"Delivery to channel {delivery.channel} ({target}) has failed since {since}.\n"
            f"Last error: {error}\n"
            "Alerts are kept and retried; `monitor deliveries` lists them."
        ),
        body_format="text",
    )
    for url in alert.targets.values():
        result = await send(url, notice)
        if not result.ok:
            log.error("could not tell channel %r: %s", alert.name, result.error)


def note_success(store: Store, channel: str, target_key: str, target: str) -> None:
    outage = store.outbox.note_success(channel, target_key)
    if outage is not None and outage.alerted_at is not None:
        log.warning(
            "delivery recovered: channel %r (%s) works again (failing since %s)",
            channel,
            target,
            outage.failing_since.isoformat(timespec="seconds"),
        )
