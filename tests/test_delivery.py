"""The outbox worker against real servers: retries, order, rate limits, dead deliveries,
and the one "delivery is failing" error. Time is driven by a clock, never by sleeping."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.dedupe import identify
from monitor.models import Story
from monitor.notify.health import HealthPolicy
from monitor.notify.outbox import Channel, deliver_due, is_rate_limited, target_key
from monitor.store import DEAD, PENDING, SENT, NewAlert, Store

from servers.feeds import FeedServer, rss
from servers.smtp import SMTPServer
from servers.webhook import WebhookServer
from test_end_to_end import write_config

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HORIZON = timedelta(hours=24)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def channel(name: str, *urls: str, fmt: str = "text") -> Channel:
    return Channel(name=name, targets={target_key(url): url for url in urls}, format=fmt)


def add_alerts(store: Store, chan: Channel, count: int, clock: Clock, start: int = 0) -> None:
    for n in range(start, start + count):
        story = Story(feed="f", title=f"Story {n}", link=f"https://example.org/{n}", guid=f"g{n}")
        alert = NewAlert(
            watchlist="w",
            terms=("Musk",),
            snippet="Musk",
            highlight=None,
            targets=tuple((chan.name, key) for key in chan.targets),
        )
        assert store.stories.ingest(story, identify(story), [alert], clock())


async def test_smtp_down_then_up_every_alert_once_in_order(
    store: Store, smtp_server: SMTPServer
) -> None:
    clock = Clock()
    mail = channel("mail", smtp_server.url())
    channels = {"mail": mail}
    smtp_server.stop()
    rng = random.Random(1)
    # Three polls while the server is down, each adding alerts and sweeping.
    for poll in range(3):
        add_alerts(store, mail, 2, clock, start=2 * poll)
        report = await deliver_due(store, channels, horizon=HORIZON, clock=clock, rng=rng)
        assert report.sent == 0
        assert report.failed <= 1  # the later ones wait behind the first: no hammering
        clock.advance(minutes=1)
    assert store.outbox.counts() == {PENDING: 6}
    smtp_server.start()
    for _ in range(10):  # sweeps, two minutes apart, until everything went out
        clock.advance(minutes=2)
        await deliver_due(store, channels, horizon=HORIZON, clock=clock, rng=rng)
    assert store.outbox.counts() == {SENT: 6}
    subjects = [m.subject for m in smtp_server.wait_for(6)]
    assert subjects == [f"[w] Story {n}" for n in range(6)]
    # Nothing more, ever.
    clock.advance(hours=2)
    await deliver_due(store, channels, horizon=HORIZON, clock=clock)
    assert len(smtp_server.messages) == 6


async def test_webhook_500_then_429_then_200_once_in_order(
    store: Store, webhook_server: WebhookServer
) -> None:
    clock = Clock()
    hook = channel("hook", webhook_server.url("/hook"))
    channels = {"hook": hook}
    add_alerts(store, hook, 3, clock)
    webhook_server.respond(500)
    webhook_server.respond(429, headers={"Retry-After": "120"})

    first = await deliver_due(store, channels, horizon=HORIZON, clock=clock)
    assert (first.sent, first.failed) == (0, 1)
    [failed] = store.outbox.by_status([PENDING])[:1]
    assert "500" in (failed.last_error or "")
    # Not before its retry time, and the later ones wait behind it.
    assert await deliver_due(store, channels, horizon=HORIZON, clock=clock) == first.__class__()
    clock.advance(minutes=2)
    second = await deliver_due(store, channels, horizon=HORIZON, clock=clock)
    assert (second.sent, second.failed) == (0, 1)
    [limited] = store.outbox.by_status([PENDING])[:1]
    assert "429" in (limited.last_error or "")
    assert limited.next_attempt_at is not None
    assert limited.next_attempt_at - clock() >= timedelta(seconds=60)
    clock.advance(minutes=5)
    third = await deliver_due(store, channels, horizon=HORIZON, clock=clock)
    assert third.sent == 3
    titles = [r.json["title"] for r in webhook_server.wait_for(5)]
    assert titles == ["[w] Story 0"] * 3 + ["[w] Story 1", "[w] Story 2"]
    assert store.outbox.counts() == {SENT: 3}


def test_rate_limit_is_recognised_in_apprise_reasons() -> None:
    assert is_rate_limited("json://h/: Failed to send JSON POST notification: error=429.")
    assert is_rate_limited("Too Many Requests")
    assert not is_rate_limited("error=500")


async def test_one_failing_target_does_not_hold_up_another(
    store: Store, webhook_server: WebhookServer
) -> None:
    clock = Clock()
    dead_url = "json://127.0.0.1:9/none"  # discard port: connection refused
    both = channel("both", dead_url, webhook_server.url("/ok"))
    add_alerts(store, both, 2, clock)
    report = await deliver_due(store, {"both": both}, horizon=HORIZON, clock=clock)
    assert (report.sent, report.failed) == (2, 1)
    assert [r.path for r in webhook_server.wait_for(2)] == ["/ok", "/ok"]


async def test_dead_after_horizon_then_requeued(
    store: Store, webhook_server: WebhookServer
) -> None:
    clock = Clock()
    hook = channel("hook", webhook_server.url("/hook"))
    add_alerts(store, hook, 1, clock)
    webhook_server.stop()
    horizon = timedelta(minutes=10)
    for _ in range(10):
        await deliver_due(store, {"hook": hook}, horizon=horizon, clock=clock)
        clock.advance(minutes=3)
    [dead] = store.outbox.by_status([DEAD])
    assert "Connection error" in (dead.last_error or "") or "json://" in (dead.last_error or "")
    webhook_server.start()
    assert store.outbox.requeue(clock(), dead=True) == 1
    report = await deliver_due(store, {"hook": hook}, horizon=horizon, clock=clock)
    assert report.sent == 1
    assert store.outbox.requeue(clock(), ids=[dead.id]) == 0  # sent ones are never resent


async def test_a_long_outage_logs_one_error_and_tells_the_alert_channel(
    store: Store, webhook_server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    mail = channel("mail", "mailto://127.0.0.1:9?from=a@example.org&to=b@example.org")
    ops = channel("ops", webhook_server.url("/ops"))
    channels = {"mail": mail, "ops": ops}
    policy = HealthPolicy(failing_after=timedelta(minutes=15), alert_channel="ops")
    add_alerts(store, mail, 3, clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(12):  # an hour of retries
            await deliver_due(
                store, channels, horizon=HORIZON, clock=clock, health=policy, send_timeout=5
            )
            clock.advance(minutes=5)
    failing = [r for r in caplog.records if "delivery is failing" in r.getMessage()]
    assert len(failing) == 1 and failing[0].levelno == logging.ERROR
    assert "mail" in failing[0].getMessage()
    [notice] = webhook_server.wait_for(1)
    assert "delivery is failing: channel mail" in notice.json["title"]
    assert len(webhook_server.requests) == 1
    assert [f.channel for f in store.outbox.failing()] == ["mail"]


def test_deliveries_command_lists_masked_reasons_and_requeues(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_server: WebhookServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_PASSWORD", "s3cr3t-hook-password")
    feed_server.set("/a.xml", rss([{"title": "Musk kauft X", "link": "https://e.org/1"}]))
    url = webhook_server.url("/hook").replace("json://", "json://user:${HOOK_PASSWORD}@")
    config = write_config(
        tmp_path,
        feeds={"a": feed_server.url("/a.xml")},
        channels={"hook": [url]},
        watchlists={"musk": (["Musk"], [])},
        extra='[notify]\ndefault_channel = "hook"\n',
    )
    webhook_server.respond(503)
    assert main(["once", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "deliveries: 0 sent, 1 failed; 1 pending (retried by the next run)" in out

    assert main(["deliveries", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "1 pending, 0 dead" in out
    assert "#1  failing  channel=hook  attempts=1" in out and "503" in out
    assert "s3cr3t" not in out and "Musk kauft X" in out

    assert main(["deliveries", "retry", "--config", str(config)]) == 2
    assert main(["deliveries", "retry", "1", "--config", str(config)]) == 0
    assert "requeued 1 deliveries" in capsys.readouterr().out
    assert main(["once", "--config", str(config)]) == 0
    assert "deliveries: 1 sent" in capsys.readouterr().out
    assert len(webhook_server.wait_for(2)) == 2


async def test_min_interval_spaces_messages_and_defers_long_waits(
    store: Store, webhook_server: WebhookServer
) -> None:
    clock = Clock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds=seconds)

    url = webhook_server.url("/hook")
    fast = Channel(name="hook", targets={target_key(url): url}, format="text", min_interval=1.0)
    add_alerts(store, fast, 3, clock)
    report = await deliver_due(store, {"hook": fast}, horizon=HORIZON, clock=clock, sleep=sleep)
    assert report.sent == 3 and waits == [1.0, 1.0]

    slow = Channel(name="hook", targets=fast.targets, format="text", min_interval=60.0)
    add_alerts(store, slow, 3, clock, start=3)
    sent = []
    for _ in range(4):
        report = await deliver_due(store, {"hook": slow}, horizon=HORIZON, clock=clock, sleep=sleep)
        sent.append(report.sent)
        clock.advance(seconds=30)
    assert sent == [0, 0, 1, 0]  # one a minute: deferred, not dropped, never a failure
    for _ in range(2):
        clock.advance(minutes=1)
        assert (await deliver_due(store, {"hook": slow}, horizon=HORIZON, clock=clock)).sent == 1
    titles = [r.json["title"] for r in webhook_server.wait_for(6)]
    assert titles == [f"[w] Story {n}" for n in range(6)]
    assert all(d.attempts == 1 for d in store.outbox.by_status([SENT]))
