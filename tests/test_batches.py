"""Digests, quiet hours and bursts: several alerts as one message, sent exactly once.

Real SMTP server on loopback, real stores; time is driven by a clock passed to the worker,
never by sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_delivery import Clock

from monitor.cli import main
from monitor.dedupe import identify
from monitor.errors import ConfigError
from monitor.models import AlertMessage, Story
from monitor.notify.hold import digest, quiet_hours
from monitor.notify.outbox import Channel, deliver_due, target_key
from monitor.notify.render import Batch, Templates, render
from monitor.scheduler import build_scheduler
from monitor.settings import load_settings
from monitor.store import PENDING, SENT, NewAlert, Store

from servers.smtp import SMTPServer
from test_end_to_end import write_config

HORIZON = timedelta(hours=24)
TZ = "Europe/Berlin"
# Wednesday 25 Nov 2026, 09:00 in Berlin (08:00 UTC).
MORNING = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def mail_channel(smtp: SMTPServer, fmt: str = "html", **options: object) -> Channel:
    url = smtp.url()
    return Channel(name="mail", targets={target_key(url): url}, format=fmt, **options)  # type: ignore[arg-type]


def alert(store: Store, chan: Channel, n: int, now: datetime, watchlist: str = "musk") -> None:
    story = Story(feed="AUTOHAUS", title=f"Story {n}", link=f"https://example.org/{n}", guid=f"{n}")
    new = NewAlert(
        watchlist=watchlist,
        terms=("Musk",),
        snippet=f"Musk in story {n}",
        highlight=(0, 4),
        targets=tuple((chan.name, key) for key in chan.targets),
    )
    assert store.stories.ingest(story, identify(story), [new], now)


async def sweep(store: Store, chan: Channel, clock: Clock) -> tuple[int, int]:
    report = await deliver_due(store, {chan.name: chan}, horizon=HORIZON, clock=clock)
    return report.sent, report.held


# -- digests ------------------------------------------------------------------------------------


async def test_a_days_alerts_arrive_as_one_email_at_the_digest_time(
    store: Store, smtp_server: SMTPServer
) -> None:
    chan = mail_channel(smtp_server, digest=digest("daily 08:00", TZ))
    clock = Clock(MORNING)
    # Alerts across the day, from two watchlists; every sweep holds them.
    for n in range(5):
        alert(store, chan, n, clock(), watchlist="musk" if n % 2 == 0 else "vw")
        # Held: the first is deferred to the digest time, later ones wait behind it.
        assert await sweep(store, chan, clock) == (0, 1 if n == 0 else 0)
        clock.advance(hours=4)
    assert smtp_server.messages == []
    # 07:59 Berlin next day: still nothing; 08:00: one email with all five.
    clock.now = datetime(2026, 11, 26, 6, 59, tzinfo=UTC)
    assert await sweep(store, chan, clock) == (0, 0)
    clock.now = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    assert (await sweep(store, chan, clock))[0] == 5

    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "Daily digest: 5 alerts [musk, vw]"
    html = mail.html() or ""
    assert html.index("musk (3)") < html.index("Story 0") < html.index("Story 4")
    assert html.index("Story 4") < html.index("vw (2)") < html.index("Story 1")
    assert store.outbox.counts() == {SENT: 5}
    # An empty period sends nothing; a later alert waits for the next digest.
    clock.advance(days=1)
    assert await sweep(store, chan, clock) == (0, 0)
    alert(store, chan, 9, clock())
    assert await sweep(store, chan, clock) == (0, 1)
    assert len(smtp_server.messages) == 1


async def test_a_failed_digest_is_retried_whole_and_sent_once(
    store: Store, smtp_server: SMTPServer
) -> None:
    chan = mail_channel(smtp_server, fmt="text", digest=digest("hourly", TZ))
    clock = Clock(MORNING)
    for n in range(3):
        alert(store, chan, n, clock())
        clock.advance(minutes=10)
    smtp_server.stop()
    clock.now = MORNING + timedelta(hours=1)
    assert await sweep(store, chan, clock) == (0, 0)
    assert store.outbox.counts() == {PENDING: 3}  # none marked sent: the message never went
    smtp_server.start()
    clock.advance(minutes=3)
    assert (await sweep(store, chan, clock))[0] == 3
    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "Hourly digest: 3 alerts [musk]"
    assert all(f"Story {n}" in mail.text() for n in range(3))
    clock.advance(hours=3)
    await sweep(store, chan, clock)
    assert len(smtp_server.messages) == 1


def test_digest_times_are_cron_triggers_in_the_channel_time_zone() -> None:
    weekly = digest("weekly mon 08:00", TZ)
    assert weekly.release(MORNING) == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert digest("hourly", "UTC").release(MORNING + timedelta(seconds=1)) == MORNING + timedelta(
        hours=1
    )

    async def job() -> None:
        return None

    scheduler = build_scheduler([], job, job, 15.0, digests={"legal": weekly.trigger})
    assert scheduler.get_job("digest:legal").trigger is weekly.trigger


def test_monitor_once_sends_a_digest_whose_time_has_passed(
    tmp_path: Path, smtp_server: SMTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        feeds={},
        channels={"mail": [smtp_server.url()]},
        watchlists={"musk": (["Musk"], ["mail"])},
        channel_options='digest = "hourly"\n',
    )
    store = Store.open(load_settings(config).storage.url)
    chan = mail_channel(smtp_server)
    past = datetime.now(UTC) - timedelta(hours=2)
    for n in range(2):
        alert(store, chan, n, past)
    alert(store, chan, 2, datetime.now(UTC))  # the current hour's: held
    store.close()

    assert main(["once", "--config", str(config)]) == 0

    assert "deliveries: 2 sent, 0 failed, 1 held for a digest or quiet hours" in (
        capsys.readouterr().out
    )
    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "Hourly digest: 2 alerts [musk]"


# -- quiet hours and bursts ---------------------------------------------------------------------


async def test_quiet_hours_hold_alerts_then_send_one_batch(
    store: Store, smtp_server: SMTPServer
) -> None:
    chan = mail_channel(smtp_server, quiet=quiet_hours("22:00-07:00", TZ))
    clock = Clock(datetime(2026, 11, 25, 21, 30, tzinfo=UTC))  # 22:30 in Berlin
    for n in range(3):
        alert(store, chan, n, clock())
        assert await sweep(store, chan, clock) == (0, 1 if n == 0 else 0)
        clock.advance(hours=2)
    clock.now = datetime(2026, 11, 26, 5, 59, tzinfo=UTC)  # 06:59: still quiet
    assert await sweep(store, chan, clock) == (0, 0)
    clock.now = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert await sweep(store, chan, clock) == (3, 0)
    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "Held during quiet hours: 3 alerts [musk]"
    # In the day, one alert is one message again.
    alert(store, chan, 7, clock())
    assert await sweep(store, chan, clock) == (1, 0)
    assert smtp_server.wait_for(2)[1].subject == "[musk] Story 7"


async def test_a_burst_of_twelve_alerts_is_one_email_listing_twelve(
    store: Store, smtp_server: SMTPServer
) -> None:
    chan = mail_channel(smtp_server, burst=10)
    clock = Clock(MORNING)
    for n in range(12):
        alert(store, chan, n, clock())
    assert await sweep(store, chan, clock) == (12, 0)
    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "12 new alerts: 12 alerts [musk]"
    html = mail.html() or ""
    assert all(f">Story {n}</a>" in html for n in range(12))
    # Ten (not more than the limit) go one by one.
    for n in range(12, 22):
        alert(store, chan, n, clock())
    assert await sweep(store, chan, clock) == (10, 0)
    assert len(smtp_server.wait_for(11)) == 11


# -- rendering of batches and templates ---------------------------------------------------------

INJECTION = "Eil: <script>alert(1)</script> *bold* <@here> <!channel> [x](javascript:alert(1))"


def _message(n: int, **changes: object) -> AlertMessage:
    values: dict[str, object] = {
        "alert_id": n,
        "watchlist": "musk",
        "title": f"Story {n}",
        "link": f"https://example.org/{n}?a=1&b=2",
        "source": "AUTOHAUS",
        "terms": ("Musk",),
        "snippet": "Musk",
        "also_in": ("SPIEGEL", "FAZ"),
    }
    values.update(changes)
    return AlertMessage(**values)  # type: ignore[arg-type]


def test_batch_lists_also_in_and_is_inert_in_every_format() -> None:
    batch = Batch(
        heading="Daily digest",
        messages=(_message(1), _message(2, title=INJECTION, also_in=(INJECTION,), watchlist="x")),
    )
    markdown = render(batch, "markdown").body
    html = render(batch, "html").body
    text = render(batch, "text").body

    assert "also in: SPIEGEL, FAZ" in markdown and "also in: SPIEGEL, FAZ" in html
    assert "also in: SPIEGEL, FAZ" in text
    assert "\\<script\\>" in markdown and "\\<@here\\>" in markdown and "\\*bold\\*" in markdown
    links = [f"(<https://example.org/{n}?a=1&b=2>)" for n in (1, 2)]
    assert "<" not in markdown.replace("\\<", "").replace(links[0], "").replace(links[1], "")
    assert "<script>" not in html and "&lt;!channel&gt;" in html
    assert 'href="https://example.org/1?a=1&amp;b=2"' in html
    assert (
        "\x1b"
        not in render(Batch(heading="h", messages=(_message(3, title="a\x1bb"),)), "text").body
    )


def test_single_alert_shows_also_in() -> None:
    assert "Also in: SPIEGEL, FAZ" in render(_message(1), "markdown").body


def test_a_users_template_gets_the_same_escaping() -> None:
    templates = Templates(alert="NEW {{ headline }} at {{ link }}", batch="{{ count }} x")
    rendered = render(_message(1, title="*hi* <@here>"), "markdown", templates)
    assert rendered.body == "NEW \\*hi\\* \\<@here\\> at https://example.org/1?a=1&b=2"
    assert render(Batch(heading="h", messages=(_message(1),)), "text", templates).body == "1 x"


def _config(tmp_path: Path, options: str) -> Path:
    return write_config(
        tmp_path,
        feeds={},
        channels={"legal": ["json://127.0.0.1:9/"]},
        watchlists={},
        channel_options=options,
    )


def test_template_from_a_file_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "legal.j2").write_text("{{ watchlist }}: {{ headline }}", encoding="utf-8")
    settings = load_settings(_config(tmp_path, 'template = "legal.j2"\n'))
    assert settings.channels["legal"].template == "{{ watchlist }}: {{ headline }}"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ('template = "missing.j2"\n', "channels.legal.template: cannot read template"),
        ("template = '{% if %}'\n", "channels.legal.template: template error (line 1)"),
        ("digest_template = '{{ nope }}'\n", "channels.legal.digest_template: template error"),
        ('digest = "daily 8"\n', "channels.legal.digest: expected 'hourly', 'daily HH:MM'"),
        ('quiet_hours = "22-7"\n', "channels.legal.quiet_hours: expected a window"),
        ('timezone = "Mars/Base"\n', "channels.legal.timezone: expected an IANA time zone"),
    ],
)
def test_bad_channel_options_are_config_errors_naming_the_channel(
    tmp_path: Path, options: str, error: str
) -> None:
    with pytest.raises(ConfigError, match=error.replace("(", r"\(").replace(")", r"\)")):
        load_settings(_config(tmp_path, options))
