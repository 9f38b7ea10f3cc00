"""Custom apprise schemas that need no account: `console://` and `log://`.

They let the example config (and a first run) deliver alerts somewhere visible before any real
channel is set up, through the same apprise path every other channel takes.

- `console://` prints the title and body to standard output;
- `log://` logs them through the `monitor.notify` logger at INFO.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from apprise import NotificationManager
from apprise.decorators import notify

log = logging.getLogger("monitor.notify")

_lock = threading.Lock()


def _console(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
    """Print one notification; a blank line separates it from the next."""
    text = f"{title}\n{body}\n\n" if title else f"{body}\n\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def _log(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
    """Log one notification on one line, so log shippers keep it in one record."""
    log.info("notification: %s | %s", title, " / ".join(body.splitlines()))
    return True


_SCHEMAS = {
    "console": ("media-monitor console", _console),
    "log": ("media-monitor log", _log),
}


def register_schemas() -> None:
    """Teach apprise `console://` and `log://`; safe to call any number of times.

    apprise keeps plugins in a process-wide registry and warns when a schema is registered
    twice, so a schema that is already known is left alone.
    """
    registry = NotificationManager()  # type: ignore[no-untyped-call]
    with _lock:
        for schema, (name, function) in _SCHEMAS.items():
            if schema not in registry:
                notify(on=schema, name=name)(function)  # type: ignore[no-untyped-call]
