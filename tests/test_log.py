"""monitor.log: the daemon's log format, and no secret in any log line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fixtures_notify import SlackCapture

from monitor.log import mask_secrets, register_secret, setup_logging
from monitor.notify import send
from monitor.notify.render import Rendered

SLACK_TOKENS = ("T0AAAAAAA", "B0BBBBBBB", "cccccccccccccccccccccccc")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """setup_logging changes process-wide state: put it back for the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("apprise", "urllib3")}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("POST https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccc failed", "T0AAAAAAA"),
        ('urllib3: "POST /services/T0AAAAAAA/B0BBBBBBB/cccccccccccc HTTP/1.1" 200', "cccccccccccc"),
        ("loading slack://T0AAAAAAA/B0BBBBBBB/cccccccc/#newsroom", "B0BBBBBBB"),
        ("loading slack://xoxb-1234-5678-abcdef/#general", "xoxb-1234"),
        ("mailtos://alerts:Sup3rSecret@smtp.example.com?to=x@example.com", "Sup3rSecret"),
        ("mailtos://alerts:p@ss@word@smtp.example.com", "ss@word"),
        ("GET https://api.example.com/feed?id=3&token=abc123def&x=1", "abc123def"),
        ("GET https://api.example.com/feed?password=hunter22", "hunter22"),
        ("ntfy config apikey=k-987654 loaded", "k-987654"),
        ("GET https://example.com/?access_token=zz-top-99", "zz-top-99"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi"),
    ],
)
def test_mask_secrets_patterns(line: str, secret: str) -> None:
    masked = mask_secrets(line)

    assert secret not in masked
    assert "***" in masked


def test_mask_secrets_keeps_what_is_not_secret() -> None:
    line = "slack://***/#newsroom delivered to https://www.example.com:8443/feed?id=3 (mailto)"

    assert mask_secrets(line) == line
    assert mask_secrets("loading slack://T0AAAAAAA/B0BBBBBBB/cccccccc/#newsroom") == (
        "loading slack://***/#newsroom"
    )
    assert mask_secrets("mailtos://alerts:Sup3rSecret@smtp.example.com") == (
        "mailtos://alerts:***@smtp.example.com"
    )


def test_registered_secret_is_masked_verbatim_and_url_encoded() -> None:
    register_secret("s3cr3t/with+plus")

    assert mask_secrets("key is s3cr3t/with+plus!") == "key is ***!"
    assert mask_secrets("in a url: x://h/s3cr3t%2Fwith%2Bplus") == "in a url: x://h/***"


def test_short_registered_values_are_ignored() -> None:
    register_secret("ab")

    assert mask_secrets("a cab and a crab") == "a cab and a crab"


def test_log_line_format() -> None:
    stream = io.StringIO()
    setup_logging("INFO", stream=stream)

    logging.getLogger("monitor.test").info("polled %d feeds", 3)
    logging.getLogger("monitor.test").debug("not shown")

    line = stream.getvalue()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO monitor\.test: polled 3 feeds\n", line
    ), line


def test_json_log_lines() -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", json=True, stream=stream)

    logging.getLogger("monitor.test").warning("channel %s failed", "slack://T0AAAAAAA/B0B/ccc")

    entry = json.loads(stream.getvalue())
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "monitor.test"
    assert entry["message"] == "channel slack://*** failed"
    assert entry["time"].endswith("Z")


def test_setup_logging_twice_does_not_duplicate_lines() -> None:
    stream = io.StringIO()
    setup_logging("INFO", stream=io.StringIO())
    setup_logging("INFO", stream=stream)

    logging.getLogger("monitor.test").info("once")

    assert stream.getvalue().count("once") == 1


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("LOUD")


def test_traceback_is_masked() -> None:
    stream = io.StringIO()
    setup_logging("INFO", stream=stream)

    try:
        raise ConnectionError("cannot reach https://hooks.slack.com/services/T0AAAAAAA/B0B/ccc")
    except ConnectionError:
        logging.getLogger("monitor.test").exception("send failed")

    assert "Traceback" in stream.getvalue()
    assert "T0AAAAAAA" not in stream.getvalue()


def test_apprise_stays_at_warning_when_we_debug() -> None:
    setup_logging("DEBUG", stream=io.StringIO())

    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("apprise").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING


async def test_slack_tokens_never_reach_the_log(slack_capture: SlackCapture) -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream)
    url = "slack://{}/{}/{}/#newsroom".format(*SLACK_TOKENS)
    rendered = Rendered(
        title="[musk] Tesla-Chef trifft Putin", body="**hit**", body_format="markdown"
    )

    assert (await send(url, rendered)).ok
    pinned = stream.getvalue()

    # Even when someone lowers apprise's logger, the handler's filter masks its webhook URL.
    logging.getLogger("apprise").setLevel(logging.DEBUG)
    assert (await send(url, rendered)).ok
    debug = stream.getvalue()[len(pinned) :]

    assert "Slack POST URL: https://hooks.slack.com/services/***" in debug
    for token in SLACK_TOKENS:
        assert token not in pinned
        assert token not in debug
    assert len(slack_capture.requests) == 2
