"""The polling schedule: one APScheduler interval job per feed, the delivery sweep, and an
hourly housekeeping job that prunes stories past the retention horizon. A config reload
(`reschedule`) changes only the jobs of feeds and digests that changed.

Digest channels add a cron job each: at the digest time it runs the delivery sweep, which sends
the digest (the sweep decides what is due; the cron job only makes it punctual).

APScheduler 3.11 (the stable line) runs in-process on the asyncio loop. Jobs are idempotent
(see `monitor.poll`), so at-least-once execution is all the scheduler has to give.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.models import Feed


def build_scheduler(
    feeds: list[Feed],
    poll: Callable[[Feed], Awaitable[None]],
    sweep: Callable[[], Awaitable[None]],
    sweep_every: float,
    digests: Mapping[str, CronTrigger] | None = None,
    housekeeping: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIOScheduler:
    """A scheduler (not started) that polls each feed at its interval, with jitter.

    The first poll of each feed is spread over its jitter window, so a restart with a thousand
    feeds does not hit every server in the same second.
    """
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime.now(UTC)
    for feed in feeds:
        _add_poll(scheduler, feed, poll, now)
    scheduler.add_job(
        sweep,
        IntervalTrigger(seconds=sweep_every),
        id="deliver",
        name="deliver due alerts",
        next_run_time=now,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    for channel, trigger in (digests or {}).items():
        _add_digest(scheduler, channel, trigger, sweep)
    if housekeeping is not None:
        scheduler.add_job(
            housekeeping,
            IntervalTrigger(hours=1),
            id="housekeeping",
            name="prune old stories",
            next_run_time=now + timedelta(minutes=1),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    return scheduler


def reschedule(
    scheduler: AsyncIOScheduler,
    old: list[Feed],
    new: list[Feed],
    poll: Callable[[Feed], Awaitable[None]],
    sweep: Callable[[], Awaitable[None]],
    sweep_every: float,
    digests: Mapping[str, CronTrigger],
) -> None:
    """Bring a running scheduler in line with a reloaded config: a feed that is gone stops
    being polled, a new or changed one (URL, interval, anything) gets a fresh job, an
    unchanged one keeps its place in the schedule; the delivery sweep takes its (maybe new)
    interval and digest jobs are replaced."""
    now = datetime.now(UTC)
    scheduler.reschedule_job("deliver", trigger=IntervalTrigger(seconds=sweep_every))
    kept = {feed.name: feed for feed in old}
    for feed in new:
        if kept.pop(feed.name, None) != feed:
            _add_poll(scheduler, feed, poll, now)
    for name in kept:
        scheduler.remove_job(f"poll:{name}")
    for job in scheduler.get_jobs():
        if job.id.startswith("digest:"):
            job.remove()
    for channel, trigger in digests.items():
        _add_digest(scheduler, channel, trigger, sweep)


def _add_poll(
    scheduler: AsyncIOScheduler,
    feed: Feed,
    poll: Callable[[Feed], Awaitable[None]],
    now: datetime,
) -> None:
    spread = feed.jitter_seconds
    scheduler.add_job(
        poll,
        IntervalTrigger(seconds=feed.interval_seconds, jitter=spread or None),
        args=[feed],
        id=f"poll:{feed.name}",
        name=f"poll {feed.name}",
        next_run_time=now + timedelta(seconds=random.uniform(0, spread)),
        max_instances=1,  # a slow feed is never polled twice at once
        coalesce=True,  # after a stall, poll once, not once per missed interval
        misfire_grace_time=None,
        replace_existing=True,
    )


def _add_digest(
    scheduler: AsyncIOScheduler,
    channel: str,
    trigger: CronTrigger,
    sweep: Callable[[], Awaitable[None]],
) -> None:
    scheduler.add_job(
        sweep,
        trigger,
        id=f"digest:{channel}",
        name=f"digest for channel {channel}",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
