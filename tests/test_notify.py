"""monitor.notify: rendering, and delivery through apprise to real loopback servers.

SMTP and webhooks are real servers on 127.0.0.1; only Slack is captured, at the HTTP layer, and
the tests assert the exact request Slack would receive.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from fixtures_notify import SlackCapture

from monitor.errors import NotifyError
from monitor.models import AlertMessage
from monitor.notify import (
    Rendered,
    SendResult,
    check_url,
    register_schemas,
    render,
    render_test_message,
    send,
)

from servers.smtp import SMTPServer
from servers.webhook import WebhookServer

SNIPPET = "Der Tesla-Chef Elon Musk trifft in Moskau Wladimir Putin."
LINK = "https://www.example.com/wirtschaft/tesla-chef-trifft-putin?id=42"
SLACK_TOKENS = ("T0AAAAAAA", "B0BBBBBBB", "cccccccccccccccccccccccc")
SLACK_URL = "slack://{}/{}/{}/#newsroom".format(*SLACK_TOKENS)
INJECTION = "Eil: <script>alert(1)</script> *bold* <@here> <!channel> [x](javascript:alert(1))"


def _message(**changes: object) -> AlertMessage:
    values: dict[str, object] = {
        "alert_id": 7,
        "watchlist": "musk",
        "title": "Tesla-Chef trifft Putin",
        "link": LINK,
        "source": "AUTOHAUS",
        "terms": ("Elon Musk", "Tesla-Chef"),
        "snippet": SNIPPET,
        "highlight": (SNIPPET.index("Elon Musk"), SNIPPET.index("Elon Musk") + len("Elon Musk")),
        "published": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    }
    values.update(changes)
    return AlertMessage(**values)  # type: ignore[arg-type]


# -- render ----------------------------------------------------------------------------------


def test_render_markdown_has_everything_a_reader_needs() -> None:
    rendered = render(_message(), "markdown")

    assert rendered == Rendered(
        title="[musk] Tesla-Chef trifft Putin",
        body=(
            f"**[Tesla-Chef trifft Putin](<{LINK}>)**\n"
            "\n"
            "Source: AUTOHAUS  \n"
            "Published: 2024-05-01 12:30 UTC  \n"
            "Watchlist: musk  \n"
            "Terms: Elon Musk, Tesla-Chef\n"
            "\n"
            "> Der Tesla-Chef **Elon Musk** trifft in Moskau Wladimir Putin.\n"
            "\n"
            f"<{LINK}>"
        ),
        body_format="markdown",
    )


def test_render_html_and_text() -> None:
    html = render(_message(), "html")
    text = render(_message(), "text")

    assert html.body_format == "html"
    assert f'<a href="{LINK}">Tesla-Chef trifft Putin</a>' in html.body
    assert "<b>Elon Musk</b>" in html.body
    assert text.body_format == "text"
    assert text.body.splitlines()[:2] == ["Tesla-Chef trifft Putin", LINK]
    assert SNIPPET in text.body
    assert "Terms: Elon Musk, Tesla-Chef" in text.body


def test_render_without_link_date_or_highlight() -> None:
    rendered = render(_message(link=None, published=None, highlight=None), "markdown")

    assert rendered.body.startswith("**Tesla-Chef trifft Putin**\n")
    assert "Published" not in rendered.body
    assert "> Der Tesla-Chef Elon Musk trifft" in rendered.body


@pytest.mark.parametrize("link", ["javascript:alert(1)", "data:text/html,<b>x</b>", "ftp://x/y"])
def test_only_http_links_become_links(link: str) -> None:
    for fmt in ("markdown", "html", "text"):
        body = render(_message(link=link), fmt).body
        assert link.split(":")[0] + ":" not in body, fmt


def test_render_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown message format"):
        render(_message(), "rtf")


def test_injection_headline_is_inert_in_markdown() -> None:
    body = render(_message(title=INJECTION, snippet=INJECTION, highlight=(5, 13)), "markdown").body

    # Every "<" and "*" from the feed is backslash-escaped; apprise turns "\<" into "&lt;".
    assert "\\<script\\>" in body
    assert "\\<@here\\>" in body
    assert "\\<!channel\\>" in body
    assert "\\*bold\\*" in body
    assert "\\[x\\](javascript:alert(1))" in body
    unescaped = body.replace("\\<", "").replace(f"<{LINK}>", "")
    assert "<" not in unescaped


def test_injection_headline_is_inert_in_html() -> None:
    body = render(_message(title=INJECTION, snippet=INJECTION, highlight=None), "html").body

    assert "<script>" not in body
    assert "&lt;script&gt;" in body
    assert "&lt;!channel&gt;" in body
    assert "javascript" not in body.split("href=")[1].split(">")[0]


def test_text_strips_control_characters_and_bidi_overrides() -> None:
    title = "Tesla\x1b[31m-Chef\r\ntrifft\u202e Putin\x00"
    rendered = render(_message(title=title, snippet="a\x07b\nc"), "text")

    assert rendered.title == "[musk] Tesla [31m-Chef trifft Putin"
    assert not any(ch in rendered.body for ch in "\x1b\x00\x07\u202e\r")
    assert "a b c" in rendered.body


def test_newline_in_headline_cannot_start_a_markdown_block() -> None:
    rendered = render(_message(title="Putin\n# Heading\n- item", snippet="- item"), "markdown")

    assert "\n#" not in rendered.body
    assert "\n-" not in rendered.body
    assert "> \\- item" in rendered.body


def test_render_test_message_names_the_channel() -> None:
    rendered = render_test_message("newsroom")

    assert rendered.title == "[media-monitor] test: newsroom"
    assert "newsroom" in rendered.body
    assert rendered.body_format == "text"
    assert render_test_message("<!channel>", "markdown").body.count("\\<!channel\\>") == 1


# -- send: email ------------------------------------------------------------------------------


async def test_alert_arrives_as_one_email(smtp_server: SMTPServer) -> None:
    url = smtp_server.url(sender="monitor@example.org", to="legal@example.org")

    result = await send(url, render(_message(), "markdown"))

    assert result == SendResult(
        ok=True, target=f"mailto://127.0.0.1:{smtp_server.port}/legal%40example.org"
    )
    [mail] = smtp_server.wait_for(1)
    assert mail.mail_from == "monitor@example.org"
    assert mail.rcpt_tos == ("legal@example.org",)
    assert mail.subject == "[musk] Tesla-Chef trifft Putin"
    text = mail.text()
    assert LINK in text
    assert "Terms: Elon Musk, Tesla-Chef" in text
    assert "Der Tesla-Chef Elon Musk trifft in Moskau Wladimir Putin." in text
    html = mail.html()
    assert html is not None
    assert f'href="{LINK}"' in html
    assert "<strong>Elon Musk</strong>" in html
    assert len(smtp_server.messages) == 1


async def test_injection_headline_is_inert_in_email(smtp_server: SMTPServer) -> None:
    message = _message(title=INJECTION, snippet=INJECTION, highlight=None)
    for fmt in ("markdown", "html", "text"):
        assert (await send(smtp_server.url(), render(message, fmt))).ok

    for mail in smtp_server.wait_for(3):
        html = mail.html() or ""
        assert "<script" not in html
        assert "javascript:" not in html.replace("[x](javascript:alert(1))", "")


async def test_smtp_down_is_a_failed_result_then_up_again(smtp_server: SMTPServer) -> None:
    url = smtp_server.url()
    rendered = render(_message())
    smtp_server.stop()

    down = await send(url, rendered)

    assert down.ok is False
    assert down.target == f"mailto://127.0.0.1:{smtp_server.port}/alerts%40example.org"
    assert down.error == 'Connection error while submitting email to "127.0.0.1"'

    smtp_server.start()
    up = await send(url, rendered)

    assert up.ok is True
    assert len(smtp_server.wait_for(1)) == 1


async def test_smtp_rejection_is_a_failed_result(smtp_server: SMTPServer) -> None:
    smtp_server.reject("451 4.3.0 Try again later")

    result = await send(smtp_server.url(), render(_message()))

    assert result.ok is False
    assert result.error
    assert smtp_server.messages == []


async def test_password_never_appears_in_a_failure(smtp_server: SMTPServer) -> None:
    url = (
        f"mailto://alerts:Sup3rSecretPw@127.0.0.1:{smtp_server.port}"
        "?from=monitor@example.org&to=legal@example.org"
    )
    smtp_server.stop()

    result = await send(url, render(_message()))

    assert result.ok is False
    assert "Sup3rSecretPw" not in f"{result.target} {result.error}"
    assert "alerts:****@127.0.0.1" in result.target


# -- send: webhook ----------------------------------------------------------------------------


async def test_alert_arrives_at_a_json_webhook(webhook_server: WebhookServer) -> None:
    rendered = render(_message(), "markdown")

    result = await send(webhook_server.url("/hook"), rendered)

    assert result.ok is True
    assert result.target == f"json://127.0.0.1:{webhook_server.port}/hook"
    [request] = webhook_server.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "version": "1.0",
        "title": "[musk] Tesla-Chef trifft Putin",
        "message": rendered.body,
        "attachments": [],
        "type": "info",
    }


async def test_webhook_error_status_is_in_the_error(webhook_server: WebhookServer) -> None:
    webhook_server.respond(500)

    failed = await send(webhook_server.url(), render(_message()))
    recovered = await send(webhook_server.url(), render(_message()))

    assert failed.ok is False
    assert failed.error is not None
    assert "500" in failed.error
    assert recovered.ok is True
    assert len(webhook_server.wait_for(2)) == 2


async def test_concurrent_sends_keep_their_own_errors(
    smtp_server: SMTPServer, webhook_server: WebhookServer
) -> None:
    dead = SMTPServer()  # never started: connections are refused
    results = await asyncio.gather(
        send(dead.url(), render(_message())),
        send(webhook_server.url(), render(_message())),
        send(smtp_server.url(), render(_message())),
    )

    assert [r.ok for r in results] == [False, True, True]
    assert results[0].error == 'Connection error while submitting email to "127.0.0.1"'
    assert results[1].error is None


# -- send: Slack (captured at the HTTP layer) ----------------------------------------------------


async def test_alert_to_slack_is_exactly_this_request(slack_capture: SlackCapture) -> None:
    result = await send(SLACK_URL, render(_message(), "markdown"))

    assert result.ok is True
    assert result.target == "slack://T...A/B...B/c...c/%23newsroom/"
    [request] = slack_capture.requests
    assert request.method == "POST"
    assert request.url == "https://hooks.slack.com/services/{}/{}/{}".format(*SLACK_TOKENS)
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    payload = request.json
    assert isinstance(payload["attachments"][0].pop("ts"), float)
    icon = (
        "https://github.com/caronc/apprise/raw/master/apprise/assets/themes/default/"
        "apprise-info-72x72.png"
    )
    slack_link = LINK.replace("&", "&amp;")
    assert payload == {
        "channel": "#newsroom",
        "mrkdwn": True,
        "icon_url": icon,
        "attachments": [
            {
                "title": "[musk] Tesla-Chef trifft Putin",
                "text": (
                    f"*<{slack_link}|Tesla-Chef trifft Putin>*\n"
                    "\n"
                    "Source: AUTOHAUS  \n"
                    "Published: 2024-05-01 12:30 UTC  \n"
                    "Watchlist: musk  \n"
                    "Terms: Elon Musk, Tesla-Chef\n"
                    "\n"
                    "> Der Tesla-Chef *Elon Musk* trifft in Moskau Wladimir Putin.\n"
                    "\n"
                    f"<{slack_link}>"
                ),
                "color": "#3AA3E3",
                "footer_icon": icon,
                "footer": "Apprise",
            }
        ],
    }


async def test_injection_headline_is_inert_in_slack(slack_capture: SlackCapture) -> None:
    message = _message(title=INJECTION, snippet=INJECTION, highlight=(5, 13))
    for fmt in ("markdown", "html", "text"):
        assert (await send(SLACK_URL, render(message, fmt))).ok

    for request in slack_capture.requests:
        attachment = request.json["attachments"][0]
        for field in (attachment["title"], attachment["text"]):
            # Slack reads <...> as mentions and links: none may come from the feed.
            assert "<!channel>" not in field
            assert "<@here>" not in field
            assert "<script>" not in field
            assert "&lt;!channel&gt;" in field


async def test_slack_error_is_reported(slack_capture: SlackCapture) -> None:
    slack_capture.respond(404, "no_service")

    result = await send(SLACK_URL, render(_message()))

    assert result.ok is False
    assert result.error is not None
    assert "404" in result.error
    assert not any(token in result.error for token in SLACK_TOKENS)


# -- invalid URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "slak://T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc",  # unknown scheme (typo)
        "slack://T0AAAAAAA/B0BBBBBBB/#newsroom",  # known scheme, a token missing
        "mailto://alerts:Sup3rSecretPw@",  # no host
        "not a url at all Sup3rSecretPw",
    ],
)
async def test_invalid_url_fails_without_echoing_secrets(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    result = await send(url, render(_message()))

    assert result.ok is False
    assert result.error is not None
    assert result.error.startswith("not a valid apprise URL: ")
    for secret in (*SLACK_TOKENS[:2], "Sup3rSecretPw"):
        assert secret not in result.error
        assert secret not in result.target
        assert secret not in caplog.text  # apprise logs rejected URLs verbatim: kept out


def test_check_url_masks_or_explains() -> None:
    assert check_url(SLACK_URL) == "slack://T...A/B...B/c...c/%23newsroom/"
    with pytest.raises(NotifyError, match=r"^not a valid apprise URL: slak://\*\*\*") as caught:
        check_url("slak://T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc")
    assert "T0AAAAAAA" not in str(caught.value)


def test_check_url_says_why_apprise_refused() -> None:
    with pytest.raises(NotifyError) as caught:
        check_url("slack://T0AAAAAAA/B0BBBBBBB/#newsroom")

    assert "Slack" in str(caught.value)
    assert "B0BBBBBBB" not in str(caught.value)


# -- custom schemas ---------------------------------------------------------------------------


async def test_console_prints_the_notification(capsys: pytest.CaptureFixture[str]) -> None:
    rendered = render(_message(), "text")

    result = await send("console://", rendered)

    assert result == SendResult(ok=True, target="console://")
    out = capsys.readouterr().out
    assert out == f"{rendered.title}\n{rendered.body}\n\n"


async def test_log_schema_logs_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.notify")

    result = await send("log://", render(_message(), "text"))

    assert result.ok is True
    [record] = [r for r in caplog.records if r.name == "monitor.notify"]
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith(
        "notification: [musk] Tesla-Chef trifft Putin | Tesla-Chef trifft Putin / "
    )


def test_register_schemas_is_idempotent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="apprise")

    register_schemas()
    register_schemas()

    assert caplog.records == []
    assert check_url("console://") == "console://"
    assert check_url("log://") == "log://"
