"""A story's surviving candidate queries, and which of them need no evaluation: the engine's
step 3, before `evaluate`.

Each query is registered under its anchor atoms (`anchors.choose`); a story's candidates are
the queries an atom it has selects. A candidate must then meet its `Precheck.must` atoms (and
each of its `more` sets) and miss its `veto` atoms. Most fail: at 100,000 queries a story has
hundreds of candidates and a few dozen survivors, so these tests are the pre-filter's main
cost. A survivor that is flat (`evaluate.flat_parts`) and none of whose other leaves' atoms
was found holds, decided by these tests: its hits are its plain (term, atom) pairs whose
atom was found, which are worked out here too; any other survivor is evaluated.

They are set operations, one per candidate, run as `map`s in C. Each walks a small tuple
somewhere in a heap of a million objects, so past a few hundred candidates they are bound by
memory, not by the interpreter, and numpy does them faster: every query's sets laid out in
flat arrays (`_Arrays`, built the first time a story needs them, so small configurations
never pay for them), all candidates tested at once, and the found pairs of the decided ones
picked out at once. Both ways give the same result (tests/test_select.py);
`ARRAY_CANDIDATES` is where one takes over from the other.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import chain, compress
from operator import itemgetter, not_
from typing import Any

import numpy as np

from monitor.match.anchors import Precheck

__all__ = ["ARRAY_CANDIDATES", "EVERY_STORY", "Pairs", "Selector"]

EVERY_STORY = -1
"""An atom id no term has, in every story's atom set: a query without a second branch must
meet it, so every query has a `must` test and the tests need no special case."""
ARRAY_CANDIDATES = 250
"""Candidates from which numpy tests them (bench/bench_select.py measures both ways: numpy's
fixed cost of ~20 calls is worth it from about this many)."""

Pairs = list[tuple[str, int]]
"""The (term, atom) pairs of a decided survivor whose atom the story has, in query order."""


class Selector:
    """The anchors and set tests of one compiled engine; immutable once built (the arrays
    are made once, under a lock, and only read after)."""

    def __init__(
        self,
        anchors: dict[int, list[int]],
        prechecks: Sequence[Precheck],
        array_candidates: int = ARRAY_CANDIDATES,
    ) -> None:
        self._anchors = anchors
        self._musts = [p.must or (EVERY_STORY,) for p in prechecks]
        self._vetoes = [p.veto or () for p in prechecks]
        self._more = {i: p.more for i, p in enumerate(prechecks) if p.more}
        self._flat = [p.flat for p in prechecks]
        self._array_candidates = array_candidates
        self._arrays: _Arrays | None = None
        self._lock = threading.Lock()

    def candidates(self, atoms: set[int]) -> list[int]:
        """The queries the story's `atoms` select, in config order."""
        anchors = self._anchors
        selected: set[int] = set()
        for atom in atoms:
            queries = anchors.get(atom)
            if queries:
                selected.update(queries)
        return sorted(selected)

    def survivors(self, atoms: set[int]) -> list[tuple[int, Pairs | None]]:
        """The candidates that pass every set test, in config order, each with its found
        `Pairs` when the tests decide it, or None when it is to be evaluated. `atoms`
        includes `EVERY_STORY`."""
        arrays = self._arrays
        if arrays is None:
            candidates = self.candidates(atoms)
            if len(candidates) < self._array_candidates:
                return self._by_sets(candidates, atoms)
            with self._lock:
                if self._arrays is None:
                    self._arrays = _Arrays(
                        self._anchors, self._musts, self._vetoes, self._more, self._flat
                    )
                arrays = self._arrays
        found = arrays.found(atoms)
        rows = arrays.candidates(found)
        if len(rows) < self._array_candidates:
            return self._by_sets(rows.tolist(), atoms)
        return arrays.survivors(rows, found, atoms)

    def _by_sets(self, candidates: list[int], atoms: set[int]) -> list[tuple[int, Pairs | None]]:
        """`survivors` of these candidates by set tests in C: cheaper than numpy's fixed
        cost below `ARRAY_CANDIDATES`."""
        musts, vetoes, more, flat = self._musts, self._vetoes, self._more, self._flat
        met = list(
            compress(
                candidates,
                map(not_, map(atoms.isdisjoint, map(musts.__getitem__, candidates))),
            )
        )
        survivors: list[tuple[int, Pairs | None]] = []
        for index in compress(met, map(atoms.isdisjoint, map(vetoes.__getitem__, met))):
            if index in more and any(map(atoms.isdisjoint, more[index])):
                continue
            parts = flat[index]
            if parts is None or (parts[1] and not atoms.isdisjoint(parts[1])):
                survivors.append((index, None))
            else:
                survivors.append((index, [pair for pair in parts[0] if pair[1] in atoms]))
        return survivors


