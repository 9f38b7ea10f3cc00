"""`monitor deliveries`: what is waiting to be delivered, what failed and why, and requeueing.

    monitor deliveries                 pending, failing and dead deliveries, with their reasons
    monitor deliveries retry ID...     requeue these deliveries now (fresh retry horizon)
    monitor deliveries retry --dead    requeue every dead delivery

Reasons are stored already masked (apprise's privacy URL, secrets replaced); they pass the
log's secret filter once more before they are printed.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from monitor.log import mask_secrets
from monitor.settings import Settings
from monitor.store import DEAD, PENDING, Delivery, Store


def add_parser(sub: Any, common: argparse.ArgumentParser, handler: Any) -> None:
    """Register `deliveries` (and `deliveries retry`) on the CLI's subparsers."""
    deliveries = sub.add_parser(
        "deliveries", parents=[common], help="list pending, failing and dead deliveries"
    )
    deliveries.set_defaults(handler=handler, retry=False)
    inner = deliveries.add_subparsers(metavar="ACTION")
    retry = inner.add_parser("retry", parents=[common], help="requeue deliveries now")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="delivery ids")
    retry.add_argument("--dead", action="store_true", help="requeue every dead delivery")
    retry.set_defaults(handler=handler, retry=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List or requeue; returns the exit code (2 when `retry` is given nothing to do)."""
    store = Store.open(settings.storage.url)
    try:
        if args.retry:
            if not args.ids and not args.dead:
                print("deliveries retry: give delivery IDs or --dead")
                return 2
            count = store.outbox.requeue(datetime.now(UTC), ids=args.ids, dead=args.dead)
            print(f"requeued {count} deliveries; the next `monitor once` or sweep sends them")
            return 0
        for line in listing(store):
            print(line)
        return 0
    finally:
        store.close()


def listing(store: Store) -> list[str]:
    rows = store.outbox.by_status([PENDING, DEAD])
    counts = store.outbox.counts()
    lines = [
        f"deliveries: {counts.get(PENDING, 0)} pending, {counts.get(DEAD, 0)} dead, "
        f"{counts.get('sent', 0)} sent"
    ]
    for outage in store.outbox.failing():
        lines.append(
            f"channel {outage.channel!r} failing since "
            f"{outage.failing_since.isoformat(timespec='seconds')}"
        )
    lines += [_line(delivery) for delivery in rows]
    return lines


def _status(delivery: Delivery) -> str:
    if delivery.status == PENDING and delivery.attempts:
        return "failing"
    return delivery.status


def _line(delivery: Delivery) -> str:
    parts = [
        f"#{delivery.id}",
        _status(delivery),
        f"channel={delivery.channel}",
        f"attempts={delivery.attempts}",
        f"created={delivery.created_at.isoformat(timespec='seconds')}",
    ]
    if delivery.status == PENDING and delivery.next_attempt_at is not None:
        parts.append(f"next={delivery.next_attempt_at.isoformat(timespec='seconds')}")
    parts.append(f"[{delivery.message.watchlist}] {delivery.message.title[:80]!r}")
    if delivery.last_error:
        parts.append(f"reason: {mask_secrets(delivery.last_error)}")
    return "  ".join(parts)
