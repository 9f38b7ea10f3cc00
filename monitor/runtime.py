"""Wiring: turn validated settings into the parts a poll and a delivery need.

`monitor once` and `monitor run` share this, so both behave the same; only the driver differs
(once: poll everything, deliver, exit; run: APScheduler).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from monitor.collector import lasting
from monitor.fetch import make_client
from monitor.match import Engine, compile_engine, query
from monitor.models import Entity, Feed, Watchlist
from monitor.notify.health import HealthPolicy
from monitor.notify.hold import digest, quiet_hours
from monitor.notify.outbox import Channel, DeliveryReport, deliver_due, target_key
from monitor.notify.render import Templates
from monitor.poll import PollContext, PollResult, poll_feed
from monitor.settings import Settings
from monitor.store import PENDING, Store

log = logging.getLogger(__name__)


def build_engine(settings: Settings, store: Store) -> Engine:
    """The engine for the configured watchlists (see `engine_with_store`)."""
    return engine_with_store(settings.watchlist_models(), settings.entity_models(), store)


def engine_with_store(
    watchlists: Sequence[Watchlist], entities: Sequence[Entity], store: Store
) -> Engine:
    """Compile `watchlists`. Parsing queries is most of a cold compile (luqum is pure
    Python: ~30 s for 100,000 queries), so the parses are kept in the store: a restart
    parses only the queries it has not seen before, and saves them.

    Loading the saved parses makes millions of small objects (JSON data, then trees), built
    out of the garbage collector's way (`lasting`) like the engine: its rescans were 70 %
    of loading, and the collection before compiling would walk the trees (0.6 s at
    100,000)."""
    texts = list(dict.fromkeys(w.query for w in watchlists if w.query))
    with lasting(len(texts)):  # trees for as long as the process (`query`'s cache)
        saved = store.queries.load(texts, query.FORMAT)
        unreadable = query.prime(saved)
        found = saved.keys() - set(unreadable)  # an unreadable row is saved again, readable
        fresh_texts = [text for text in texts if text not in found]
        del saved, found  # not to be kept (or frozen) with the trees
    if unreadable:
        log.warning("%d saved query parses could not be read: parsing them again", len(unreadable))
    engine = compile_engine(watchlists, entities)
    fresh = query.parsed(fresh_texts)
    if fresh:
        store.queries.save(fresh, query.FORMAT)
    if query.crowded(store.queries.count(), len(texts)):
        pruned = store.queries.prune(texts)
        log.info("deleted %d saved parses of queries no longer configured", pruned)
    return engine


def build_channels(settings: Settings) -> dict[str, Channel]:
    channels = {}
    for name, channel in settings.channels.items():
        tz = channel.timezone or settings.notify.timezone
        channels[name] = Channel(
            name=name,
            targets={target_key(url): url for url in channel.urls},
            format=channel.format,
            min_interval=channel.min_interval or 0.0,
            digest=digest(channel.digest, tz) if channel.digest else None,
            quiet=quiet_hours(channel.quiet_hours, tz) if channel.quiet_hours else None,
            burst=channel.burst,
            templates=Templates(alert=channel.template, batch=channel.digest_template),
        )
    return channels


def build_routes(
    settings: Settings, channels: dict[str, Channel]
) -> dict[str, tuple[tuple[str, str], ...]]:
    """watchlist -> every (channel, target) its alerts go to: one delivery per target.

    A watchlist that names no channel goes to `notify.default_channel`, if there is one.
    """
    default = settings.notify.default_channel
    routes = {}
    for watchlist in settings.watchlists:
        names = list(watchlist.notify) or ([default] if default else [])
        routes[watchlist.name] = tuple(
            (name, key) for name in names for key in channels[name].targets
        )
    return routes


@dataclass(kw_only=True)
class Runtime:
    """The long-lived parts built from one config: store, compiled engine, channels, routes."""

    settings: Settings
    store: Store
    engine: Engine
    channels: dict[str, Channel]
    routes: dict[str, tuple[tuple[str, str], ...]]
    feeds: list[Feed] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        store = Store.open(settings.storage.url)
        store.stories.window = timedelta(seconds=settings.dedupe.window)
        channels = build_channels(settings)
        return cls(
            settings=settings,
            store=store,
            engine=build_engine(settings, store),
            channels=channels,
            routes=build_routes(settings, channels),
            feeds=settings.feed_models(),
        )

    def reloaded(self, settings: Settings) -> Runtime:
        """A runtime for a changed config on the same store: watchlists and entities
        recompiled, channels, routes and feeds rebuilt. Raises `ConfigError` (a query that
        does not parse, say) before anything changes. `storage.url` and `fetch.timeout`
        (the HTTP client's) take a restart."""
        if settings.storage.url != self.settings.storage.url:
            log.warning("storage.url changed: restart the daemon to use the new store")
        if settings.fetch.timeout != self.settings.fetch.timeout:
            log.warning("fetch.timeout changed: restart the daemon to apply it")
        channels = build_channels(settings)
        fresh = Runtime(
            settings=settings,
            store=self.store,
            engine=build_engine(settings, self.store),
            channels=channels,
            routes=build_routes(settings, channels),
            feeds=settings.feed_models(),
        )
        self.store.stories.window = timedelta(seconds=settings.dedupe.window)
        return fresh

    def client(self) -> httpx.AsyncClient:
        return make_client(timeout=self.settings.fetch.timeout)

    def poll_context(self, client: httpx.AsyncClient) -> PollContext:
        return PollContext(
            client=client,
            store=self.store,
            engine=self.engine,
            routes=self.routes,
            max_bytes=self.settings.fetch.max_bytes,
        )

    async def deliver(self) -> DeliveryReport:
        notify = self.settings.notify
        return await deliver_due(
            self.store,
            self.channels,
            horizon=timedelta(seconds=notify.retry_horizon),
            send_timeout=notify.send_timeout,
            health=HealthPolicy(
                failing_after=timedelta(seconds=notify.failing_after),
                alert_channel=notify.alert_channel,
            ),
        )

    def load_index(self) -> None:
        """Load the near-duplicate index before the first poll, which would stall on it."""
        started = time.perf_counter()
        index = self.store.stories.load_index(datetime.now(UTC))
        log.info(
            "near-duplicate index: %d band hashes and event keys (%.0f MB), loaded in %.1f s",
            len(index),
            index.nbytes / 1e6,
            time.perf_counter() - started,
        )

    def prune(self) -> int:
        """Forget stories older than `dedupe.retention` (their keys stay as tombstones)."""
        horizon = timedelta(seconds=self.settings.dedupe.retention)
        return self.store.stories.prune(datetime.now(UTC), horizon)

    def pending(self) -> int:
        return self.store.outbox.counts().get(PENDING, 0)

    def close(self) -> None:
        self.store.close()


@dataclass(frozen=True, kw_only=True, slots=True)
class OnceReport:
    polls: Sequence[PollResult]
    delivery: DeliveryReport
    pending: int

    @property
    def failed_feeds(self) -> list[PollResult]:
        return [poll for poll in self.polls if poll.error]


async def run_once(runtime: Runtime) -> OnceReport:
    """Poll every feed once (a few at a time), then send every delivery that is due."""
    limit = asyncio.Semaphore(runtime.settings.fetch.concurrency)

    async def bounded(feed: Feed, ctx: PollContext) -> PollResult:
        async with limit:
            return await poll_feed(feed, ctx)

    async with runtime.client() as client:
        ctx = runtime.poll_context(client)
        polls = await asyncio.gather(*(bounded(feed, ctx) for feed in runtime.feeds))
    delivery = await runtime.deliver()
    runtime.prune()
    return OnceReport(polls=polls, delivery=delivery, pending=runtime.pending())