class _Arrays:
    """Every query's atom sets, each kind concatenated in query order with where each
    query's run starts (one more start than there are queries): `must` and `veto` atoms,
    the atoms of a flat query's other leaves (`others`), and a flat query's plain pairs'
    atoms (`pair_atoms`, the pairs themselves in `pairs`); and, by atom id, the queries each
    atom selects (`anchor_starts`, `anchor_queries`). An atom id indexes a boolean
    array of the story's atoms (`_present`), so a run's test is one `logical_or.reduceat`
    over it. Every tested run has an atom: a query without a veto or other leaves gets
    `never`, an id no story has."""

    def __init__(
        self,
        anchors: dict[int, list[int]],
        musts: list[tuple[int, ...]],
        vetoes: list[tuple[int, ...]],
        more: dict[int, Any],
        flat: list[Any],
    ) -> None:
        ordered = sorted(anchors.items())
        counts = np.zeros(max(anchors, default=0) + 2, np.intp)  # by atom id, then the end
        counts[[atom + 1 for atom, _ in ordered]] = [len(queries) for _, queries in ordered]
        self.anchor_starts = np.cumsum(counts)
        """Each atom's queries (`Selector.candidates`), by atom id, in `anchor_queries`."""
        self.anchor_queries = np.fromiter(
            chain.from_iterable(queries for _, queries in ordered),
            np.intp,
            int(self.anchor_starts[-1]),
        )
        pairs = [parts[0] if parts else () for parts in flat]
        # (maps in C, not comprehensions: ~1.2 million pairs at 100,000 queries)
        self.pairs = list(chain.from_iterable(pairs))
        self.pair_starts = _starts(pairs)
        self.pair_atoms = np.fromiter(map(_SECOND, self.pairs), np.intp, len(self.pairs))
        self.must_starts, self.must_atoms = _runs(musts)
        self.veto_starts, self.veto_atoms = _runs(vetoes)
        self.other_starts, self.other_atoms = _runs([parts[1] if parts else () for parts in flat])
        arrays = (self.must_atoms, self.veto_atoms, self.other_atoms, self.pair_atoms)
        top = max((int(atoms.max()) for atoms in arrays if len(atoms)), default=0)
        self.never = top + 1
        self.size = top + 3
        """Atoms up to `top`, `never`, and the last slot: `EVERY_STORY` (-1) indexes it."""
        for atoms in (self.veto_atoms, self.other_atoms):  # every run has an atom: see above
            atoms[atoms == _EMPTY] = self.never
        self.evaluated = np.fromiter((parts is None for parts in flat), np.bool_, len(flat))
        """Queries that are not flat: always evaluated."""
        self.more = more
        self.has_more = np.zeros(len(flat), np.bool_)
        self.has_more[list(more)] = True
        self._scratch = threading.local()

    def found(self, atoms: set[int]) -> Any:
        """The story's atoms (`EVERY_STORY` included), as an array."""
        return np.fromiter(atoms, np.intp, len(atoms))

    def candidates(self, found: Any) -> Any:
        """`Selector.candidates`, from the `found` atoms' runs of queries."""
        found = found[(found >= 0) & (found < len(self.anchor_starts) - 1)]
        index, _ = _gather(self.anchor_starts, found)
        if not len(index):
            return index
        queries = np.sort(self.anchor_queries[index])  # each once (np.unique: 10x slower)
        return queries[np.concatenate(([True], queries[1:] != queries[:-1]))]

    def survivors(self, rows: Any, found: Any, atoms: set[int]) -> list[tuple[int, Pairs | None]]:
        present = self._present()
        found = found[found < self.never]  # atoms no set names have no slot
        present[found] = True
        try:
            rows = rows[_any_present(self.must_starts, self.must_atoms, rows, present)]
            if len(rows):
                rows = rows[~_any_present(self.veto_starts, self.veto_atoms, rows, present)]
            with_more = np.flatnonzero(self.has_more[rows])
            if len(with_more):  # a third AND-ed branch or more: rarer, tested as sets
                failed = [
                    at
                    for at, index in zip(with_more.tolist(), rows[with_more].tolist(), strict=True)
                    if any(map(atoms.isdisjoint, self.more[index]))
                ]
                if failed:
                    keep = np.ones(len(rows), np.bool_)
                    keep[failed] = False
                    rows = rows[keep]
            if not len(rows):
                return []
            evaluated = self.evaluated[rows]
            evaluated |= _any_present(self.other_starts, self.other_atoms, rows, present)
            decided = rows[~evaluated]
            index, lengths = _gather(self.pair_starts, decided)
            hit = present[self.pair_atoms[index]]
            owners = np.repeat(decided, lengths)[hit].tolist()
            chosen = index[hit].tolist()
        finally:
            present[found] = False
            present[-1] = True
        found_pairs: dict[int, Pairs] = {}
        pairs = self.pairs
        for owner, at in zip(owners, chosen, strict=True):
            got = found_pairs.get(owner)
            if got is None:
                found_pairs[owner] = [pairs[at]]
            else:
                got.append(pairs[at])
        get = found_pairs.get
        return [(row, get(row)) for row in rows.tolist()]  # None: to be evaluated

    def _present(self) -> Any:
        """This thread's array of the story's atoms: all False between stories but the last
        slot (`EVERY_STORY`)."""
        present = getattr(self._scratch, "present", None)
        if present is None:
            present = self._scratch.present = np.zeros(self.size, np.bool_)
            present[-1] = True
        return present


