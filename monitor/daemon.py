"""`monitor run`: the long-running daemon.

SIGTERM and SIGINT stop it cleanly: no new job starts, jobs in flight get a grace period to
finish, and whatever is cut short is left to be redone (each story is one transaction; a
delivery is marked sent only after apprise said so).

SIGHUP reloads the config file: watchlists and entities are recompiled (in a thread, so polls
and deliveries go on meanwhile), channels, routes and feeds rebuilt, and the running jobs
switch to the new config between two polls. A config that does not load or compile is
logged with what is wrong and where, and the running config stays.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec

from apscheduler.triggers.cron import CronTrigger

from monitor.errors import ConfigError
from monitor.models import Feed
from monitor.poll import poll_feed
from monitor.runtime import Runtime
from monitor.scheduler import build_scheduler, reschedule
from monitor.settings import Settings

log = logging.getLogger(__name__)

GRACE_SECONDS = 30.0
P = ParamSpec("P")


class _InFlight:
    """The jobs running right now, so that a stop can wait for them."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[object]] = set()

    def guard(
        self, name: str, job: Callable[P, Awaitable[None]]
    ) -> Callable[P, Coroutine[Any, Any, None]]:
        """Wrap a job: record it while it runs; a bug in one job never kills the daemon."""

        async def run(*args: P.args, **kwargs: P.kwargs) -> None:
            task = asyncio.current_task()
            if task is not None:
                self.tasks.add(task)
            try:
                await job(*args, **kwargs)
            except Exception:
                log.exception("%s crashed", name)
            finally:
                if task is not None:
                    self.tasks.discard(task)

        return run


async def run_daemon(
    runtime: Runtime,
    stop: asyncio.Event | None = None,
    reload: Callable[[], Settings] | None = None,
) -> None:
    """Poll and deliver until `stop` is set (or SIGTERM/SIGINT arrives). With `reload` (which
    reads the config again), SIGHUP switches to the config it returns."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = [signal.SIGTERM, signal.SIGINT]
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    inflight = _InFlight()
    deliver_lock = asyncio.Lock()
    reloading = asyncio.Lock()

    async def deliver() -> None:
        async with deliver_lock:  # one sweep at a time keeps deliveries in order
            report = await runtime.deliver()
        if report.sent or report.failed or report.dead:
            log.info(
                "deliveries: %d sent, %d to retry, %d dead", report.sent, report.failed, report.dead
            )

    runtime.load_index()
    async with runtime.client() as client:
        ctx = runtime.poll_context(client)

        async def poll(feed: Feed) -> None:
            result = await poll_feed(feed, ctx)
            if result.alerts and not stop.is_set():
                await deliver()  # new alerts go out now, not at the next sweep

        async def housekeeping() -> None:
            pruned = runtime.prune()
            if pruned:
                log.info("pruned %d stories older than the retention horizon", pruned)

        guarded_poll = inflight.guard("poll", poll)
        guarded_sweep = inflight.guard("delivery sweep", deliver)
        scheduler = build_scheduler(
            runtime.feeds,
            poll=guarded_poll,
            sweep=guarded_sweep,
            sweep_every=runtime.settings.notify.check_every,
            digests=_digests(runtime),
            housekeeping=inflight.guard("housekeeping", housekeeping),
        )

        async def apply_reload() -> None:
            nonlocal runtime, ctx
            assert reload is not None
            if reloading.locked():
                log.info("a config reload is already running")
                return
            async with reloading:
                log.info("reloading the config")
                current = runtime
                try:
                    fresh = await asyncio.to_thread(lambda: current.reloaded(reload()))
                except ConfigError as error:
                    log.error("config reload failed, the running config stays: %s", error)
                    return
                runtime, ctx = fresh, fresh.poll_context(client)
                reschedule(
                    scheduler,
                    current.feeds,
                    fresh.feeds,
                    guarded_poll,
                    guarded_sweep,
                    fresh.settings.notify.check_every,
                    _digests(fresh),
                )
                log.info(
                    "config reloaded: %d feeds, %d watchlists, %d channels",
                    len(fresh.feeds),
                    len(fresh.settings.watchlists),
                    len(fresh.channels),
                )

        if reload is not None:
            signals.append(signal.SIGHUP)
            loop.add_signal_handler(
                signal.SIGHUP,
                lambda: loop.create_task(inflight.guard("config reload", apply_reload)()),
            )
        scheduler.start()
        log.info(
            "monitor running: %d feeds, %d watchlists, %d channels, store %s",
            len(runtime.feeds),
            len(runtime.settings.watchlists),
            len(runtime.channels),
            runtime.store.engine.url.render_as_string(hide_password=True),
        )
        await stop.wait()
        # Pause first: shutting the scheduler down would cancel the jobs still running.
        scheduler.pause()
        if inflight.tasks:
            log.info(
                "stopping: waiting up to %.0fs for %d job(s)", GRACE_SECONDS, len(inflight.tasks)
            )
            await asyncio.wait(set(inflight.tasks), timeout=GRACE_SECONDS)
        scheduler.shutdown(wait=False)  # cancels whatever outlived the grace period
    for signum in signals:
        loop.remove_signal_handler(signum)
    log.info("stopped")


def _digests(runtime: Runtime) -> dict[str, CronTrigger]:
    return {
        name: channel.digest.trigger
        for name, channel in runtime.channels.items()
        if channel.digest is not None
    }
