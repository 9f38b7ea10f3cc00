"""Each query's anchors and pre-checks (the engine's step 3): what selects it and what it is
tested against before it is evaluated.

A query is registered under the atoms of one of its AND branches, the one whose atoms the
fewest queries use, and its other branches become set tests. *Which* atoms a branch can be
found by depends on the query alone; only their cost (how many queries use them) depends on
the others. So the first is worked out once per compiled query (`plan`, kept with it between
compiles in a process) and a compile only prices the branches (`choose`): for most branches
a sum over a frozen set, in C.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

from monitor.errors import ConfigError
from monitor.match.evaluate import Flat, Leaf, Plain, flat_parts, plain_atoms

__all__ = ["META_COST", "Plan", "Precheck", "choose", "plan"]

META_COST = 1 << 40
"""Metadata atoms (`lang:de`) hold for whole feeds: never the anchor while a word exists."""

Form = tuple[str, Any]
"""How a compiled node can be found, whatever the other queries:
("set", atoms) — one of these atoms whenever it holds (its cost: their uses summed;
a tuple, not a set: making a million small sets cost more than the few repeats);
("meta", atoms) — a metadata atom (`META_COST`); ("near", atoms) — all of them, so the
rarest is enough; ("or", forms) — one of each child's choice; ("and", forms) — the
cheapest child's."""


class Precheck(NamedTuple):
    """Atom sets a candidate query is tested against before it is evaluated: each `must`
    set has to meet the story's atoms (one per AND-ed branch but the anchor's: the atoms
    that branch cannot hold without), the `veto` must not (the plain terms of its `NOT`s)."""

    must: tuple[int, ...] | None
    """The rarest branch's atoms: the likeliest test to fail. `must` and `veto` are tuples,
    not sets: `isdisjoint` walks them all the same, and at 100,000 queries the engine tests
    hundreds of these scattered objects per story; a tuple is a third of a small
    frozenset's size (the must tests: 280 -> 165 us per article)."""
    more: tuple[tuple[int, ...], ...]
    veto: tuple[int, ...] | None
    flat: tuple[tuple[tuple[str, int], ...], tuple[int, ...]] | None
    """For a query these tests decide whenever its other atoms are not found, its pairs and
    those atoms (from `Plan.flat`, a proximity leaf's by its rarest atom)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A query's branches (top-level AND, or the query itself) that can be found, in order,
    and its veto."""

    branches: tuple[Form, ...]
    veto: tuple[int, ...] | None
    flat: Flat | None
    """`evaluate.flat_parts` of the query: made once per compiled query, like the rest."""


def plan(query: Any) -> Plan:
    """The `Plan` of a compiled query (a `Leaf`, `Plain` or tuple, see `compiler`)."""
    top_and = isinstance(query, tuple) and query[0] == "and"
    branches = query[1] if top_and else (query,)
    forms = tuple(filter(None, map(_form, branches)))
    nots = []
    for branch in branches:
        if type(branch) is tuple and branch[0] == "not":
            nots.append(branch[1])
    veto = tuple(frozenset().union(*map(plain_atoms, nots))) if nots else ()
    return Plan(forms, veto or None, flat_parts(query))


def choose(plans: list[Plan], usage: dict[int, int]) -> tuple[dict[int, list[int]], list[Precheck]]:
    """Anchors (atom → the queries it selects) and a `Precheck` per query. `usage` is the
    cost of each atom: the uses of the leaves that need it (a proxy for how common it is)."""
    anchors: dict[int, list[int]] = {}
    prechecks = []
    cost = usage.__getitem__
    rarest = partial(min, key=cost)
    for index, query in enumerate(plans):
        priced = []  # loops, not comprehensions, here and in `plan`: see `evaluate.Plain`
        for form in query.branches:
            if form[0] == "set":
                priced.append((form[1], sum(map(cost, form[1]))))
            else:
                priced.append(_price(form, usage))
        if not priced:  # parse_query rejects these; terms always anchor
            raise ConfigError(f"watchlist index {index}: the query can match on NOT alone")
        if len(priced) > 1:  # the rarest anchors, the others are tested rarest first
            priced.sort(key=_COST)  # (stable: the first of equals anchors)
        for atom in priced[0][0]:
            anchor = anchors.get(atom)
            if anchor is None:
                anchors[atom] = [index]
            else:
                anchor.append(index)
        must = tuple(priced[1][0]) if len(priced) > 1 else None
        more = tuple(map(_ATOMS, priced[2:])) if len(priced) > 2 else ()
        flat = query.flat
        if flat is None:
            decides = None
        elif flat[2]:  # proximity: its rarest atom, the one `_price` anchors or tests it by
            decides = (flat[0], flat[1] + tuple(map(rarest, flat[2])))
        else:
            decides = flat[:2]
        prechecks.append(Precheck(must, more, query.veto, decides))
    return anchors, prechecks


_ATOMS = itemgetter(0)
_COST = itemgetter(1)


def _form(node: Any) -> Form | None:
    """How `node` can be found, or None when it holds without any atom (a `NOT`)."""
    if type(node) is Plain:
        return ("set", node.atoms)
    if isinstance(node, Leaf):
        if node.kind == "meta":
            return ("meta", node.atoms[:1])
        if node.kind == "near":
            return ("near", node.atoms)
        return ("set", node.needs)
    op, children = node
    if op == "not":
        return None
    if len(children) == 1 and type(children[0]) is Plain:  # most ORs: plain terms only
        return ("set", children[0].atoms)
    forms = [_form(child) for child in children]
    if op == "or":
        if any(form is None for form in forms):
            return None
        if all(form[0] == "set" for form in forms):  # type: ignore[index]  # no None
            return ("set", _union(form[1] for form in forms))  # type: ignore[index]
        return ("or", tuple(forms))
    known = [form for form in forms if form is not None]
    if not known:
        return None
    return known[0] if len(known) == 1 else ("and", tuple(known))


def _price(form: Form, usage: dict[int, int]) -> tuple[tuple[int, ...], int]:
    """The atoms a branch is anchored by and their cost."""
    kind, value = form
    if kind == "set":
        return value, sum(map(usage.__getitem__, value))
    if kind == "meta":
        return value, META_COST
    if kind == "near":
        rarest = min(value, key=usage.__getitem__)
        return (rarest,), usage[rarest]
    if kind == "or":  # one of each child's atoms: the union of what each is found by
        atoms: list[int] = []
        for child in value:  # most are sets and proximity leaves: priced here, not by a call
            if child[0] == "set":
                atoms += child[1]
            elif child[0] == "near":
                atoms.append(min(child[1], key=usage.__getitem__))
            else:
                atoms += _price(child, usage)[0]
        union = tuple(dict.fromkeys(atoms))
        return union, sum(map(usage.__getitem__, union))
    options = [_price(child, usage) for child in value]
    return min(options, key=lambda option: option[1])


def _union(sets: Iterable[tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(chain.from_iterable(sets)))