_EMPTY = -2
"""`_runs`'s stand-in atom for an empty set (`_Arrays` makes it `never`)."""
_SECOND = itemgetter(1)


def _starts(sets: Sequence[Sequence[Any]]) -> Any:
    """Where each of `sets` starts when they are concatenated (and where the last ends)."""
    starts = np.zeros(len(sets) + 1, np.intp)
    np.cumsum(np.fromiter(map(len, sets), np.intp, len(sets)), out=starts[1:])
    return starts


def _runs(sets: Sequence[Sequence[int]]) -> tuple[Any, Any]:
    """`_starts` of `sets`, and their atoms concatenated, an empty set as one `_EMPTY`."""
    sets = [atoms or (_EMPTY,) for atoms in sets]
    starts = _starts(sets)
    return starts, np.fromiter(chain.from_iterable(sets), np.intp, int(starts[-1]))


def _gather(starts: Any, rows: Any) -> tuple[Any, Any]:
    """The positions of the runs of `rows`, one after the other, and each run's length."""
    first = starts[rows]
    lengths = starts[rows + 1] - first
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    return np.repeat(first - (ends - lengths), lengths) + np.arange(total), lengths


def _any_present(starts: Any, atoms: Any, rows: Any, present: Any) -> Any:
    """For each query in `rows`, whether one of its run of `atoms` is `present` (each run
    at least one long): the runs gathered into one index array, then one OR per run."""
    index, lengths = _gather(starts, rows)
    begins = np.cumsum(lengths) - lengths
    return np.logical_or.reduceat(present[atoms[index]], begins)
