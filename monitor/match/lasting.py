"""Building many long-lived objects without the cyclic garbage collector in the way.

An engine of 100,000 queries, and the parsed query trees a restart loads for it, are
millions of small objects, none in a reference cycle (reference counting frees them when a
reload replaces them). The collector, triggered by their number, would only rescan them:
over and over while they are made (70 % of loading saved parses at 100,000 queries), and
after (collections during matching cost more than the matching itself). So it is paused
while they are made and, from `FREEZE_FROM` of them, they are moved out of its sight
(`gc.freeze`), after the garbage already pending is collected: cheap before they exist, and
none of it is frozen with them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

FREEZE_FROM = 5_000
"""Things built (watchlists, saved query trees) from which they are frozen; below, the
collector's rescans cost little."""


@contextmanager
def lasting(count: int) -> Iterator[None]:
    """Build `count` things that live as long as the process inside: the collector paused,
    and what was built frozen after (from `FREEZE_FROM`) unless the block raised."""
    freeze = count >= FREEZE_FROM
    if freeze:
        gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()
