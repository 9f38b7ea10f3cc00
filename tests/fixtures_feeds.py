"""The `feed_server` fixture: a real feed HTTP server on 127.0.0.1 (tests/servers/feeds.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers.feeds import FeedServer


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started `FeedServer` serving nothing yet (every path 404) until `set()` is called."""
    with FeedServer() as server:
        yield server
