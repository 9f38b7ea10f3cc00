"""`monitor run` as a real process: it polls on schedule, alerts once, stops cleanly on SIGTERM,
and a restarted daemon on the same store repeats nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import ROOT
from servers.feeds import FeedServer, rss
from servers.webhook import WebhookServer
from test_end_to_end import write_config

pytestmark = pytest.mark.slow


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def stop_daemon(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def wait_until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_daemon_polls_alerts_once_and_stops_cleanly(
    tmp_path: Path, feed_server: FeedServer, webhook_server: WebhookServer
) -> None:
    items = [{"title": "Musk kauft Twitter", "link": "https://example.org/1", "guid": "1"}]
    feed_server.set("/a.xml", rss(items))
    config = write_config(
        tmp_path,
        feeds={"a": feed_server.url("/a.xml")},
        channels={"hook": [webhook_server.url("/hook")]},
        watchlists={"musk": (["#Elon Musk"], ["hook"])},
        extra='[notify]\ncheck_every = "1s"\n',
        interval="1s",
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        webhook_server.wait_for(1, timeout=30)
        # It keeps polling (304s now) and sends nothing more.
        polls = feed_server.hits("/a.xml")
        wait_until(lambda: feed_server.hits("/a.xml") >= polls + 2)
        assert len(webhook_server.requests) == 1
        # A new matching item: exactly one more alert, from the running daemon.
        items.append(
            {"title": "Tesla-Chef in Grünheide", "link": "https://example.org/2", "guid": "2"}
        )
        feed_server.set("/a.xml", rss(items))
        webhook_server.wait_for(2, timeout=30)
    finally:
        code = stop_daemon(daemon)
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    assert "stopped" in text

    # A restarted daemon on the same store: it polls again but repeats nothing.
    feed_server.set("/a.xml", rss(items), etag=False, last_modified=False)
    polls = feed_server.hits("/a.xml")
    daemon = start_daemon(config, log)
    try:
        wait_until(lambda: feed_server.hits("/a.xml") >= polls + 2)
    finally:
        assert stop_daemon(daemon) == 0
    assert len(webhook_server.requests) == 2
    text = log.read_text(encoding="utf-8")
    assert "Traceback" not in text
    # Each start loaded the near-duplicate index: empty, then with the stored stories'.
    loads = re.findall(r"near-duplicate index: (\d+) band hashes", text)
    assert len(loads) == 2 and loads[0] == "0" and int(loads[1]) > 0, loads


def test_sighup_reloads_the_config_and_a_bad_config_changes_nothing(
    tmp_path: Path, feed_server: FeedServer, webhook_server: WebhookServer
) -> None:
    items = [{"title": "Starlink startet", "link": "https://example.org/1", "guid": "1"}]
    feed_server.set("/a.xml", rss(items))
    feed_server.set("/b.xml", rss([]))
    common = {"extra": '[notify]\ncheck_every = "1s"\n', "interval": "1s"}
    hook: dict[str, Sequence[str]] = {"hook": [webhook_server.url("/hook")]}
    config = write_config(
        tmp_path,
        feeds={"a": feed_server.url("/a.xml")},
        channels=hook,
        watchlists={"starlink": (["Starlink"], ["hook"])},
        **common,
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        assert "starlink" in str(webhook_server.wait_for(1, timeout=30)[0].json)
        # A new watchlist (a query: compiled, and its parse saved in the store, from the
        # reload's thread) and a new feed; the old watchlist is gone.
        query = '[[watchlists]]\nname = "tesla"\nquery = "Tesla AND NOT Kreml"\nnotify = ["hook"]\n'
        write_config(
            tmp_path,
            feeds={"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml")},
            channels=hook,
            watchlists={},
            extra=common["extra"] + query,
            interval=common["interval"],
        )
        daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: "config reloaded: 2 feeds" in log.read_text(encoding="utf-8"))
        wait_until(lambda: feed_server.hits("/b.xml") >= 1)
        items.append({"title": "Tesla und Starlink", "link": "https://example.org/2", "guid": "2"})
        feed_server.set("/a.xml", rss(items))
        second = webhook_server.wait_for(2, timeout=30)[1].json
        assert "tesla" in str(second) and "starlink" not in str(second).replace("Starlink", "")

        # A query that does not parse: the error names it, the running config stays.
        config.write_text(
            config.read_text(encoding="utf-8")
            + '\n[[watchlists]]\nname = "broken"\nquery = "(Tesla AND"\n',
            encoding="utf-8",
        )
        daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: "config reload failed" in log.read_text(encoding="utf-8"))
        items.append({"title": "Tesla wieder", "link": "https://example.org/3", "guid": "3"})
        feed_server.set("/a.xml", rss(items))
        assert "tesla" in str(webhook_server.wait_for(3, timeout=30)[2].json)
        assert daemon.poll() is None  # still running
    finally:
        code = stop_daemon(daemon)
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    failure = next(line for line in text.splitlines() if "config reload failed" in line)
    assert "broken" in failure, failure
    assert "Traceback" not in text
    assert len(webhook_server.requests) == 3
