"""A story's candidate queries and their pre-checks: the engine's step 3, before `evaluate`.

Each query is registered under its anchor atoms (`anchors.choose`); a story's candidates are
the queries an atom it has selects. A candidate must then meet its `Precheck.must` atoms and
miss its `veto` atoms. Most fail: at 100,000 queries a story has hundreds of candidates and
a few dozen survivors, so these tests are the pre-filter's main cost.

They are set operations, one per candidate, run as `map`s in C. Each walks a small tuple
somewhere in a heap of a million objects, so past a few hundred candidates they are bound by
memory, not by the interpreter, and numpy does them faster: the pre-checks of every query
laid out in two flat arrays (`_Arrays`, built the first time a story needs them, so small
configurations never pay for them), all candidates tested at once. Both ways give the same
survivors (tests/test_select.py); `ARRAY_CANDIDATES` is where one takes over from the other.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import chain, compress
from operator import not_
from typing import Any

import numpy as np

from monitor.match.anchors import Precheck

__all__ = ["ARRAY_CANDIDATES", "EVERY_STORY", "Selector"]

EVERY_STORY = -1
"""An atom id no term has, in every story's atom set: a query without a second branch must
meet it, so every query has a `must` test and the tests need no special case."""
ARRAY_CANDIDATES = 250
"""Candidates from which numpy tests them (bench/bench_select.py measures both ways: numpy's
fixed cost of ~20 calls is worth it from about this many)."""


class Selector:
    """The anchors and pre-checks of one compiled engine; immutable once built (the arrays
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

    def survivors(self, atoms: set[int]) -> list[int]:
        """The candidates whose `must` atoms the story has and whose `veto` atoms it has not,
        in config order. `atoms` includes `EVERY_STORY`."""
        candidates = self.candidates(atoms)
        if len(candidates) < self._array_candidates:
            musts, vetoes = self._musts, self._vetoes
            met = list(
                compress(
                    candidates,
                    map(not_, map(atoms.isdisjoint, map(musts.__getitem__, candidates))),
                )
            )
            return list(compress(met, map(atoms.isdisjoint, map(vetoes.__getitem__, met))))
        arrays = self._arrays
        if arrays is None:
            with self._lock:
                if self._arrays is None:
                    self._arrays = _Arrays(self._musts, self._vetoes)
                arrays = self._arrays
        return arrays.survivors(candidates, atoms)


class _Arrays:
    """Every query's `must` and `veto` atoms, concatenated in query order (`atoms`), with
    where each query's run starts (`starts`, one more than there are queries). An atom id
    indexes a boolean array of the story's atoms (`_present`), so a run's test is one
    `logical_or.reduceat` over it. Every run has an atom: a query without a veto gets
    `never`, an id no story has."""

    def __init__(self, musts: list[tuple[int, ...]], vetoes: list[tuple[int, ...]]) -> None:
        top = max(chain(chain.from_iterable(musts), chain.from_iterable(vetoes)), default=0)
        self.never = top + 1
        self.size = top + 3
        """Atoms up to `top`, `never`, and the last slot: `EVERY_STORY` (-1) indexes it."""
        self.must_starts, self.must_atoms = _runs(musts)
        self.veto_starts, self.veto_atoms = _runs([veto or (self.never,) for veto in vetoes])
        self._scratch = threading.local()

    def survivors(self, candidates: list[int], atoms: set[int]) -> list[int]:
        if not candidates:
            return []
        present = self._present()
        found = np.fromiter(atoms, np.intp, len(atoms))
        found = found[found < self.never]  # atoms no pre-check names have no slot
        present[found] = True
        try:
            rows = np.array(candidates, np.intp)
            rows = rows[_any_present(self.must_starts, self.must_atoms, rows, present)]
            if len(rows):
                rows = rows[~_any_present(self.veto_starts, self.veto_atoms, rows, present)]
            return rows.tolist()  # type: ignore[no-any-return]  # a list of ints
        finally:
            present[found] = False
            present[-1] = True

    def _present(self) -> Any:
        """This thread's array of the story's atoms: all False between stories but the last
        slot (`EVERY_STORY`)."""
        present = getattr(self._scratch, "present", None)
        if present is None:
            present = self._scratch.present = np.zeros(self.size, np.bool_)
            present[-1] = True
        return present


def _runs(sets: list[tuple[int, ...]]) -> tuple[Any, Any]:
    """`sets` concatenated, and the index where each starts (and where the last ends)."""
    lengths = np.fromiter(map(len, sets), np.intp, len(sets))
    starts = np.zeros(len(sets) + 1, np.intp)
    np.cumsum(lengths, out=starts[1:])
    return starts, np.fromiter(chain.from_iterable(sets), np.intp, int(starts[-1]))


def _any_present(starts: Any, atoms: Any, rows: Any, present: Any) -> Any:
    """For each query in `rows`, whether one of its run of `atoms` is `present`: the runs
    gathered into one index array (each at least one long), then one OR per run."""
    first = starts[rows]
    lengths = starts[rows + 1] - first
    ends = np.cumsum(lengths)
    begins = ends - lengths
    index = np.repeat(first - begins, lengths) + np.arange(int(ends[-1]))
    return np.logical_or.reduceat(present[atoms[index]], begins)
