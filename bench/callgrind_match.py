"""Instructions per article of the match engine, counted by callgrind: a deterministic
figure for comparing small changes, which wall-clock timings on a shared machine (±15 %)
cannot resolve.

    bench/callgrind_match.sh 1000          # instructions per article at 1,000 queries

The same world as `bench_match.py` (its `Corpus`): N queries are compiled, then 300 articles
matched inside one `eval` call, the only stretch callgrind counts (`--toggle-collect=
builtin_eval`), with the garbage collector frozen and off so that a collection falling into
that stretch does not blur the figure. The script is run twice, `setup` (no matching) and
`run`; the difference over 300 is the figure.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_match import Corpus

from monitor.match import compile_engine
from monitor.models import Watchlist

ARTICLES = 300


def main() -> None:
    mode, size = sys.argv[1], int(sys.argv[2])
    corpus = Corpus()
    stream = [corpus.article() for _ in range(ARTICLES)]
    generated = [corpus.query() for _ in range(size)]
    watchlists = [Watchlist(name=f"q{i}", query=text) for i, (text, _) in enumerate(generated)]
    engine = compile_engine(watchlists, corpus.entities)
    gc.collect()
    gc.freeze()
    gc.disable()
    if mode == "run":
        # Names passed as the globals of the evaluated code: its comprehension cannot see
        # this function's locals.
        eval("[len(match(story)) for story in stream]", {"match": engine.match, "stream": stream})


if __name__ == "__main__":
    main()
