"""Match-engine benchmark: articles/s, compile time and memory at N watchlists, against a naive
baseline (every query on its own, one regex per term) measured in the same run.

    python bench/bench_match.py            # N = 1,000, 10,000, 100,000 (a few minutes)
    python bench/bench_match.py --quick    # N = 1,000 and 5,000, fewer articles (seconds)
    python bench/bench_match.py --hard     # the pre-filter's worst case (see `Corpus`)
    python bench/bench_match.py --sizes 100000    # one size only

Queries are generated to look like an agency's: 5–20 terms shaped `(subject OR …) AND
(context OR …) [AND (…)] [NOT (…)]`, with phrases, trailing wildcards, `#Entity` references
(10,000 entities, some with `require`/`exclude`), proximity and `title:` terms. Subjects are
names, contexts topic words; ~2,000-character articles mix common words, topic words (10%)
and names (5%, by a Zipf law). See `Corpus` for the two streams.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path
from typing import Any

from monitor.match import compile_engine, compiler
from monitor.match import query as query_module
from monitor.models import Entity, Story, Watchlist
from monitor.runtime import engine_with_store
from monitor.store import Store

NAME_SYLLABLES = "ka ro mi tes la pu tin kre ml sta lin mu sk el on rg an fi sch er wa"
TOPIC_SYLLABLES = "au bei cho dra fu gli hau kom lei neu pro qua rü sto tri vol zug"
COMMON_SYLLABLES = "be de ge he je le me ne pe re se te ve we ze ba do gu ho"


def _words(rng: random.Random, count: int, low: int, high: int, syllables: str) -> list[str]:
    """`count` distinct words of `low` to `high` syllables (there must be that many)."""
    pieces = syllables.split()
    made: dict[str, None] = {}
    while len(made) < count:
        made["".join(rng.choice(pieces) for _ in range(rng.randint(low, high)))] = None
    return list(made)


class Corpus:
    """A deterministic world: names, topic words, entities, queries, articles.

    `hard=False` (the default) models an agency: a query's subject is a client, competitor
    or public figure — half drawn by fame (Zipf: the famous are watched by many), half
    uniformly from 200,000 names (the long tail of clients) — AND-ed with topic words, which
    are common in articles. `hard=True` draws every query word by fame, so the most
    frequent names in the stream are in thousands of queries: the pre-filter's worst case.
    """

    def __init__(self, seed: int = 7, *, hard: bool = False) -> None:
        rng = self.rng = random.Random(seed)
        self.hard = hard
        self.names = [n.capitalize() for n in _words(rng, 200_000, 3, 5, NAME_SYLLABLES)]
        self.topics = _words(rng, 5_000, 2, 4, TOPIC_SYLLABLES)
        self.common = _words(rng, 8_000, 1, 4, COMMON_SYLLABLES)
        self.name_weights = list(accumulate(1 / (r + 100) for r in range(len(self.names))))
        self.topic_weights = list(accumulate(1 / (r + 20) for r in range(len(self.topics))))
        self.entities = [
            Entity(
                name=f"{self.names[i]} {self.names[i + 1]}",
                aliases=(self.names[i + 1],),
                require=(self.topics[i % 500],) if i % 3 == 0 else (),
                exclude=(f"{self.names[i + 1]} {self.names[i + 3]}",) if i % 5 == 0 else (),
            )
            for i in range(0, 40_000, 4)
        ]

    def name(self) -> str:
        if self.hard or self.rng.random() < 0.5:
            return self.rng.choices(self.names, cum_weights=self.name_weights)[0]
        return self.rng.choice(self.names)

    def topic(self) -> str:
        return self.rng.choices(self.topics, cum_weights=self.topic_weights)[0]

    def term(self, subject: bool) -> tuple[str, Any]:
        """One term as (query text, naive form)."""
        word = self.name if subject else self.topic
        roll = self.rng.random()
        if roll < 0.12:
            a, b = word(), word()
            return f'"{a} {b}"', ("phrase", [a, b])
        if roll < 0.18:
            a = word()
            stem = a[: max(4, len(a) - 2)]
            return f"{stem}*", ("prefix", stem)
        if roll < 0.24 and subject:
            entity = self.entities[int(len(self.entities) * self.rng.random() ** 3)]
            return f'#"{entity.name}"', ("entity", entity)
        if roll < 0.27:
            a, b = word(), word()
            return f'"{a} {b}"~5', ("near", [a, b], 5)
        if roll < 0.30:
            a = word()
            return f"title:{a}", ("title", a)
        a = word()
        return a, ("phrase", [a])

    def query(self) -> tuple[str, Any]:
        """5–20 terms in the shape media analysts write: (subject) AND (context), sometimes
        a third AND-ed group, sometimes NOT (exclusions)."""
        budget = self.rng.randint(5, 20)
        negative_size = min(self.rng.choice([0, 0, 1, 2, 3]), budget - 2)
        budget -= negative_size
        subject = self.rng.randint(1, max(1, budget // 2))
        sizes = [subject, budget - subject]
        if sizes[1] >= 6 and self.rng.random() < 0.3:
            sizes = [subject, sizes[1] - 3, 3]
        groups = [
            [self.term(subject=i == 0 or self.hard) for _ in range(size)]
            for i, size in enumerate(sizes)
            if size
        ]
        negative = [self.term(False) for _ in range(negative_size)] if negative_size else None
        text = " AND ".join("(" + " OR ".join(t for t, _ in g) + ")" for g in groups)
        tree: Any = ("and", [("or", [n for _, n in g]) for g in groups])
        if negative:
            text += " NOT (" + " OR ".join(t for t, _ in negative) + ")"
            tree[1].append(("not", ("or", [n for _, n in negative])))
        return text, tree

    def article(self) -> Story:
        words: list[str] = []
        while sum(map(len, words)) + len(words) < 2_000:
            roll = self.rng.random()
            if roll < 0.05:
                words.append(self.rng.choices(self.names, cum_weights=self.name_weights)[0])
            elif roll < 0.15:
                words.append(self.topic())
            else:
                words.append(self.rng.choice(self.common))
        title = [self.rng.choice(self.common) for _ in range(6)] + [self.topic(), self.name()]
        self.rng.shuffle(title)
        return Story(
            feed="bench", title=" ".join(title).capitalize(), link=None, text=" ".join(words) + "."
        )


class Naive:
    """The baseline: each query evaluated on its own, one compiled regex per term."""

    def __init__(self, tree: Any) -> None:
        self.tree = self._compile(tree)

    def _compile(self, node: Any) -> Any:
        kind = node[0]
        if kind in ("and", "or"):
            return (kind, [self._compile(child) for child in node[1]])
        if kind == "not":
            return ("not", self._compile(node[1]))
        if kind == "entity":
            names = [node[1].name, *node[1].aliases]
            return ("re", re.compile(_alternation(names), re.IGNORECASE), False)
        if kind == "prefix":
            return ("re", re.compile(rf"\b{re.escape(node[1])}\w*", re.IGNORECASE), False)
        if kind == "near":
            a, b = (re.escape(w) for w in node[1])
            gap = rf"(?:\W+\w+){{0,{node[2]}}}\W+"
            pattern = rf"\b(?:{a}{gap}{b}|{b}{gap}{a})\b"
            return ("re", re.compile(pattern, re.IGNORECASE), False)
        if kind == "title":
            return ("re", re.compile(_alternation([node[1]]), re.IGNORECASE), True)
        return ("re", re.compile(_alternation([" ".join(node[1])]), re.IGNORECASE), False)

    def matches(self, story: Story) -> bool:
        return self._eval(self.tree, story)

    def _eval(self, node: Any, story: Story) -> bool:
        kind = node[0]
        if kind == "and":
            return all(self._eval(child, story) for child in node[1])
        if kind == "or":
            return any(self._eval(child, story) for child in node[1])
        if kind == "not":
            return not self._eval(node[1], story)
        pattern, title_only = node[1], node[2]
        if pattern.search(story.title):
            return True
        return not title_only and bool(pattern.search(story.text))


def _alternation(names: list[str]) -> str:
    escaped = "|".join(r"\W+".join(map(re.escape, n.split())) for n in names)
    return rf"\b(?:{escaped})(?:'?s)?\b"


NAIVE_MAX = 10_000
WARM_UP = 10
"""The first 1/WARM_UP of the articles are matched before `articles/s` is timed (their time
is printed apart)."""
COLD_STARTS = 3
"""`compile s` is the median of this many cold compiles, each in a new process holding only
the watchlists and entities, as a daemon's first start does (`_cold_start_child`; each is
printed at the row's end). One cold compile of the same code took 8.6 s in one run and
15.8 s in another an hour later (2026-12-07), and in one process a compile after another
took 7.3-9.1 s where the first had taken 8.3-11.6 s (memory freed by the first is reused,
not asked of the system again): a daemon's first start has no such luck."""
MIN_PASSES, MAX_PASSES, MIN_TIMED_S = 3, 25, 3.0
"""`articles/s` is the median of passes over the timed articles, at least `MIN_PASSES` and
until `MIN_TIMED_S` seconds were timed (at most `MAX_PASSES`): one pass at 1,000 queries is
~0.15 s, and a neighbour's burst on this shared machine halved it (9,772 against 17,200
articles/s for the same code, one pass each, 2026-12-07). The median is as likely above
as below a steady rate; the slowest and fastest passes are printed beside it."""


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _children(watchlists: list[Watchlist], hard: bool) -> tuple[list[float], float, float]:
    """Cold starts and a restart, each a new process, all before this process compiles
    anything at this size: `COLD_STARTS` cold compiles (`_cold_start_child`), then a daemon
    restart: a process (`_restart_child`) whose store (a scratch SQLite file) holds the
    parses of an earlier run (`_save_parses_child`) loads them, parses nothing, and compiles
    the engine, by the daemon's own code (`runtime.engine_with_store`). Returns the cold
    starts' seconds, and the restart's seconds of wall clock and of the child's CPU
    (steadier on a shared machine).

    On this machine a process runs up to 1.5× slower while another holds gigabytes, even
    idle (the restart child at 100,000 queries: 8.3-9.6 s beside a small parent, 11.0-12.7 s
    beside one holding 1.4 GB of strings, alternately), and a restarted daemon's old process
    is gone. (Run in this process, the restart would also meet its heap: articles, other
    sizes' leftovers.)"""
    texts = [w.query for w in watchlists if w.query]
    hard_flag = ["--hard"] if hard else []
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, "queries.json").write_text(json.dumps(texts))

        def child(role: str) -> list[float]:
            command = [sys.executable, __file__, f"--{role}-child", scratch, *hard_flag]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            return list(map(float, result.stdout.split()))

        starts = [child("cold-start")[0] for _ in range(COLD_STARTS)]
        child("save-parses")
        wall, cpu = child("restart")
    return starts, wall, cpu


