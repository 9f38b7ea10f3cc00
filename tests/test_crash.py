"""Crash tests: `kill -9` a real `monitor run` at random moments, restart it, count every mail.

Against the real feed HTTP server and a real SMTP server, with a real SQLite store. Between runs
the feeds grow, so kills land mid-poll, mid-match, mid-store and mid-send. After a last clean run
every alert must have arrived exactly once, in alert order. The only duplicate the design
allows (the SMTP server accepted a message and the process died before the store recorded it)
is counted separately and must lie within a moment before a kill.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from test_daemon import start_daemon, stop_daemon

from monitor.store.schema import alerts, stories

from servers.feeds import FeedServer, rss
from servers.smtp import SMTPServer
from test_end_to_end import write_config

pytestmark = pytest.mark.slow

RUNS = 8
ITEMS_PER_RUN = 3
WINDOW = 0.5  # seconds: how close before a kill a duplicated message's first copy must be


class TimedSMTPServer(SMTPServer):
    """Records when each message was accepted (monotonic clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted_at: list[float] = []

    def _receive(self, envelope: Any) -> str:
        reply = super()._receive(envelope)
        if reply.startswith("250"):
            self.accepted_at.append(time.monotonic())
        return reply


def _items(feed: str, count: int) -> list[dict[str, object]]:
    return [
        {
            "title": f"Musk {feed} {n}",
            "link": f"https://example.org/{feed}/{n}",
            "guid": f"{feed}-{n}",
            "description": f"Elon Musk, item {n} of {feed}.",
        }
        for n in range(count)
    ]


def test_kill_9_at_random_points_loses_and_repeats_nothing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    smtp = TimedSMTPServer()
    smtp.start()
    feeds = ("a", "b")
    config = write_config(
        tmp_path,
        feeds={name: feed_server.url(f"/{name}.xml") for name in feeds},
        channels={"mail": [smtp.url()]},
        watchlists={"musk": (["Musk"], ["mail"])},
        extra='[notify]\ncheck_every = "1s"\nsend_timeout = "2s"\n',
        interval="1s",
        # One mail per alert, so that every alert can be counted (bursts: tests/test_batches.py).
        channel_options="burst = 1000\n",
    )
    log = tmp_path / "daemon.log"
    kills: list[float] = []
    try:
        for run in range(RUNS):
            for name in feeds:
                feed_server.set(f"/{name}.xml", rss(_items(name, ITEMS_PER_RUN * (run + 1))))
            daemon = start_daemon(config, log)
            time.sleep(rng.uniform(0.3, 2.5))  # the random point of the crash
            kills.append(time.monotonic())
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)
        # A last run that is allowed to finish.
        expected = len(feeds) * ITEMS_PER_RUN * RUNS
        daemon = start_daemon(config, log)
        try:
            smtp.wait_for(expected, timeout=40)
            time.sleep(1.5)  # a sweep or two more: nothing else may arrive
        finally:
            assert stop_daemon(daemon) == 0
    finally:
        smtp.stop()

    subjects = [m.subject.removeprefix("[musk] ") for m in smtp.messages]
    counts = Counter(subjects)
    wanted = {f"Musk {name} {n}" for name in feeds for n in range(ITEMS_PER_RUN * RUNS)}
    lost = wanted - set(counts)
    assert not lost, f"lost {len(lost)}: {sorted(lost)}"
    assert set(counts) == wanted
    duplicated = {subject: count for subject, count in counts.items() if count > 1}
    for subject in duplicated:  # only the documented window: accepted just before a kill
        first = smtp.accepted_at[subjects.index(subject)]
        assert any(0 <= kill - first <= WINDOW for kill in kills), (
            f"{subject!r} sent {counts[subject]} times, not within {WINDOW}s before a kill"
        )
    print(f"crash test: {RUNS} kills, {len(subjects)} mails, {len(duplicated)} duplicated")

    # In order: first arrivals follow the order in which the alerts were created.
    engine = create_engine(f"sqlite:///{tmp_path}/data/monitor.db")
    with engine.connect() as conn:
        order = conn.execute(
            select(stories.c.title)
            .join(alerts, alerts.c.story_id == stories.c.id)
            .order_by(alerts.c.id)
        ).scalars()
        assert list(dict.fromkeys(subjects)) == list(order)
    engine.dispose()
