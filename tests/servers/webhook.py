"""A real HTTP receiver on 127.0.0.1 that records every request and answers as told.

    server = WebhookServer()
    server.start()
    url = server.url("/hook")            # json://127.0.0.1:PORT/hook (apprise's JSON plugin)
    server.respond(500)                  # answer the next request with 500 ...
    server.respond(429, headers={"Retry-After": "2"})   # ... the one after with 429 ...
    ...                                  # ... and every later one with 200 "ok"
    [request] = server.wait_for(1)       # blocks on a condition; fails the test on timeout
    request.path, request.headers["Content-Type"], request.json["title"]
    server.stop(); server.start()        # down, then up again on the same port

From async tests that share the event loop with the code under test, use
`await server.wait_for_async(n)`. Every request is recorded, whatever the answer was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceivedRequest:
    """One request as the receiver saw it. Header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    """The parsed body when it is JSON, else None."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    """A programmed answer; `delay` holds the answer back (cut short by `stop()`)."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class WebhookServer:
    """A loopback HTTP server for POST/PUT/GET/DELETE with a queue of programmed answers."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.default = Response()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._requests: list[ReceivedRequest] = []
        self._responses: deque[Response] = deque()
        self._changed = threading.Condition()
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Listen (on the same port as before, after `stop()`)."""
        if self._server is not None:
            return
        self._stopping.clear()
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        # A short poll interval keeps stop() (and fixture teardown) quick.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=f"webhook-{self.port}", daemon=True
        )
        self._server = server
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start()`."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> WebhookServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        """An apprise URL for this receiver: `json://`, `form://`, `xml://` or plain `http://`."""
        return f"{scheme}://{self.host}:{self.port}{path}"

    def respond(
        self,
        status: int = 200,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        *,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Queue the answer for the next `times` requests; then answers fall back to `default`."""
        data = body.encode() if isinstance(body, str) else body
        answer = Response(status=status, body=data, headers=dict(headers or {}), delay=delay)
        with self._changed:
            self._responses.extend([answer] * times)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A copy of every request received so far, in arrival order."""
        with self._changed:
            return list(self._requests)

    def clear(self) -> None:
        with self._changed:
            self._requests.clear()
            self._responses.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until at least `count` requests arrived; fail the test after `timeout` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(
                    f"webhook receiver got {len(self._requests)} request(s), "
                    f"expected {count} within {timeout}s"
                )
            return list(self._requests)

    async def wait_for_async(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """`wait_for` without blocking the running event loop."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    # -- internals ---------------------------------------------------------------------------
    def _record(self, request: ReceivedRequest) -> Response:
        with self._changed:
            self._requests.append(request)
            answer = self._responses.popleft() if self._responses else self.default
            self._changed.notify_all()
        return answer


def _make_handler(owner: WebhookServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parsed: Any = None
            with contextlib.suppress(ValueError):
                parsed = json.loads(body) if body else None
            answer = owner._record(
                ReceivedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    json=parsed,
                )
            )
            if answer.delay and owner._stopping.wait(answer.delay):
                return  # stopping: drop the connection without an answer
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_POST = do_PUT = do_GET = do_DELETE = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return _Handler
