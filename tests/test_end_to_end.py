"""End to end, through the real `monitor` command: feeds served over HTTP on 127.0.0.1, alerts
delivered to a real SMTP server and a real webhook receiver, the store a real SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli import main

from conftest import CORPUS, ROOT, needs_corpus
from servers.feeds import FeedServer, rss
from servers.smtp import SMTPServer
from servers.webhook import WebhookServer


def write_config(
    tmp_path: Path,
    feeds: dict[str, str],
    channels: dict[str, Sequence[str]],
    watchlists: dict[str, tuple[Sequence[str], Sequence[str]]],
    *,
    extra: str = "",
    interval: str | None = None,
    channel_options: str = "",
) -> Path:
    """A config file: feeds name->url, channels name->urls, watchlists name->(terms, notify)."""
    lines = [f'[storage]\nurl = "sqlite:///{tmp_path}/data/monitor.db"\n', extra]
    lines.append('[entities."Elon Musk"]\naliases = ["Musk", "Tesla-Chef"]\n')
    for name, url in feeds.items():
        lines.append(f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n')
        if interval:
            lines.append(f'interval = "{interval}"\n')
    for name, urls in channels.items():
        lines.append(f"[channels.{name}]\nurls = {json.dumps(list(urls))}\n{channel_options}")
    for name, (terms, notify) in watchlists.items():
        lines.append(
            f'[[watchlists]]\nname = "{name}"\nterms = {json.dumps(list(terms))}\n'
            f"notify = {json.dumps(list(notify))}\n"
        )
    path = tmp_path / "monitor.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def once(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["once", "--config", str(config)]) == 0
    return capsys.readouterr().out


_REPORT_PEAK = """
import atexit, sys
from monitor.cli import main

def report() -> None:  # VmHWM: this program's own peak (ru_maxrss counts the forking parent)
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"peak-rss-kib {peak}", file=sys.stderr)

