"""Fixtures for notification tests: a real SMTP server, a real webhook receiver, Slack capture.

- `smtp_server`    -> tests/servers/smtp.py `SMTPServer`, started, on a free 127.0.0.1 port
- `webhook_server` -> tests/servers/webhook.py `WebhookServer`, started, on a free port
- `slack_capture`  -> `SlackCapture`: Slack's API cannot run here, so the HTTP request apprise's
  Slack plugin sends to hooks.slack.com is captured at the `requests` layer (the `responses`
  library) and answered 200 "ok". Requests to 127.0.0.1 pass through to the real servers.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses

from servers.smtp import SMTPServer
from servers.webhook import WebhookServer

SLACK_WEBHOOK = re.compile(r"https://hooks\.slack\.com/services/.*")


@dataclass(frozen=True, kw_only=True, slots=True)
class SlackRequest:
    """One request apprise sent to Slack."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any


class SlackCapture:
    """What apprise sent to hooks.slack.com, and a way to make Slack answer differently."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self._mock = mock
        self._answers: deque[tuple[int, dict[str, str], str]] = deque()
        mock.add_callback(responses.POST, SLACK_WEBHOOK, callback=self._answer)

    @property
    def requests(self) -> list[SlackRequest]:
        """Every request to hooks.slack.com so far, in order, with the JSON body parsed."""
        captured = []
        for call in self._mock.calls:
            request = call.request
            if request.url is None or not SLACK_WEBHOOK.match(request.url):
                continue
            body = request.body
            text = body.decode() if isinstance(body, bytes) else (body or "")
            captured.append(
                SlackRequest(
                    method=str(request.method),
                    url=request.url,
                    headers=dict(request.headers),
                    json=json.loads(text) if text else None,
                )
            )
        return captured

    def respond(
        self, status: int, body: str = "", headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` Slack requests with `status`; then 200 "ok" again."""
        self._answers.extend([(status, dict(headers or {}), body)] * times)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        return self._answers.popleft() if self._answers else (200, {}, "ok")


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


@pytest.fixture
def slack_capture() -> Iterator[SlackCapture]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(re.compile(r"https?://(127\.0\.0\.1|localhost)[:/]"))
        yield SlackCapture(mock)
