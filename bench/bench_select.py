"""The pre-checks' two ways (`monitor.match.select`) against each other, by how many
candidates a story has: where numpy's arrays overtake the sets (`ARRAY_CANDIDATES`).

    python bench/bench_select.py    # a minute or two

Queries and articles are bench_match's agency stream. Every story is tested both ways,
alternately, on the same engine; each bucket prints microseconds per story and the ratio.
"""

from __future__ import annotations

import time
from collections import defaultdict

from bench_match import Corpus

from monitor.match import compile_engine
from monitor.match.select import ARRAY_CANDIDATES, Selector
from monitor.models import Watchlist

BUCKETS = (0, 100, 175, 250, 350, 500, 1_000)


def run(sizes: list[int], articles: int) -> None:
    corpus = Corpus()
    stream = [corpus.article() for _ in range(articles)]
    print(f"threshold in use: {ARRAY_CANDIDATES} candidates")
    print(
        f"{'queries':>8} {'candidates':>10} {'stories':>7} {'sets us':>8} {'arrays us':>9} "
        f"{'ratio':>6}"
    )
    for size in sizes:
        watchlists = [Watchlist(name=f"q{i}", query=corpus.query()[0]) for i in range(size)]
        engine = compile_engine(watchlists, corpus.entities)
        compiled = engine._c
        by_sets = Selector(compiled.anchors, compiled.prechecks, array_candidates=10**9)
        by_arrays = Selector(compiled.anchors, compiled.prechecks, array_candidates=0)
        by_arrays.survivors(engine._scan(stream[0]).atoms)  # builds its arrays, not timed
        times: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        for story in stream:
            atoms = engine._scan(story).atoms
            bucket = max(b for b in BUCKETS if len(by_sets.candidates(atoms)) >= b)
            row = times[bucket]
            for way, selector in enumerate((by_sets, by_arrays)):
                started = time.perf_counter()
                for _ in range(3):
                    selector.survivors(atoms)
                row[way] += (time.perf_counter() - started) / 3
            row[2] += 1
        for bucket in sorted(times):
            sets, arrays, count = times[bucket]
            print(
                f"{size:>8,} {bucket:>9}+ {count:>7} {sets / count * 1e6:>8.0f} "
                f"{arrays / count * 1e6:>9.0f} {sets / arrays:>5.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    run([10_000, 50_000, 100_000], articles=600)
