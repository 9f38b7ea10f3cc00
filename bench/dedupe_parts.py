"""Where the store path's time goes: rounds 1 and 2 of `bench_dedupe.py`, per part.

    python bench/dedupe_parts.py                             # 1,000,000 stored, in a temp dir
    python bench/dedupe_parts.py --keep /tmp/big.db          # loaded once, kept for next runs
    python bench/dedupe_parts.py --keep /tmp/small.db --stored 20000

With `--keep` the loaded file stays at that path and each run works on a copy (fsynced
before the clock starts), so two trees can be compared on the same data, alternately. Each part
of `Stories.status` and `Stories.ingest_many` is timed by wrapping it (wall clock, µs per
story; nested parts are included in their callers), and each round's user and system CPU
time is printed: steadier than `bench_dedupe.py`'s rates on a shared machine, whose disk
and other tenants move a round's wall time by ±30 %.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dedupe as bench

from monitor.store import Store, band_index, events, ingest
from monitor.store import stories as stories_module

_spent: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)

PARTS: list[tuple[Any, str]] = [
    (stories_module.Stories, "status"),
    (stories_module.Stories, "_batch"),
    (ingest.Batch, "run"),
    (ingest.Batch, "_lookup"),
    (ingest, "known_keys"),
    (band_index.BandIndex, "catch_up"),
    (band_index.BandIndex, "recent"),
    (events, "best"),
    (ingest.Batch, "_flush"),
    (ingest, "insert_ids"),
    (ingest, "insert_plain"),
    (bench, "checkpoint"),
]
"""(owner, attribute): what is timed. `_batch` is `run` plus the commit."""


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _spent[label] += time.perf_counter() - start
            _calls[label] += 1

    return timed


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keep", type=Path, help="load into (or reuse) this SQLite file")
    parser.add_argument("--stored", type=int, default=1_000_000, help="stories to load")
    args = parser.parse_args()
    if args.keep is not None:
        run(args.keep, args.stored)
        return
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as scratch:
        run(Path(scratch) / "big.db", args.stored)


def run(base: Path, stored: int) -> None:
    corpus = bench.load_corpus()
    if not base.exists():
        prints = [
            (i.fingerprint.encode(), i.event.encode(), len(bench.event_keys(i.event)))
            for i in (bench.identify(s) for items in corpus.values() for s in items)
        ]
        seconds = bench.load_in_child(f"sqlite:///{base}", stored, prints, str(base.parent))
        print(f"loaded {stored:,} stories into {base} in {seconds:.0f} s")
    work = base.with_name(base.name + ".work")
    for stale in work.parent.glob(work.name + "*"):
        stale.unlink()
    shutil.copy(base, work)
    os.sync()
    for owner, name in PARTS:
        setattr(owner, name, _timed(name, getattr(owner, name)))
    store = Store.open(f"sqlite:///{work}")
    try:
        store.stories.load_index(bench.NOW)
        rounds = [
            ("round 1", bench.timed_identify(corpus)[0]),
            ("round 2", bench.timed_identify(bench.copies(corpus, "copy"))[0]),
        ]
        for label, polls in rounds:
            _spent.clear()
            _calls.clear()
            user, system = _cpu()
            seconds, total, _, _ = bench.poll_round(store, polls)
            user2, system2 = _cpu()
            print(
                f"{label}: {total / seconds:,.0f} stories/s, {1e6 * seconds / total:.0f} µs a "
                f"story: user CPU {1e6 * (user2 - user) / total:.0f}, "
                f"system {1e6 * (system2 - system) / total:.0f}"
            )
            for name, spent in sorted(_spent.items(), key=lambda item: -item[1]):
                print(f"  {name:12} {1e6 * spent / total:7.1f} µs a story ({_calls[name]} calls)")
    finally:
        store.close()
        for stale in work.parent.glob(work.name + "*"):
            stale.unlink()


if __name__ == "__main__":
    main()
