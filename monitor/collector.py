"""Work that makes many objects, without the cyclic garbage collector in the way.

The collector runs after every ~700 container objects made, and every tenth or hundredth of
its runs rescans every object the process holds. Two kinds of work make objects by the
thousand and create no reference cycles, so its runs there find nothing:

* **A poll's batch in the store** (`paused`): rows, fingerprints, candidates, freed when the
  batch ends. Round 1 of bench/bench_dedupe.py at 1,000,000 stored took 0.41-0.55 s of CPU
  with the collector and 0.37-0.39 s with the bench's heap frozen (scratch runs, three each).

* **Long-lived objects** (`lasting`): an engine of 100,000 queries, and the parsed query
  trees a restart loads for it, are millions of small objects (reference counting frees
  them when a reload replaces them). The collector, triggered by their number, would only
  rescan them: over and over while they are made (70 % of loading saved parses at 100,000
  queries), and after (collections during matching cost more than the matching itself). So
  it is paused while they are made and, from `FREEZE_FROM` of them, they are moved out of
  its sight (`gc.freeze`), after the garbage already pending is collected: cheap before
  they exist, and none of it is frozen with them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

FREEZE_FROM = 5_000
"""Things built (watchlists, saved query trees) from which they are frozen; below, the
collector's rescans cost little."""


@contextmanager
def paused() -> Iterator[None]:
    """The collector paused inside (as it was after); what the block made is collected by its
    next run, if it is garbage at all."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def lasting(count: int) -> Iterator[None]:
    """Build `count` things that live as long as the process inside: the collector paused,
    and what was built frozen after (from `FREEZE_FROM`) unless the block raised."""
    freeze = count >= FREEZE_FROM
    if freeze:
        gc.collect()
    with paused():
        yield
        if freeze:
            gc.freeze()
