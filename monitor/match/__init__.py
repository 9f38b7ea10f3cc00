"""Matching: which watchlists a story hits, where, and an excerpt to show it.

`compile_engine` turns the configured watchlists and entities into an `Engine` once (and
again on every reload); `Engine.match` is then a pure function of a `Story`. `snippet` cuts
the excerpt a notification shows around a hit. How words are read lives in `analysis`.
"""

from __future__ import annotations

from monitor.match.engine import Engine, Scan, compile_engine
from monitor.match.highlight import snippet

__all__ = ["Engine", "Scan", "compile_engine", "snippet"]
