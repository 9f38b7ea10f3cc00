"""Shared fixtures. Real servers on loopback live in their own plugin modules."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# The real-world feeds shared by the team: ../shared/corpus/feeds next to the checkout.
CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"

sys.path.insert(0, str(TESTS))

pytest_plugins = [
    "fixtures_feeds",  # feed HTTP server (tests/servers/feeds.py)
    "fixtures_notify",  # SMTP server, webhook receiver, Slack capture (tests/servers/...)
    "fixtures_store",  # real SQLite and PostgreSQL stores
]
