"""`poll_feed` when matching one story raises: the rest of the feed still alerts, the story
is tried again.

Real parts throughout: a real feed HTTP server on 127.0.0.1 (with ETag and Last-Modified),
the real HTTP client, a real store (SQLite and PostgreSQL) and the real compiled engine. The
one injected part is a fault at the engine boundary (`FailsOn`), since no input is known to
crash the engine any more.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from monitor.dedupe import identify
from monitor.fetch import make_client
from monitor.match import Engine, compile_engine
from monitor.models import Feed, Match, Story, Validators, Watchlist
from monitor.poll import PollContext, poll_feed
from monitor.store import PENDING, Store
from monitor.store.ingest import Status

from servers.feeds import FeedServer, rss

BROKEN_TITLE = "Bundeswehr prüft Starlink für Einsätze"
ITEMS = [
    {
        "title": "Starlink startet in Deutschland",
        "link": "https://example.org/starlink-startet",
        "guid": "1",
        "description": "Die Terminals sind ab heute im Handel.",
    },
    {
        "title": BROKEN_TITLE,
        "link": "https://example.org/bundeswehr",
        "guid": "2",
        "description": "Das Ministerium lässt den Einsatz im Ausland untersuchen.",
    },
    {
        "title": "Bahn testet Starlink in ICE-Zügen",
        "link": "https://example.org/bahn",
        "guid": "3",
        "description": "Der Versuch läuft auf der Strecke Hamburg–München.",
    },
    {
        "title": "Wetter: Regen am Wochenende",
        "link": "https://example.org/wetter",
        "guid": "4",
        "description": "Im Norden bleibt es kühl.",
    },
]
WATCHLIST = Watchlist(name="space", terms=("Starlink",), notify=("hook",))
ROUTES = {"space": (("hook", "target-1"),)}


class FailsOn:
    """Fault injection of an unknown future engine bug, not a stand-in for matching.

    Wraps the real compiled engine: `match` raises for the story titled `title` while
    `broken` is set (as the engine once raised IndexError on U+FDFA) and otherwise, and
    once `broken` is cleared ("the upgrade fixed it"), returns what the real engine returns.
    """

    def __init__(self, engine: Engine, title: str) -> None:
        self.engine = engine
        self.title = title
        self.broken = True
        self.failed_on: list[Story] = []

    def match(self, story: Story) -> list[Match]:
        if self.broken and story.title == self.title:
            self.failed_on.append(story)
            raise IndexError("string index out of range")
        return self.engine.match(story)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(timeout=5.0) as client:
        yield client


@pytest.fixture
def feed(feed_server: FeedServer) -> Feed:
    feed_server.set("/news.xml", rss(ITEMS))  # with ETag and Last-Modified
    return Feed(name="news", url=feed_server.url("/news.xml"))


def context(client: httpx.AsyncClient, store: Store, engine: FailsOn) -> PollContext:
    return PollContext(
        client=client,
        store=store,
        engine=engine,  # type: ignore[arg-type]  # the real engine behind a fault injector
        routes=ROUTES,
        max_bytes=10 * 1024 * 1024,
    )


def pending_titles(store: Store) -> list[str]:
    """The titles of the stored alerts, through their pending deliveries."""
    return sorted(d.message.title for d in store.outbox.by_status((PENDING,)))


async def test_a_story_that_fails_to_match_is_left_out_and_the_others_alert(
    feed: Feed, client: httpx.AsyncClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FailsOn(compile_engine([WATCHLIST], []), BROKEN_TITLE)

    with caplog.at_level(logging.INFO, logger="monitor.poll"):
        result = await poll_feed(feed, context(client, store, engine))

    assert result.error is None
    assert (result.stories, result.new_stories, result.alerts, result.failed) == (4, 3, 2, 1)
    assert pending_titles(store) == ["Bahn testet Starlink in ICE-Zügen", ITEMS[0]["title"]]
    # Not stored, so not seen: the next poll matches it again.
    [broken] = engine.failed_on
    assert store.stories.status([identify(broken)]) == [Status.NEW]
    # Logged with the feed, the story and the traceback.
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert "'news'" in message and BROKEN_TITLE in message and "example.org/bundeswehr" in message
    assert record.exc_info is not None and record.exc_info[0] is IndexError
    assert "Traceback" in caplog.text and "IndexError: string index out of range" in caplog.text
    assert any("1 failed to match" in r.getMessage() for r in caplog.records)


async def test_after_a_failure_the_next_poll_fetches_the_whole_feed_and_retries(
    feed: Feed, feed_server: FeedServer, client: httpx.AsyncClient, store: Store
) -> None:
    engine = FailsOn(compile_engine([WATCHLIST], []), BROKEN_TITLE)
    ctx = context(client, store, engine)
    # A feed polled before, its validators saved; then the story that fails appears in it.
    feed_server.set("/news.xml", rss([item for item in ITEMS if item["title"] != BROKEN_TITLE]))
    assert (await poll_feed(feed, ctx)).failed == 0
    before = store.feeds.validators(feed.name, feed.url)
    assert before.etag is not None and before.last_modified is not None
    feed_server.set("/news.xml", rss(ITEMS))

    assert (await poll_feed(feed, ctx)).failed == 1
    # Cleared, not kept: with the new (or old) ones the unchanged feed would answer 304.
    assert store.feeds.validators(feed.name, feed.url) == Validators()
    [state] = store.feeds.all()
    assert state.last_error is None and state.consecutive_failures == 0

    engine.broken = False  # the bug is fixed
    result = await poll_feed(feed, ctx)

    headers = feed_server.requests[-1].headers
    assert "if-none-match" not in headers and "if-modified-since" not in headers
    assert not result.not_modified
    assert (result.new_stories, result.alerts, result.failed) == (1, 1, 0)
    assert BROKEN_TITLE in pending_titles(store) and len(pending_titles(store)) == 3
    [broken] = engine.failed_on
    assert store.stories.status([identify(broken)]) == [Status.SEEN]
    # A poll where nothing failed saves the validators again: the next poll is a 304.
    saved = store.feeds.validators(feed.name, feed.url)
    assert saved.etag is not None and saved != before
    again = await poll_feed(feed, ctx)
    assert again.not_modified
    assert feed_server.requests[-1].headers["if-none-match"] == saved.etag
