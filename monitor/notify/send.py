"""Deliver one rendered message to one apprise URL, and say plainly how it went.

One URL per call: a channel with several URLs gets one delivery (and one outbox row) per URL, so
a partial success is never sent again to the targets that already have it.

`send` never raises for a delivery problem: it returns `SendResult(ok=False, error=...)`, with
the reason apprise logged for that very call (apprise 2 captures each call's log entries in its
result, so concurrent sends never mix their reasons). Every string it returns is free of the
URL's secrets: the target is apprise's privacy-masked URL, and errors are masked against the
URL's own credentials as well as `monitor.log.mask_secrets`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote

import apprise

from monitor.errors import NotifyError
from monitor.log import MASK, mask_secrets
from monitor.notify.render import Rendered

_APPRISE_LOGGER = logging.getLogger("apprise")
# Tokens shorter than this are not worth masking (and masking them would garble messages).
_MIN_SECRET = 3
_URL_PARTS = re.compile(r"[/@:?&#,;+\s]+")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SendResult:
    """How one delivery went. `target` and `error` are safe to log and store."""

    ok: bool
    target: str
    """apprise's privacy-masked URL (credentials shortened or starred), without its options."""
    error: str | None = None


async def send(url: str, rendered: Rendered, *, timeout: float = DEFAULT_TIMEOUT) -> SendResult:
    """Send `rendered` to the single apprise `url`; never raises for a delivery failure.

    `timeout` bounds the whole call in seconds (apprise reports an unfinished send as a timeout).
    """
    try:
        ap, masked = _load(url)
    except NotifyError as exc:
        return SendResult(ok=False, target=_scheme_only(url), error=str(exc))
    target = masked.split("?", 1)[0]
    try:
        result = await ap.async_notify(
            body=rendered.body,
            title=rendered.title,
            body_format=rendered.body_format,
            timeout=timeout,
        )
    except Exception as exc:  # a plugin bug must not take the outbox worker down
        error = _redact(url, masked, f"apprise raised {type(exc).__name__}: {exc}")
        return SendResult(ok=False, target=target, error=error)
    with result:
        if result:
            return SendResult(ok=True, target=target)
        return SendResult(ok=False, target=target, error=_failure_reason(url, masked, result))


def check_url(url: str) -> str:
    """Return the privacy-masked form of `url`, or raise NotifyError saying why apprise refuses it.

    For `monitor check`: it proves a URL loads without sending anything.
    """
    return _load(url)[1].split("?", 1)[0]


def _load(url: str) -> tuple[apprise.Apprise, str]:
    ap = apprise.Apprise()
    with _capture_apprise_log() as reasons:
        added = ap.add(url)
    if added and len(ap) > 1:
        raise NotifyError(
            f"{len(ap)} apprise URLs in one entry ({_scheme_only(url)}): list each URL separately"
        )
    if not added or len(ap) != 1:
        why = "; ".join(dict.fromkeys(_redact(url, None, r) for r in reasons))
        raise NotifyError(
            f"not a valid apprise URL: {_scheme_only(url)}" + (f" ({why})" if why else "")
        )
    masked: str = ap[0].url(privacy=True)  # type: ignore[no-untyped-call]
    return ap, masked


def _failure_reason(url: str, masked: str, result: apprise.AppriseResult) -> str:
    """The warnings and errors apprise logged during this call, masked, or its bare status."""
    messages = [
        entry.message
        for entry in result.logs()
        if entry.level in ("WARNING", "ERROR", "CRITICAL") and entry.message
    ]
    if not messages:
        status = result.status.name.lower()
        return "timed out" if status == "timeout" else f"apprise reported {status}"
    return "; ".join(dict.fromkeys(_redact(url, masked, m) for m in messages))


def _redact(url: str, masked: str | None, text: str) -> str:
    """Mask in `text` every piece of `url` that apprise's masked form hides.

    apprise's plugins know which parts of their URL are secret (`url(privacy=True)` hides them);
    whatever does not survive into the masked form is treated as a secret here. Without a masked
    form (the URL did not load), every piece after the scheme is.
    """
    for part in sorted(_secret_parts(url, masked), key=len, reverse=True):
        text = text.replace(part, MASK)
    return mask_secrets(text)


def _secret_parts(url: str, masked: str | None) -> set[str]:
    match = _SCHEME.match(url)
    rest = url[match.end() :] if match else url
    parts: set[str] = set()
    for piece in _URL_PARTS.split(rest):
        # Query keys ("to", "from") are not secret; their values might be.
        for candidate in (piece.split("=", 1)[-1], unquote(piece.split("=", 1)[-1])):
            if len(candidate) >= _MIN_SECRET:
                parts.add(candidate)
    if masked is not None:
        visible = unquote(masked)
        parts = {p for p in parts if p not in masked and p not in visible}
    return parts


def _scheme_only(url: str) -> str:
    """What may be shown of a URL apprise could not load: its scheme, nothing else."""
    match = _SCHEME.match(url)
    return f"{match.group(1).lower()}://{MASK}" if match else MASK


@contextmanager
def _capture_apprise_log() -> Iterator[list[str]]:
    """Collect (and keep out of the logs) what apprise logs in this thread while loading a URL.

    apprise logs rejected URLs verbatim at ERROR, secrets included. `Apprise.add` is
    synchronous, so filtering on this thread catches exactly its records and lets records of
    sends running in apprise's worker threads through.
    """
    captured: list[str] = []
    thread = threading.get_ident()

    def _swallow(record: logging.LogRecord) -> bool:
        if record.thread != thread:
            return True
        if record.levelno >= logging.WARNING:
            captured.append(record.getMessage())
        return False

    _APPRISE_LOGGER.addFilter(_swallow)
    try:
        yield captured
    finally:
        _APPRISE_LOGGER.removeFilter(_swallow)
