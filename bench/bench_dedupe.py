"""Near-duplicate detection: quality on labelled corpus pairs, speed at a million stories.

    python bench/bench_dedupe.py            # full run: 1,000,000 fingerprints stored
    python bench/bench_dedupe.py --quick    # smoke run: 20,000

Quality: every pair in tests/data/dedupe_pairs.tsv (how they were labelled is in its header)
is judged by `monitor.dedupe.same_story`; precision counts a pair judged "same" as right when
it is labelled copy or event; recall is given for copies (what near-duplicate detection is
for) and, separately, for independently written reports of one event.

Speed: what a poll does per new story — fingerprint it, look its LSH bands up, verify the
candidates, insert its bands — against an in-memory band index (a dict, the same algorithm as
the store's `story_bands` table) already holding N fingerprints (random signatures: other
stories). The baseline compares each story exactly with every stored one (pairwise
`same_story`), on a smaller N, in the same run.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.dedupe import Fingerprint, fingerprint, same_story  # noqa: E402
from monitor.dedupe.fingerprint import PERMUTATIONS, ROWS, jaccard  # noqa: E402
from monitor.models import Story  # noqa: E402
from monitor.parse import parse_feed  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
PAIRS = ROOT / "tests" / "data" / "dedupe_pairs.tsv"
BANDS_PER_STORY = 2 * PERMUTATIONS // ROWS


def load_corpus() -> dict[str, list[Story]]:
    return {
        path.name: parse_feed(path.read_bytes(), {}, feed_name=path.name, url="https://x/")
        for path in sorted(CORPUS.glob("*.xml"))
    }


def quality(corpus: dict[str, list[Story]]) -> None:
    by_title = {(name, s.title): s for name, items in corpus.items() for s in items}
    tp = fp = 0
    found: dict[str, list[int]] = {}
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        label, how, fa, ta, fb, tb = line.split("\t")
        a, b = by_title[(fa, ta)], by_title[(fb, tb)]
        same = same_story(fingerprint(a.title, a.text), fingerprint(b.title, b.text))
        found.setdefault(f"{label}/{how}", []).append(same)
        if same:
            tp += label != "diff"
            fp += label == "diff"
    print("quality (tests/data/dedupe_pairs.tsv)")
    for key, hits in sorted(found.items()):
        print(f"  {key:<16} {len(hits):4d} pairs, judged same: {sum(hits):4d}")
    copies = found["copy/hand"] + found["copy/same-link"]
    print(f"  precision (same = copy or event): {tp / max(1, tp + fp):.3f}")
    print(f"  recall, copies (all):             {sum(copies) / len(copies):.3f}")
    print(f"  recall, copies (hand, new links): {_rate(found['copy/hand'])}")
    print(f"  recall, same event, rewritten:    {_rate(found['event/hand'])}")


def _rate(hits: list[int]) -> str:
    return f"{sum(hits) / len(hits):.3f} ({sum(hits)}/{len(hits)})"


class MemoryIndex:
    """The store's band table in memory: band hash -> story number (last one wins)."""

    def __init__(self) -> None:
        self.bands: dict[int, int] = {}
        self.prints: list[Fingerprint | None] = []

    def fill_random(self, n: int, rng: random.Random) -> None:
        bits = rng.getrandbits
        bands = self.bands
        base = len(self.prints)
        for i in range(n):
            for _ in range(BANDS_PER_STORY):
                bands[bits(63)] = base + i
        self.prints.extend([None] * n)

    def lookup_insert(self, fp: Fingerprint) -> int | None:
        """The most similar near-duplicate's number (verified), then insert `fp`."""
        own = fp.bands()
        best: tuple[float, int] | None = None
        for number in {self.bands[b] for b in own if b in self.bands}:
            other = self.prints[number]
            if other is not None and same_story(fp, other):
                score = jaccard(fp.title, other.title)
                if best is None or score > best[0]:
                    best = (score, number)
        number = len(self.prints)
        self.prints.append(fp)
        for band in own:
            self.bands[band] = number
        return best[1] if best else None


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speed(stories: list[Story], stored: int, baseline_n: int) -> None:
    rng = random.Random(1)
    print(f"\nspeed ({len(stories)} corpus stories per run, fingerprinting included)")
    before = rss_mb()
    index = MemoryIndex()
    start = time.perf_counter()
    index.fill_random(stored, rng)
    fill = time.perf_counter() - start
    after = rss_mb()
    print(
        f"  index with {stored:,} fingerprints built in {fill:.1f}s; "
        f"max RSS +{after - before:,.0f} MB ({(after - before) * 1024 * 1024 / stored:,.0f} "
        f"bytes/story, {BANDS_PER_STORY} bands each)"
    )
    rounds = 2
    start = time.perf_counter()
    joined = 0
    for _ in range(rounds):  # round 2: every story finds its own copy
        for story in stories:
            joined += index.lookup_insert(fingerprint(story.title, story.text)) is not None
    elapsed = time.perf_counter() - start
    lsh_rate = rounds * len(stories) / elapsed
    print(
        f"  fingerprint + LSH lookup + insert at {stored:,}: {lsh_rate:,.0f} stories/s "
        f"({joined} of {rounds * len(stories)} joined a cluster)"
    )
    prints = [fingerprint(s.title, s.text) for s in stories]
    start = time.perf_counter()
    for fp in prints:
        index.lookup_insert(fp)
    index_rate = len(prints) / (time.perf_counter() - start)
    print(
        f"  LSH lookup + verify + insert only (fingerprints computed before): "
        f"{index_rate:,.0f} stories/s"
    )
    print(f"  max RSS of the whole run: {rss_mb():,.0f} MB")

    pool = [prints[i % len(prints)] for i in range(baseline_n)]
    queries = prints[:300]
    start = time.perf_counter()
    for fp in queries:
        _ = [other for other in pool if same_story(fp, other)]
        pool.append(fp)
    pairwise_rate = len(queries) / (time.perf_counter() - start)
    small = MemoryIndex()
    small.fill_random(baseline_n, rng)
    start = time.perf_counter()
    for fp in queries:
        small.lookup_insert(fp)
    small_rate = len(queries) / (time.perf_counter() - start)
    print(
        f"  baseline, exact pairwise at {baseline_n:,}: {pairwise_rate:,.0f} stories/s "
        f"(LSH at the same N: {small_rate:,.0f}/s, {small_rate / pairwise_rate:,.0f}x; "
        f"pairwise cost grows with N, so at {stored:,} it would be ~"
        f"{pairwise_rate * baseline_n / stored:,.1f}/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 stored instead of 1M")
    args = parser.parse_args()
    corpus = load_corpus()
    quality(corpus)
    stories = [s for items in corpus.values() for s in items]
    speed(stories, 20_000 if args.quick else 1_000_000, 2_000 if args.quick else 10_000)


if __name__ == "__main__":
    main()
