"""Shared fixtures. Real servers on loopback live in their own plugin modules."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CORPUS = Path(os.environ.get("MONITOR_CORPUS") or ROOT.parent / "shared" / "corpus" / "feeds")
"""The real-world feeds shared by the team: ../shared/corpus/feeds next to the checkout, or
where MONITOR_CORPUS points. They are not part of this repository."""
REQUIRE_CORPUS = bool(os.environ.get("MONITOR_REQUIRE_CORPUS"))
"""Set by CI (`.ci/run`): there a missing corpus is a failure, not a skip."""
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir() and not REQUIRE_CORPUS,
    reason=f"the real-world feed corpus is not at {CORPUS} (set MONITOR_CORPUS)",
)

sys.path.insert(0, str(TESTS))

pytest_plugins = [
    "fixtures_feeds",  # feed HTTP server (tests/servers/feeds.py)
    "fixtures_notify",  # SMTP server, webhook receiver, Slack capture (tests/servers/...)
    "fixtures_store",  # real SQLite and PostgreSQL stores
]
