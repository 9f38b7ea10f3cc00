"""fetch_feed against a real HTTP server on 127.0.0.1: validators, errors, caps, redirects."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.errors import BlockedURLError, FetchError, HTTPStatusError, ResponseTooLargeError
from monitor.fetch import USER_AGENT, Fetched, NotModified, check_url, fetch_feed, make_client
from monitor.models import Validators

from servers.feeds import FeedServer, rss

FEED = rss([{"title": "Hello", "link": "https://example.com/1", "guid": "1"}])
NONE = Validators()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(timeout=5.0) as client:
        yield client


async def test_fetches_body_headers_and_validators(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set("/feed", FEED, headers={"X-Custom": "yes"})

    result = await fetch_feed(client, feed_server.url("/feed"), validators=NONE)

    assert isinstance(result, Fetched)
    assert result.body == FEED
    assert result.url == feed_server.url("/feed")
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert result.headers["x-custom"] == "yes"
    assert result.validators.etag is not None and result.validators.etag.startswith('"')
    assert result.validators.last_modified is not None
    assert feed_server.requests[0].headers["user-agent"] == USER_AGENT
    assert "if-none-match" not in feed_server.requests[0].headers


async def test_etag_round_trip_gives_not_modified(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set("/feed", FEED, last_modified=False)
    first = await fetch_feed(client, feed_server.url("/feed"), validators=NONE)
    assert isinstance(first, Fetched)

    second = await fetch_feed(client, feed_server.url("/feed"), validators=first.validators)

    assert isinstance(second, NotModified)
    assert second.validators == first.validators
    assert feed_server.requests[-1].headers["if-none-match"] == first.validators.etag


async def test_changed_body_is_fetched_again(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set("/feed", FEED)
    first = await fetch_feed(client, feed_server.url("/feed"), validators=NONE)
    assert isinstance(first, Fetched)
    newer = rss([{"title": "Newer", "link": "https://example.com/2"}])
    feed_server.set("/feed", newer)

    second = await fetch_feed(client, feed_server.url("/feed"), validators=first.validators)

    assert isinstance(second, Fetched)
    assert second.body == newer
    assert second.validators != first.validators


async def test_last_modified_round_trip_gives_not_modified(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set("/feed", FEED, etag=False)
    first = await fetch_feed(client, feed_server.url("/feed"), validators=NONE)
    assert isinstance(first, Fetched)
    assert first.validators.etag is None

    second = await fetch_feed(client, feed_server.url("/feed"), validators=first.validators)

    assert isinstance(second, NotModified)
    sent = feed_server.requests[-1].headers
    assert sent["if-modified-since"] == first.validators.last_modified
    assert "if-none-match" not in sent


async def test_server_error_is_http_status_error(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set("/feed", b"oops", status=500, content_type="text/plain")
    url = feed_server.url("/feed")

    with pytest.raises(HTTPStatusError) as caught:
        await fetch_feed(client, url, validators=NONE)

    assert caught.value.status_code == 500
    assert "500" in str(caught.value) and url in str(caught.value)


async def test_missing_feed_is_404(client: httpx.AsyncClient, feed_server: FeedServer) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        await fetch_feed(client, feed_server.url("/nothing"), validators=NONE)
    assert caught.value.status_code == 404


async def test_slow_server_times_out(feed_server: FeedServer) -> None:
    feed_server.set("/slow", FEED, delay=30)

    async with make_client(timeout=0.2) as client:
        with pytest.raises(FetchError, match=r"timed out after 0\.2s fetching http://127"):
            await fetch_feed(client, feed_server.url("/slow"), validators=NONE)


async def test_whole_download_has_a_deadline(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set("/slow", FEED, delay=30)

    with pytest.raises(FetchError, match=r"timed out after 0\.3s"):
        await fetch_feed(client, feed_server.url("/slow"), validators=NONE, deadline=0.3)


@pytest.mark.parametrize("content_length", [True, False], ids=["declared", "chunked"])
async def test_body_over_the_cap_is_refused(
    feed_server: FeedServer, client: httpx.AsyncClient, content_length: bool
) -> None:
    feed_server.set("/big", b"x" * 300_000, content_length=content_length)

    with pytest.raises(ResponseTooLargeError, match="100000"):
        await fetch_feed(client, feed_server.url("/big"), validators=NONE, max_bytes=100_000)


async def test_body_at_the_cap_is_fine(feed_server: FeedServer, client: httpx.AsyncClient) -> None:
    feed_server.set("/exact", b"x" * 1000, content_length=False)
    result = await fetch_feed(client, feed_server.url("/exact"), validators=NONE, max_bytes=1000)
    assert isinstance(result, Fetched) and len(result.body) == 1000


async def test_gzipped_feed_arrives_decompressed(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    feed_server.set("/feed.gz", gzip.compress(FEED), headers={"Content-Encoding": "gzip"})

    result = await fetch_feed(client, feed_server.url("/feed.gz"), validators=NONE)

    assert isinstance(result, Fetched) and result.body == FEED
    assert "gzip" in feed_server.requests[0].headers["accept-encoding"]


async def test_cap_applies_to_the_decompressed_body(
    feed_server: FeedServer, client: httpx.AsyncClient
) -> None:
    bomb = gzip.compress(b"x" * 1_000_000)  # ~1 KB on the wire
    feed_server.set("/bomb", bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(ResponseTooLargeError):
        await fetch_feed(client, feed_server.url("/bomb"), validators=NONE, max_bytes=100_000)


async def test_redirects_are_followed(feed_server: FeedServer, client: httpx.AsyncClient) -> None:
    feed_server.set("/new", FEED)
    feed_server.redirect("/old", "/moved", status=301)
    feed_server.redirect("/moved", "/new", status=308)

    result = await fetch_feed(client, feed_server.url("/old"), validators=NONE)

    assert isinstance(result, Fetched)
    assert result.url == feed_server.url("/new")
    assert result.body == FEED


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/feed", "http://user:secret@127.0.0.1/"]
)
async def test_redirect_target_must_pass_the_gate(
    feed_server: FeedServer, client: httpx.AsyncClient, target: str
) -> None:
    feed_server.redirect("/feed", target)

    with pytest.raises(BlockedURLError) as caught:
        await fetch_feed(client, feed_server.url("/feed"), validators=NONE)

    assert "secret" not in str(caught.value)
    assert feed_server.hits("/feed") == 1


async def test_redirect_loop_stops(feed_server: FeedServer, client: httpx.AsyncClient) -> None:
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a")

    with pytest.raises(FetchError, match="more than 5 redirects"):
        await fetch_feed(client, feed_server.url("/a"), validators=NONE)

    assert feed_server.hits("/a") + feed_server.hits("/b") == 6


async def test_connection_refused_is_fetch_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(FetchError, match=f"cannot fetch http://127.0.0.1:{port}/feed"):
        await fetch_feed(client, f"http://127.0.0.1:{port}/feed", validators=NONE)


async def test_start_url_must_pass_the_gate(client: httpx.AsyncClient) -> None:
    with pytest.raises(BlockedURLError):
        await fetch_feed(client, "file:///etc/passwd", validators=NONE)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/feed",
        "https://example.com/rss?format=xml",
        "HTTPS://EXAMPLE.COM/",
        "http://[::1]/feed",
    ],
)
def test_gate_allows_http_urls(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/feed",
        "gopher://example.com/",
        "javascript:alert(1)",
        "example.com/feed",
        "http:///feed",
        "https://user:pass@example.com/feed",
        "https://token@example.com/feed",
        "http://example.com:99999/",
        "http://example.com/a feed",
        "http://example.com/\nfeed",
        "",
    ],
)
def test_gate_blocks(url: str) -> None:
    with pytest.raises(BlockedURLError):
        check_url(url)


def test_gate_never_repeats_credentials() -> None:
    with pytest.raises(BlockedURLError) as caught:
        check_url("https://editor:hunter2@example.com/feed")
    assert "hunter2" not in str(caught.value)
    assert "example.com/feed" in str(caught.value)