def _child_watchlists(scratch: str) -> list[Watchlist]:
    texts = json.loads(Path(scratch, "queries.json").read_text())
    return [Watchlist(name=f"q{i}", query=text) for i, text in enumerate(texts)]


def _cold_start_child(scratch: str, hard: bool) -> None:
    """A daemon's first start: what it holds before it compiles (its watchlists and
    entities), then a timed compile with nothing parsed before; prints its seconds."""
    watchlists = _child_watchlists(scratch)
    entities = Corpus(hard=hard).entities
    gc.collect()
    started = time.perf_counter()
    compile_engine(watchlists, entities)
    print(time.perf_counter() - started)


def _save_parses_child(scratch: str, hard: bool) -> None:
    """The daemon run before `_restart`'s: compiles the queries and saves their parses."""
    watchlists = _child_watchlists(scratch)
    store = Store.open(f"sqlite:///{scratch}/restart.db")
    engine_with_store(watchlists, Corpus(hard=hard).entities, store)
    store.close()


def _restart_child(scratch: str, hard: bool) -> None:
    """The new process of `_restart`: what a daemon holds before it compiles (its watchlists
    and entities), then the timed `engine_with_store`; prints wall and CPU seconds."""
    watchlists = _child_watchlists(scratch)
    entities = Corpus(hard=hard).entities  # made first, from the seed alone: the same
    store = Store.open(f"sqlite:///{scratch}/restart.db")
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    engine_with_store(watchlists, entities, store)
    print(time.perf_counter() - started, time.process_time() - cpu)


