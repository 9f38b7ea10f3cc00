"""A/B of a change to the matching hot path: articles/s of two versions, in one process.

    python bench/ab_match.py HEAD~1                    # engine.py of HEAD~1 against the tree's
    python bench/ab_match.py HEAD~1 --module select    # select.py instead
    python bench/ab_match.py HEAD~1 --size 10000 --rounds 8

Runs of `bench_match.py` vary by ±10–30 % on this machine (its neighbours' memory traffic),
more than most changes to matching are worth. Here both versions run over one compiled
index in one process, in ABBA order (old, new, new, old, …) over the same articles, so a
slow spell hits both alike; it prints each round, the means and new / old. The old version
is the module's file at REV (`git show`), loaded beside the package's own: only `engine`
and `select` can be compared this way, since their classes are built from compiled data
(a change anywhere else needs fresh processes, run alternately). Both versions must find
the same matches on the first articles, or it stops.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bench_match import Corpus

from monitor.match import compile_engine
from monitor.match.engine import Engine
from monitor.models import Story, Watchlist

WARM = 200
"""Articles matched by each version before the timing (at 100,000 queries the first with
250 candidates builds `select`'s arrays)."""


def _old_module(rev: str, name: str) -> ModuleType:
    """`monitor/match/NAME.py` as it was at `rev`, run as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{rev}:monitor/match/{name}.py"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = ModuleType(f"{name}_at_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up while being made
    exec(compile(source, f"{rev}:monitor/match/{name}.py", "exec"), module.__dict__)
    return module


def _rate(engine: Any, stream: list[Story]) -> float:
    started = time.perf_counter()
    for story in stream:
        engine.match(story)
    return len(stream) / (time.perf_counter() - started)


def run(rev: str, module: str, size: int, articles: int, rounds: int) -> None:
    corpus = Corpus()
    stream = [corpus.article() for _ in range(WARM + articles)]
    watchlists = [Watchlist(name=f"q{i}", query=corpus.query()[0]) for i in range(size)]
    new = compile_engine(watchlists, corpus.entities)
    old_code = _old_module(rev, module)
    if module == "engine":
        old = old_code.Engine(watchlists, new._c)
        old._select = new._select  # one selector: its arrays are built once, for both
    else:
        old = Engine(watchlists, new._c)
        old._select = old_code.Selector(new._c.anchors, new._c.prechecks)
    warm, timed = stream[:WARM], stream[WARM:]
    for engine in (old, new):
        for story in warm:
            engine.match(story)
    if [old.match(s) for s in timed[:200]] != [new.match(s) for s in timed[:200]]:
        sys.exit(f"{module}.py at {rev} and in the tree find different matches: not comparable")
    rates: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(rounds // 2):
        for which in ("old", "new", "new", "old"):
            rates[which].append(_rate(old if which == "old" else new, timed))
    print(f"{size:,} queries, {len(timed)} articles a round, {module}.py at {rev} (old) vs tree")
    for which, got in rates.items():
        rounds_text = " ".join(f"{rate:,.0f}" for rate in got)
        print(f"{which}: {rounds_text}   mean {sum(got) / len(got):,.0f} articles/s")
    ratio = sum(rates["new"]) / sum(rates["old"])
    print(f"new / old: {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the git revision of the old version (HEAD~1, a commit)")
    parser.add_argument("--module", choices=("engine", "select"), default="engine")
    parser.add_argument("--size", type=int, default=100_000, help="queries (default 100,000)")
    parser.add_argument("--articles", type=int, default=800, help="articles a round")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per version, even")
    args = parser.parse_args()
    run(args.rev, args.module, args.size, args.articles, max(2, args.rounds))


if __name__ == "__main__":
    main()
