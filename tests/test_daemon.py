"""`monitor run` as a real process: it polls on schedule, alerts once, stops cleanly on SIGTERM,
and a restarted daemon on the same store repeats nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
    assert "Traceback" not in log.read_text(encoding="utf-8")
