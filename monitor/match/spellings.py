"""The automaton keys of the atoms the engine's scan finds (phrases and prefixes): every
spelling a story's words may have them in, as `analysis.stream` writes a field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.match.analysis import endings

__all__ = ["Keys", "automaton_keys", "merge_repeated"]

Keys = tuple[list[str], list[tuple[int, int, tuple[int, ...]]]]
"""Automaton keys and, index for index, their values: (the key's length, its words after
the first, its atoms), as the engine reads hits (`engine._collect`). A key made by two
atoms (rare: `musks` is a word and `musk` + s) is listed once per atom; the automaton keeps
one value holding both (`merge_repeated`)."""


def automaton_keys(atoms: Iterable[int], keys_of: dict[int, tuple[Any, ...]]) -> tuple[Keys, Keys]:
    """The automaton keys of these phrase and prefix atoms, and those of the loose automaton
    (`fold_diacritics` watchlists, over `analysis.loose_stream`). A phrase is a key per
    spelling its story words may have, spaces around: its words as they are, the last with
    each of its `analysis.endings` (`" elon musk "`, `" elon musks "`, `" elon musk's "`); a
    prefix is a space and the prefix (`" tesla"`): keys of `analysis.stream`'s form.
    `keys_of` gives each atom's key (what it finds, as `compiler` keeps it).

    ~0.8 million keys at 100,000 queries, made whole here so that the engine adds them in
    one loop in C. Lists, not a dict: hashing every new key only to find the few made twice
    cost as much as making them (the automaton finds those as it adds them)."""
    tables: tuple[Keys, Keys] = (([], []), ([], []))
    for atom in sorted(atoms):
        kind, folded, value = keys_of[atom]
        spelled, values = tables[folded]
        if kind == "prefix":  # one word, no space after it
            spelled.append(" " + value)
            values.append((len(value) + 1, 0, (atom,)))
            continue
        head = " ".join(value[:-1])  # its words as written, the last with each ending
        head = f" {head} " if head else " "
        more = f"{head}{value[-1]} ".count(" ") - 2  # (a folded word may hold a space: NFKC)
        single = (atom,)
        for word in endings(value[-1]):  # loops, not comprehensions: see `evaluate.Plain`
            spelling = f"{head}{word} "
            spelled.append(spelling)
            values.append((len(spelling), more, single))
    return tables


def merge_repeated(keys: Keys, repeated: set[str]) -> dict[str, tuple[int, int, tuple[int, ...]]]:
    """The one value of each of the `repeated` keys: its atoms, in the order listed."""
    merged: dict[str, tuple[int, int, tuple[int, ...]]] = {}
    for key, value in zip(*keys, strict=True):
        if key in repeated:
            found = merged.get(key)
            merged[key] = value if found is None else (found[0], found[1], found[2] + value[2])
    return merged