atexit.register(report)
sys.exit(main(sys.argv[1:]))
"""


def once_in_new_process(
    config: Path, *, report_peak: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m monitor once` in a fresh process: a restart, as far as the store can tell.
    With `report_peak`, its peak RSS is the last line of stderr (see `peak_kib`)."""
    program = ["-c", _REPORT_PEAK] if report_peak else ["-m", "monitor"]
    return subprocess.run(
        [sys.executable, *program, "once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


TRADE_PRESS_ITEM = {
    "title": "Tesla-Chef trifft Putin: Gespräche über Satelliten",
    "link": "https://www.autohaus.example/news/tesla-chef-putin-123.html?utm_source=rss&utm_medium=feed",
    "guid": "autohaus-123",
    "description": (
        "<p>Der Tesla-Chef sprach laut Bericht mit Wladimir Putin.</p>"
        "<p>-- Anzeige --</p>"
        "<p>Auch über Starlink-Terminals in der Ukraine sei geredet worden.</p>"
        "<p>-- Anzeige --</p>"
    ),
    "categories": ["Elon Musk", "Wirtschaft"],
    "pubDate": datetime(2024, 10, 26, 8, 30, tzinfo=UTC),
}
UNRELATED_ITEMS = [
    {
        "title": "Autohandel: Neuzulassungen im Oktober gestiegen",
        "link": "https://www.autohaus.example/news/neuzulassungen-124.html",
        "guid": "autohaus-124",
        "description": "<p>Muskelkater im Handel? Keineswegs, sagt der Verband.</p>",
        "categories": ["Handel"],
    },
    {
        "title": "Werkstatt-Tipp: Reifenwechsel rechtzeitig planen",
        "link": "https://www.autohaus.example/news/reifen-125.html",
        "guid": "autohaus-125",
        "description": "<p>-- Anzeige --</p><p>Winterreifen sind Pflicht bei Glätte.</p>",
    },
]


def test_acceptance_trade_press_item_alerts_once_by_email_and_webhook(
    tmp_path: Path,
    feed_server: FeedServer,
    smtp_server: SMTPServer,
    webhook_server: WebhookServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed_server.set(
        "/autohaus.xml", rss([*UNRELATED_ITEMS[:1], TRADE_PRESS_ITEM, *UNRELATED_ITEMS[1:]])
    )
    config = write_config(
        tmp_path,
        feeds={"AUTOHAUS": feed_server.url("/autohaus.xml")},
        channels={"email": [smtp_server.url()], "hook": [webhook_server.url("/hook")]},
        watchlists={"musk": (["#Elon Musk", "Starlink"], ["email", "hook"])},
    )
    out = once(config, capsys)
    assert "1 alerts" in out and "deliveries: 2 sent" in out

    [mail] = smtp_server.wait_for(1)
    assert "Tesla-Chef trifft Putin" in mail.subject
    body = mail.text()
    assert "https://www.autohaus.example/news/tesla-chef-putin-123.html" in body
    assert "utm_source" not in body  # canonical link, tracking removed
    assert "AUTOHAUS" in body and "#Elon Musk" in body
    assert "Anzeige" not in body  # page furniture never reaches a snippet
    [post] = webhook_server.wait_for(1)
    assert "Tesla-Chef trifft Putin" in json.dumps(post.json, ensure_ascii=False)

    out = once(config, capsys)
    assert "0 new stories, 0 alerts" in out and "deliveries: 0 sent" in out
    assert len(smtp_server.messages) == 1 and len(webhook_server.requests) == 1


TAGESSCHAU = "tagesschau_2024-12-21_rss2.xml"
GEO = "geo_2024-12-21_rss2.xml"


def _titles(server: WebhookServer) -> list[str]:
    return [request.json["title"] for request in server.requests]


@needs_corpus
def test_two_feeds_poll_repoll_new_item_restart(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_server: WebhookServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Real captures: tagesschau has four Musk stories; GEO has one ("Musks") among eight
    # items that only say Muskeln, Muskelschmerzen, Muskulatur...
    feed_server.set("/tagesschau.xml", (CORPUS / TAGESSCHAU).read_bytes())
    generated = [{"title": "Vorwort", "link": "https://example.org/0", "description": "Nichts."}]
    feed_server.set("/geo.xml", (CORPUS / GEO).read_bytes())
    feed_server.set("/extra.xml", rss(generated))
    config = write_config(
        tmp_path,
        feeds={
            "tagesschau": feed_server.url("/tagesschau.xml"),
            "GEO": feed_server.url("/geo.xml"),
            "extra": feed_server.url("/extra.xml"),
        },
        channels={"hook": [webhook_server.url("/hook")]},
        watchlists={"musk": (["Musk"], ["hook"])},
    )
    out = once(config, capsys)
    assert "5 alerts" in out
    webhook_server.wait_for(5)
    titles = _titles(webhook_server)
    assert sorted(t.removeprefix("[musk] ") for t in titles) == [
        "Musk schaltet sich in deutschen Wahlkampf ein und unterstützt AfD",
        "Nach Anschlag in Magdeburg: Musk fordert Rücktritt von Kanzler Scholz",
        "Raumfahrt: Weltraum-Odyssee zweier ISS-Astronauten zieht sich",  # GEO: "Musks"
        "US-Senat billigt Übergangshaushalt - Shutdown abgewendet",
        "USA: Wie Trump und Musk den Shutdown provozieren",
    ]

    # Poll again: the server answers 304 for all three, nothing is sent.
    out = once(config, capsys)
    assert "0 new stories, 0 alerts" in out
    assert any(r.path == "/geo.xml" and "if-none-match" in r.headers for r in feed_server.requests)

    # A new matching item appears: exactly one more alert.
    generated.append(
        {
            "title": "Musk kauft eine Zeitung",
            "link": "https://example.org/1",
            "description": "Eine Meldung.",
        }
    )
    feed_server.set("/extra.xml", rss(generated))
    out = once(config, capsys)
    assert "1 new stories, 1 alerts" in out
    webhook_server.wait_for(6)
    assert _titles(webhook_server)[-1].endswith("Musk kauft eine Zeitung")

    # Restart: a new process on the same store, the server now forgetting its ETags
    # (full bodies again): nothing is repeated.
    for path, name in (("/tagesschau.xml", TAGESSCHAU), ("/geo.xml", GEO)):
        feed_server.set(path, (CORPUS / name).read_bytes(), etag=False, last_modified=False)
    done = once_in_new_process(config)
    assert done.returncode == 0, done.stderr
    assert "0 new stories, 0 alerts" in done.stdout
    assert len(webhook_server.requests) == 6


def test_broken_feeds_fail_alone_and_are_reported(
    tmp_path: Path, feed_server: FeedServer, webhook_server: WebhookServer
) -> None:
    from data.make_hostile import billion_laughs

    good_item = {
        "title": "Starlink startet in Deutschland",
        "link": "https://example.org/s",
        "description": "Starlink-Terminals sind ab heute erhältlich.",
    }
    feed_server.set("/good.xml", rss([good_item]))
    feed_server.set("/error.xml", b"oops", status=500)
    feed_server.set("/garbage.xml", (ROOT / "tests" / "data" / "garbage.xml").read_bytes())
    feed_server.set("/slow.xml", rss([good_item]), delay=5.0)
    feed_server.set("/bomb.xml", billion_laughs(entity_kib=100, references=20_000))
    config = write_config(
        tmp_path,
        feeds={
            name: feed_server.url(f"/{name}.xml")
            for name in ("good", "error", "garbage", "slow", "bomb")
        },
        channels={"hook": [webhook_server.url("/hook")]},
        watchlists={"space": (["Starlink"], ["hook"])},
        extra='[fetch]\ntimeout = "1s"\n',
    )
    done = once_in_new_process(config, report_peak=True)
    assert done.returncode == 0, done.stderr
    peak_kib = int(done.stderr.split("peak-rss-kib ")[-1])
    out = done.stdout
    # The bomb's DTD is removed before parsing: it becomes a harmless one-item feed.
    assert "polled 5 feeds (3 failed): 2 new stories, 1 alerts" in out
    assert "feed 'error' failed: HTTP 500" in out
    assert "feed 'garbage' failed:" in out
    assert "feed 'slow' failed:" in out and "timed out" in out
    assert "feed 'bomb'" not in out and "feed 'good'" not in out
    [post] = webhook_server.wait_for(1)
    assert "Starlink startet" in post.json["title"]
    # The entity bomb expands to ~2 GB if parsed naively; the whole run stays far below.
    assert 20 * 1024 < peak_kib < 300 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"


@needs_corpus
def test_wire_copy_in_two_outlets_alerts_once_and_says_also_in(
    tmp_path: Path,
    feed_server: FeedServer,
    smtp_server: SMTPServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The same AP story at CTV and Indian Express, differing by the word "US".
    feed_server.set("/ctv.xml", (CORPUS / "ctvnews_2017-01-07_rss2.xml").read_bytes())
    feed_server.set("/ie.xml", (CORPUS / "indianexpress_2017-01-07_rss2.xml").read_bytes())
    config = write_config(
        tmp_path,
        feeds={"CTV": feed_server.url("/ctv.xml"), "Indian Express": feed_server.url("/ie.xml")},
        channels={"mail": [smtp_server.url()]},
        watchlists={"hacking": (['"election hacking"'], ["mail"])},
    )
    out = once(config, capsys)
    assert "1 alerts" in out
    [mail] = smtp_server.wait_for(1)
    assert "election hacking says Russia plans to do more" in mail.subject
    # Feeds are polled concurrently: whichever outlet came first alerted, the other is "also in".
    text = mail.text()
    first, other = ("CTV", "Indian Express") if "Source: CTV" in text else ("Indian Express", "CTV")
    assert f"Source: {first}" in text
    assert f"Also in: {other}" in text
