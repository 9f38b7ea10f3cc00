"""Notifications: render an alert for a channel and deliver it through apprise.

Importing the package registers the credential-free `console://` and `log://` schemas.
The outbox worker (`monitor.notify.outbox`) drives delivery; this package gives it its parts.
"""

from __future__ import annotations

from monitor.notify.render import Rendered, render, render_test_message
from monitor.notify.schemas import register_schemas
from monitor.notify.send import SendResult, check_url, send

register_schemas()

__all__ = [
    "Rendered",
    "SendResult",
    "check_url",
    "register_schemas",
    "render",
    "render_test_message",
    "send",
]
