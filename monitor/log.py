"""Logging for the daemon: one format, and no secret ever reaches a log line.

Channel URLs carry credentials (Slack webhook tokens, SMTP passwords, API keys), and apprise
(and urllib3 under it) log those URLs verbatim at DEBUG and sometimes at ERROR. Two defences:

- apprise's and urllib3's loggers are pinned at WARNING or above, even when ours run at DEBUG;
- every handler `setup_logging` installs carries `SecretFilter`, which masks known secret
  shapes (`mask_secrets`) and every value passed to `register_secret` (the `${ENV_VAR}`
  values substituted at config load), in the message and in any traceback.
"""

from __future__ import annotations

import json as _json
import logging
import re
import sys
import threading
import time
from typing import TextIO
from urllib.parse import quote

MASK = "***"

# Loggers that log request URLs (with their secrets) at DEBUG or INFO: never below WARNING.
_NOISY_LOGGERS = ("apprise", "urllib3", "httpx", "httpcore")

# register_secret ignores shorter values: masking every "a" or "42" would garble the logs.
_MIN_SECRET_LENGTH = 4

_URL_CHARS = r"[^\s\"'<>]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Slack incoming webhooks: the whole path after /services/ is the credential.
    (re.compile(r"(?i)(hooks\.slack(?:-gov)?\.com/services/)[^\s\"'<>?#]+"), rf"\1{MASK}"),
    # The same path without its host, as urllib3 logs it: "POST /services/T…/B…/… HTTP/1.1".
    (re.compile(r"(/services/)T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"), rf"\1{MASK}"),
    # slack:// URLs: every path segment before the channel (#, %23, @, +) is a token.
    (
        re.compile(r"(?i)\b(slack://)[^/\s?#\"'<>]+(?:/(?!#|%23|@|%40|\+)[^/\s?#\"'<>]+)*"),
        rf"\1{MASK}",
    ),
    # Passwords in scheme://user:password@host (the password may itself hold an "@").
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@\"'<>]*:)[^\s/\"'<>]+(?=@)"), rf"\1{MASK}"),
    # ?token=… &password=… apikey=… and friends, in URLs or free text.
    (
        re.compile(
            r"(?i)\b((?:access_|auth_|api_|refresh_|client_|private_)?"
            r"(?:token|secret|password|passwd|pass|pwd|apikey|api-key|key|signature|sig)"
            r"=)[^&\s#\"'<>,;]+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{MASK}"),
)

_secrets_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_re: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Mask `value` verbatim (and URL-encoded) in every log line from now on.

    Settings calls this for each `${ENV_VAR}` it substitutes: such a value can sit anywhere in
    a URL, where no pattern could recognise it. Values shorter than 4 characters are ignored.
    """
    global _secrets_re
    candidates = {value, quote(value, safe="")}
    with _secrets_lock:
        new = {c for c in candidates if len(c) >= _MIN_SECRET_LENGTH} - _secrets
        if not new:
            return
        _secrets.update(new)
        # Longest first, so a secret containing another is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_re = re.compile("|".join(re.escape(s) for s in ordered))


def mask_secrets(text: str) -> str:
    """Return `text` with registered secrets and known secret shapes replaced by `***`."""
    registered = _secrets_re
    if registered is not None:
        text = registered.sub(MASK, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretFilter(logging.Filter):
    """Rewrites each record so its message, traceback and stack hold no secret.

    Installed on handlers (not loggers) so it also covers records propagated from libraries.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


class _UTCFormatter(logging.Formatter):
    """ISO 8601 UTC timestamps: the daemon runs in containers and across time zones."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class _JSONFormatter(_UTCFormatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return _json.dumps(entry, ensure_ascii=False)


class _MonitorHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handlers we install, so a second `setup_logging` replaces them.

    Without an explicit stream it writes to whatever `sys.stderr` is at the time of each
    record, not the one at setup: a caller that swaps stderr (a test runner, a supervisor
    wrapper) never leaves us writing to a closed file.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._follow_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow_stderr:
            self.stream = sys.stderr
        super().emit(record)


def setup_logging(level: str = "INFO", json: bool = False, *, stream: TextIO | None = None) -> None:
    """Configure the root logger for the daemon; calling it again replaces the previous setup.

    `level` is a logging level name (DEBUG, INFO, ...); `json` writes one JSON object per line;
    `stream` defaults to standard error.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _MonitorHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _MonitorHandler(stream)
    handler.setFormatter(
        _JSONFormatter()
        if json
        else _UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(SecretFilter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    # APScheduler logs every job run at INFO: only worth reading when debugging.
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
    )
