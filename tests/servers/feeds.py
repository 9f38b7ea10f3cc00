"""A real feed HTTP server on 127.0.0.1 for tests, and `rss()` to build feeds to serve.

    with FeedServer() as server:            # or the `feed_server` fixture
        server.set("/feed", rss([{"title": "Hello", "link": "https://example.com/1"}]))
        url = server.url("/feed")           # http://127.0.0.1:<port>/feed
        ...                                 # fetch it (the daemon, fetch_feed, ...)
        server.set("/feed", new_body)       # what the next poll sees
        assert server.hits("/feed") == 2
        assert server.requests[-1].headers["if-none-match"] == ...

Each `set()` gives the resource a strong ETag (a hash of the body) and a Last-Modified date
later than any earlier one, and the server answers conditional requests with 304 as a real
server would. `delay` holds the answer back (for timeouts) without holding up `stop()`.
Unknown paths answer 404. Redirects: `redirect(path, to)`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from xml.etree import ElementTree

RSS_TYPE = "application/rss+xml; charset=utf-8"


class Request(NamedTuple):
    """One request the server received (also those answered 304 or 404)."""

    path: str
    """The request target as sent: path and query."""
    headers: dict[str, str]
    """Header names lower-cased."""


@dataclass
class _Resource:
    body: bytes
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: str | None = None
    last_modified: float | None = None
    content_length: bool = True


class FeedServer:
    """An HTTP/1.1 server in a daemon thread; `start()`/`stop()` or use it as a context."""

    def __init__(self) -> None:
        self._resources: dict[str, _Resource] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._last_modified = 0.0
        self.requests: list[Request] = []
        """Every request received, in order."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="feed-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str = "/") -> str:
        """The absolute URL of `path` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def set(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        content_type: str | None = RSS_TYPE,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        etag: bool = True,
        last_modified: bool = True,
        content_length: bool = True,
    ) -> None:
        """Serve `body` at `path` from now on (replacing what was there).

        `headers` are sent as given (they win over the generated ones); `content_type=None`
        sends none. `delay` seconds pass before the answer. `content_length=False` sends the
        body chunked, as servers do for generated feeds, so a client cannot see its size
        up front.
        """
        with self._lock:
            stamp = None
            if last_modified:
                # Strictly later than before, even for two set() calls in the same second.
                stamp = self._last_modified = max(float(int(time.time())), self._last_modified + 1)
            resource = _Resource(
                body=body,
                status=status,
                delay=delay,
                etag=f'"{hashlib.sha256(body).hexdigest()[:20]}"' if etag else None,
                last_modified=stamp,
                content_length=content_length,
            )
            if content_type is not None:
                resource.headers["Content-Type"] = content_type
            resource.headers.update(headers or {})
            self._resources[_route(path)] = resource

    def redirect(self, path: str, to: str, *, status: int = 302) -> None:
        """Answer `path` with a redirect to `to` (a path on this server or any URL)."""
        target = to if urlsplit(to).scheme else self.url(to)
        self.set(
            path,
            b"",
            status=status,
            content_type=None,
            headers={"Location": target},
            etag=False,
            last_modified=False,
        )

    def remove(self, path: str) -> None:
        """Stop serving `path` (it answers 404 again)."""
        with self._lock:
            self._resources.pop(_route(path), None)

    def hits(self, path: str) -> int:
        """How many requests arrived for `path` (query strings ignored)."""
        route = _route(path)
        with self._lock:
            return sum(1 for request in self.requests if _route(request.path) == route)

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed answers are abandoned at once (their connections closed)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Called from the handler threads.

    def _record(self, path: str, headers: dict[str, str]) -> _Resource | None:
        with self._lock:
            self.requests.append(Request(path, headers))
            return self._resources.get(_route(path))


def _route(path: str) -> str:
    return urlsplit(path).path or "/"


def _not_modified(resource: _Resource, headers: Mapping[str, str]) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if resource.etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or resource.etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None or resource.last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since).timestamp()
    except (TypeError, ValueError):
        return False
    return resource.last_modified <= since


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            resource = server._record(self.path, headers)
            if resource is None:
                self._send(404, {"Content-Type": "text/plain"}, b"not found\n", send_body)
                return
            if resource.delay and server._stopping.wait(resource.delay):
                self.close_connection = True  # shutting down: abandon the answer
                return
            validators: dict[str, str] = {}
            if resource.etag:
                validators["ETag"] = resource.etag
            if resource.last_modified is not None:
                validators["Last-Modified"] = formatdate(resource.last_modified, usegmt=True)
            if resource.status == 200 and _not_modified(resource, headers):
                self._send(304, validators, b"", send_body=False)
                return
            self._send(
                resource.status,
                {**validators, **resource.headers},
                resource.body,
                send_body,
                chunked=not resource.content_length,
            )

        def _send(
            self,
            status: int,
            headers: Mapping[str, str],
            body: bytes,
            send_body: bool,
            *,
            chunked: bool = False,
        ) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                elif status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body and status != 304:
                    self._write_body(body, chunked=chunked)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (size cap, timeout)

        def _write_body(self, body: bytes, *, chunked: bool) -> None:
            step = 64 * 1024
            for start in range(0, len(body), step):
                piece = body[start : start + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests assert on server.requests instead

    return Handler


def rss(
    items: Sequence[Mapping[str, Any]],
    *,
    title: str = "Test feed",
    link: str = "https://example.com/",
    language: str | None = None,
) -> bytes:
    """An RSS 2.0 document (UTF-8) with one <item> per dict, every value XML-escaped.

    Item keys: `title`, `link`, `guid`, `description` (HTML allowed: it is escaped as RSS
    wants), `content` (becomes content:encoded), `categories` (a list of strings) and
    `pubDate` (an RFC 822 string, or an aware datetime). Missing keys are left out.
    """
    ElementTree.register_namespace("content", _CONTENT_NS)
    root = ElementTree.Element("rss", version="2.0")
    channel = ElementTree.SubElement(root, "channel")
    ElementTree.SubElement(channel, "title").text = title
    ElementTree.SubElement(channel, "link").text = link
    ElementTree.SubElement(channel, "description").text = title
    if language:
        ElementTree.SubElement(channel, "language").text = language
    for item in items:
        element = ElementTree.SubElement(channel, "item")
        for key in ("title", "link", "guid", "description"):
            if item.get(key) is not None:
                ElementTree.SubElement(element, key).text = str(item[key])
        if item.get("content") is not None:
            ElementTree.SubElement(element, f"{{{_CONTENT_NS}}}encoded").text = item["content"]
        for category in item.get("categories", ()):
            ElementTree.SubElement(element, "category").text = category
        published = item.get("pubDate")
        if isinstance(published, datetime):
            published = format_datetime(published)
        if published is not None:
            ElementTree.SubElement(element, "pubDate").text = published
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


_CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
