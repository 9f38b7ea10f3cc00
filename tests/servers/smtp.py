"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts.

    server = SMTPServer()            # picks a free port; not listening yet
    server.start()
    url = server.url(to="legal@example.org")     # mailto://127.0.0.1:PORT?from=...&to=...
    ... send ...
    [mail] = server.wait_for(1)      # blocks on a condition until 1 message arrived (or fails)
    mail.message["Subject"], mail.message.get_body(("plain",)).get_content()
    server.stop(); server.start()    # "SMTP down, then up again" on the same port
    server.reject("451 4.3.0 Try again later")   # the next DATA is refused with that reply

From async tests that share the event loop with the code under test, use
`await server.wait_for_async(n)`: it waits in a worker thread and keeps the loop running.
The server runs aiosmtpd's own event loop in a thread, so it works from sync and async tests.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceivedMail:
    """One accepted message: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def text(self) -> str:
        """The text/plain body (or the only body), decoded."""
        part = self.message.get_body(("plain", "html"))
        return "" if part is None else str(part.get_content())

    def html(self) -> str | None:
        """The text/html body, decoded, if the message has one."""
        part = self.message.get_body(("html",))
        return None if part is None else str(part.get_content())


class _Handler:
    """aiosmtpd handler: stores each message, or refuses it when a rejection is queued."""

    def __init__(self, server: SMTPServer) -> None:
        self._server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self._server._receive(envelope)


class SMTPServer:
    """A loopback SMTP server; messages survive `stop()`/`start()`; the port stays the same."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self._controller: Controller | None = None
        self._messages: list[ReceivedMail] = []
        self._rejections: deque[str] = deque()
        self._changed = threading.Condition()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Listen on `self.port` (again, after `stop()`)."""
        if self._controller is not None:
            return
        controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening: connections are refused until `start()`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SMTPServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use ----------------------------------------------------------------------
    def url(self, *, sender: str = "monitor@example.org", to: str = "alerts@example.org") -> str:
        """An apprise URL for this server: plain SMTP, no TLS, no login."""
        return f"mailto://{self.host}:{self.port}?from={sender}&to={to}"

    @property
    def messages(self) -> list[ReceivedMail]:
        """A copy of every message accepted so far, in arrival order."""
        with self._changed:
            return list(self._messages)

    def reject(self, reply: str = "451 4.3.0 Try again later", times: int = 1) -> None:
        """Answer the next `times` DATA commands with `reply` instead of accepting them."""
        with self._changed:
            self._rejections.extend([reply] * times)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until at least `count` messages arrived; fail the test after `timeout` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise AssertionError(
                    f"SMTP server got {len(self._messages)} message(s), "
                    f"expected {count} within {timeout}s"
                )
            return list(self._messages)

    async def wait_for_async(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """`wait_for` without blocking the running event loop."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    # -- internals ---------------------------------------------------------------------------
    def _receive(self, envelope: Any) -> str:
        with self._changed:
            if self._rejections:
                return self._rejections.popleft()
            raw = bytes(envelope.original_content or envelope.content)
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self._messages.append(
                ReceivedMail(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(str(r) for r in envelope.rcpt_tos),
                    message=message,
                    raw=raw,
                )
            )
            self._changed.notify_all()
        return "250 OK"


def _free_port(host: str) -> int:
    """A port nobody listens on now. aiosmtpd's Controller cannot bind port 0 itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