def _machine_seconds() -> float:
    """A fixed piece of pure Python (10⁷ additions in a loop), timed: how fast the machine is
    in this run. Shared machines here differ by 3× between days; figures from two days
    compare only next to this."""
    started = time.perf_counter()
    total = 0
    for number in range(10_000_000):
        total += number
    return time.perf_counter() - started


def _memory_seconds() -> float:
    """10⁶ lookups, in random order, in a dict of 10⁶ small tuples, timed: how fast the machine
    reaches memory in this run. The engine at 100,000 queries is a gigabyte of small objects,
    so its compile and matching follow this, and it varies apart from `_machine_seconds`
    (2026-12-06: the additions took 0.23-0.26 s on two days whose 100,000 rows differed by
    ~40 %)."""
    count = 1_000_000
    order = list(range(count))
    random.Random(3).shuffle(order)
    table = {number: (number,) for number in range(count)}
    started = time.perf_counter()
    sum(map(len, map(table.__getitem__, order)))
    return time.perf_counter() - started


def _speed() -> str:
    return (
        f"10^7 additions in a Python loop took {_machine_seconds():.2f} s, "
        f"10^6 random dict lookups {_memory_seconds():.2f} s"
    )


def run(sizes: list[int], articles: int, naive_articles: int, hard: bool = False) -> None:
    print(f"machine: {_speed()}")
    corpus = Corpus(hard=hard)
    print("stream:", "hard (every query word drawn by fame)" if hard else "agency (default)")
    stream = [corpus.article() for _ in range(articles)]
    print(f"{len(stream)} articles of ~{sum(len(s.text) for s in stream) // len(stream)} chars")
    header = (
        f"{'queries':>8} {'compile s':>9} {'recompile s':>11} {'edit 1% s':>9} {'restart s':>9} "
        f"{'cpu s':>5} {'engine MB':>9} "
        f"{'articles/s':>10} {'cands/art':>9} {'naive art/s':>11} {'ratio':>7}"
    )
    print(header)
    for size in sizes:
        generated = [corpus.query() for _ in range(size)]
        watchlists = [Watchlist(name=f"q{i}", query=t) for i, (t, _) in enumerate(generated)]
        starts, restart_s, restart_cpu = _children(watchlists, hard)
        compile_s = statistics.median(starts)
        query_module.forget()  # this process compiles cold too, for the engine to time
        compiler.forget()
        gc.collect()
        before = _rss_mb()
        started = time.perf_counter()
        engine = compile_engine(watchlists, corpus.entities)
        here_s = time.perf_counter() - started
        memory = _rss_mb() - before
        # Matched next, while the process holds what a daemon that just compiled holds. The
        # first articles are timed apart: at 100,000 queries the first with 250 candidates
        # builds `select`'s arrays (~0.45 s, once per compiled engine).
        warm, timed = stream[: len(stream) // WARM_UP], stream[len(stream) // WARM_UP :]
        started = time.perf_counter()
        matched = sum(len(engine.match(story)) for story in warm)
        warm_s = time.perf_counter() - started
        rates: list[float] = []
        timed_s = 0.0
        while len(rates) < MAX_PASSES and (len(rates) < MIN_PASSES or timed_s < MIN_TIMED_S):
            started = time.perf_counter()
            found = sum(len(engine.match(story)) for story in timed)
            seconds = time.perf_counter() - started
            rates.append(len(timed) / seconds)
            timed_s += seconds
        matched += found  # (every pass finds the same)
        rate = statistics.median(rates)
        candidates = sum(len(engine.scan(story).candidates) for story in stream[:50]) // 50
        del engine
        started = time.perf_counter()
        compile_engine(watchlists, corpus.entities)  # a reload: parses come from the cache
        recompile_s = time.perf_counter() - started
        edited = [  # a reload after 1 % of the queries were edited (each gets a new term)
            Watchlist(name=w.name, query=f"{w.query} OR edited{i // 100}") if i % 100 == 0 else w
            for i, w in enumerate(watchlists)
        ]
        started = time.perf_counter()
        compile_engine(edited, corpus.entities)  # parses the edited ones
        edited_s = time.perf_counter() - started
        # Above 10,000 queries the baseline runs the first 10,000 and is scaled (linear by
        # construction: every query is evaluated on its own); marked with *.
        naive = [Naive(tree) for _, tree in generated[:NAIVE_MAX]]
        sample = stream[:naive_articles]
        started = time.perf_counter()
        naive_matched = sum(sum(1 for n in naive if n.matches(story)) for story in sample)
        naive_rate = len(sample) / (time.perf_counter() - started) * len(naive) / size
        scaled = "*" if len(naive) < size else " "
        print(
            f"{size:>8,} {compile_s:>9.2f} {recompile_s:>11.2f} {edited_s:>9.2f} {restart_s:>9.2f} "
            f"{restart_cpu:>5.1f} {memory:>9.0f} "
            f"{rate:>10,.0f} {candidates:>9} {naive_rate:>10.2f}{scaled} {rate / naive_rate:>6.0f}x"
            f"   (matches: {matched}; naive sample {naive_matched}; first {len(warm)} articles"
            f" {warm_s:.2f} s; {len(rates)} passes {min(rates):,.0f}–{max(rates):,.0f} art/s;"
            f" cold starts {' / '.join(f'{c:.2f}' for c in starts)} s, here {here_s:.2f} s)",
            flush=True,
        )
        del naive
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the run: {peak:.0f} MB")
    print(f"machine at the end: {_speed()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--hard", action="store_true", help="every query word drawn by fame")
    parser.add_argument(
        "--sizes", type=int, nargs="+", metavar="N", help="numbers of queries (one row each)"
    )
    parser.add_argument("--cold-start-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--restart-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--save-parses-child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_start_child:
        _cold_start_child(args.cold_start_child, args.hard)
    elif args.restart_child:
        _restart_child(args.restart_child, args.hard)
    elif args.save_parses_child:
        _save_parses_child(args.save_parses_child, args.hard)
    elif args.quick:
        run(args.sizes or [1_000, 5_000], articles=300, naive_articles=5, hard=args.hard)
    else:
        sizes = args.sizes or [1_000, 10_000, 100_000]
        run(sizes, articles=2_000, naive_articles=10, hard=args.hard)


if __name__ == "__main__":
    main()
