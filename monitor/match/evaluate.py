"""Exact evaluation of one compiled query over the atoms the engine's scan found in a story.

The scan (in `engine`) finds every *atom* — a phrase, a word prefix, a category run together,
a feed-name phrase, a language — once per story, whatever the number of queries, as a list
of raw hits `(field, category index, first word, last word)`. A query is a tree of
`Leaf`s and `("and" | "or", children)` / `("not", child)` tuples; evaluating it is a walk
that looks atoms up in that dict. Nothing here reads text.

Entity leaves apply the entity's context rules to alias hits (never to the full name):
`require` — at least one of the context phrases occurs anywhere in the story; `exclude` — no
exclusion phrase overlaps the alias hit or stands within `EXCLUDE_WINDOW` words of it in the
same field (`Musk` in `musk ox`, or near `Moschus`).
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter
from typing import Any

__all__ = [
    "EXCLUDE_WINDOW",
    "Flat",
    "Leaf",
    "Plain",
    "Raw",
    "evaluate",
    "flat_parts",
    "or_node",
    "plain_atoms",
]

Raw = tuple[str, int, int, int, int, int]
"""(field, category index, first word position, last word position, word characters before
the first word, word characters up to the end of the last; the two counts are -1 where
unknown) of one atom hit: the engine turns them into offsets only for the hits of queries
that matched."""
Found = dict[int, list[Raw]]
EXCLUDE_WINDOW = 5
_SECOND = itemgetter(1)


class Leaf:
    """A compiled term: which atoms it needs and how they combine. Slotted: there is one
    per term of every query (a million at 100,000 queries)."""

    __slots__ = (
        "aliases",
        "atoms",
        "exclude",
        "fields",
        "kind",
        "needs",
        "pairs",
        "plain",
        "require",
        "slop",
        "text",
    )

    def __init__(
        self,
        text: str,
        kind: str,
        atoms: tuple[int, ...],
        fields: frozenset[str] | None = None,
        slop: int = 0,
        *,
        aliases: tuple[int, ...] = (),
        require: tuple[int, ...] = (),
        exclude: tuple[int, ...] = (),
    ) -> None:
        self.text = text
        self.kind = kind
        """"any" (one of `atoms` occurs), "entity", "near" (all, close together), "meta"."""
        self.atoms = atoms
        self.fields = fields
        self.slop = slop
        self.aliases = aliases
        """An entity's aliases that count only under its `require`/`exclude` rules."""
        self.require = require
        self.exclude = exclude
        self.needs = atoms + aliases
        """Atoms one of which the story must have for the leaf to hold: `evaluate` skips a
        leaf that has none without calling anything."""
        self.plain = kind in ("any", "entity") and fields is None and not aliases
        """True when the leaf holds exactly when one of its atoms is found."""
        self.pairs = ((text, atoms[0]),) if len(atoms) == 1 else tuple(zip(repeat(text), atoms))
        """(term, atom) for each of its atoms: made once per distinct term and shared by
        every `Plain` holding it, not made again for each of its uses (a million)."""

    def hits(self, found: Found) -> list[Raw]:
        if self.kind == "near":
            return _near(self, found)
        raws = [raw for atom in self.atoms for raw in found.get(atom, ())]
        if self.kind == "entity" and self.aliases:
            raws += _aliases(self, found)
        if self.fields is not None:
            raws = [raw for raw in raws if raw[0] in self.fields]
        return raws


class Plain:
    """A run of plain leaves inside an OR (see `or_node`), in the order written, their
    (term, atom) `pairs` in that order and their atoms (one per pair: two terms with one
    atom, `Musk` and `musk`, are rare, and an atom twice only counts twice in its anchor's
    price). Tuples, not sets: there are a few per query, and a story's found atoms are
    intersected with them in C all the same."""

    __slots__ = ("atoms", "leaves", "pairs")

    def __init__(self, leaves: list[Leaf]) -> None:
        self.leaves = tuple(leaves)
        if len(leaves) == 1:  # a leaf's atoms are distinct already
            self.pairs = leaves[0].pairs
            self.atoms = leaves[0].atoms
        else:  # a loop, not comprehensions: each is a call of its own in Python 3.11 (2x)
            pairs: list[tuple[str, int]] = []
            for leaf in leaves:
                pairs += leaf.pairs
            self.pairs = tuple(pairs)
            self.atoms = tuple(map(_SECOND, pairs))  # (an atom twice is rare and harmless)


def or_node(children: list[Any]) -> Plain | tuple[str, tuple[Any, ...]]:
    """An OR of compiled children for `evaluate`, each run of consecutive plain leaves
    merged into one `Plain` node: one set intersection in C instead of a call per leaf. Runs
    keep their place among the OR's other children, so hits are collected in order. An OR
    of plain leaves only (most ORs) is its `Plain`: fewer objects for matching to visit."""
    merged: list[Any] = []
    run: list[Leaf] = []
    for child in children:
        if type(child) is Leaf and child.plain:
            run.append(child)
            continue
        if run:
            merged.append(Plain(run))
            run = []
        merged.append(child)
    if run:
        merged.append(Plain(run))
    if len(merged) == 1 and type(merged[0]) is Plain:
        return merged[0]
    return ("or", tuple(merged))


def evaluate(node: Any, found: Found) -> list[tuple[str, Raw]] | None:
    """The hits that make `node` true in the story, or None when it is false. A true `NOT`
    contributes no hits; a true `OR` the hits of every branch that holds.

    The hot path, run for every candidate that survives its pre-checks: the children of an
    AND or OR are tested in its loop where that is one set operation in C — a `Plain`
    child, a `Leaf` none of whose atoms was found — an AND runs its ORs' loops (`_any`)
    without evaluating them as nodes, and a `Plain`'s hits are collected in the loop: only
    the rest is a call of `evaluate` (at 100,000 queries, evaluating an article's survivors
    took 316 µs before, 120 µs after: 500 articles, a scratch A/B, measured warm).
    """
    keys = found.keys()
    if type(node) is Plain:
        collected: list[tuple[str, Raw]] = []
        return collected if _any((node,), keys, found, collected) else None
    if type(node) is Leaf:
        return _leaf(node, found)
    op, children = node
    if op == "not":
        if type(children) is Plain:  # true or false is all a NOT needs
            return [] if keys.isdisjoint(children.atoms) else None
        return [] if evaluate(children, found) is None else None
    collected = []
    if op == "or":
        return collected if _any(children, keys, found, collected) else None
    for child in children:  # an AND
        if type(child) is tuple and child[0] == "or":
            if not _any(child[1], keys, found, collected):
                return None
            continue
        if type(child) is Plain:
            if not _any((child,), keys, found, collected):
                return None
            continue
        if type(child) is Leaf and keys.isdisjoint(child.needs):
            return None
        hits = evaluate(child, found)
        if hits is None:
            return None
        collected += hits
    return collected


def _any(children: Any, keys: Any, found: Found, collected: list[tuple[str, Raw]]) -> bool:
    """Whether one of an OR's `children` holds; adds the hits of each that holds to
    `collected` (`keys`: the found atoms)."""
    holds = False
    for child in children:
        if type(child) is Plain:
            present = keys & child.atoms
            if present:
                holds = True
                for text, atom in child.pairs:
                    if atom in present:
                        for raw in found[atom]:
                            collected.append((text, raw))
            continue
        if type(child) is Leaf and keys.isdisjoint(child.needs):
            continue
        hits = evaluate(child, found)
        if hits is not None:
            holds = True
            collected += hits
    return holds


Flat = tuple[tuple[tuple[str, int], ...], tuple[int, ...], tuple[tuple[int, ...], ...]]
"""What `flat_parts` gives: (term, atom) pairs, the atoms of the other leaves but proximity,
and each proximity leaf's atoms."""


def flat_parts(node: Any) -> Flat | None:
    """For a *flat* query — an AND (or a single branch) of branches that are leaves or ORs
    of leaves, each maybe under a `NOT` — the (term, atom) pairs of its plain leaves outside
    `NOT`s, in evaluation order, the atoms any of its other leaves needs (an entity with
    context rules, a field, metadata), and the atoms of each proximity leaf; None for any
    other query.

    In a story that has none of those other atoms, and not every atom of any proximity
    leaf, those leaves are all false, so each branch holds exactly when one of its plain
    atoms is found, which is what the anchor and the pre-checks test (`anchors.Precheck`:
    a branch's `must` set holds all its plain atoms, the `veto` those of its `NOT`s). The
    engine then does not evaluate the query: its hits are the found atoms of these pairs,
    in the order `evaluate` collects them. A query of plain terms only has no other atoms
    and is never evaluated. (A proximity leaf is represented in the tests by its rarest
    atom: `anchors.choose` picks it, once the atoms' uses are known.)
    """
    top_and = type(node) is tuple and node[0] == "and"
    pairs: list[tuple[str, int]] = []
    others: list[int] = []
    near: list[tuple[int, ...]] = []
    for branch in node[1] if top_and else (node,):
        negated = type(branch) is tuple and branch[0] == "not"
        if negated:
            branch = branch[1]
        if type(branch) is Plain or type(branch) is Leaf:
            children: Any = (branch,)
        elif branch[0] == "or":
            children = branch[1]
        else:
            return None
        for child in children:
            if _is_plain(child):
                if not negated:
                    pairs += child.pairs
            elif type(child) is Leaf and child.kind == "near":
                near.append(child.atoms)
            elif type(child) is Leaf:
                others += child.needs
            else:  # a NOT or an AND inside an OR: true or false beyond what sets tell
                return None
    return tuple(pairs), tuple(dict.fromkeys(others)), tuple(near)


def plain_atoms(node: Any) -> tuple[int, ...]:
    """The atoms of `node` one of which, found, makes it hold: those of its plain leaves,
    when it is a plain leaf, a `Plain` or an OR (a `NOT` of it fails when one is found)."""
    if _is_plain(node):
        return node.atoms  # type: ignore[no-any-return]  # a Plain or a Leaf
    if type(node) is not tuple or node[0] != "or":
        return ()
    atoms: list[int] = []
    for child in node[1]:
        if _is_plain(child):
            atoms += child.atoms
    return tuple(atoms)


def _is_plain(node: Any) -> bool:
    """Whether `node` holds exactly when one of its atoms is found: a `Plain` or a plain
    `Leaf`."""
    return type(node) is Plain or (type(node) is Leaf and node.plain)


def _leaf(leaf: Leaf, found: Found) -> list[tuple[str, Raw]] | None:
    if leaf.kind == "meta":
        return [] if leaf.atoms[0] in found else None
    raws = leaf.hits(found)
    if not raws:
        return None
    text = leaf.text
    return [(text, raw) for raw in raws]


def _aliases(leaf: Leaf, found: Found) -> list[Raw]:
    if leaf.require and not any(atom in found for atom in leaf.require):
        return []
    raws = [raw for atom in leaf.aliases for raw in found.get(atom, ())]
    vetoes = [raw for atom in leaf.exclude for raw in found.get(atom, ())]
    if not vetoes:
        return raws
    return [raw for raw in raws if not any(_close(raw, veto) for veto in vetoes)]


def _close(hit: Raw, veto: Raw) -> bool:
    if hit[:2] != veto[:2]:
        return False
    return veto[2] - EXCLUDE_WINDOW <= hit[3] and hit[2] <= veto[3] + EXCLUDE_WINDOW


def _near(leaf: Leaf, found: Found) -> list[Raw]:
    """Every word of the phrase in one field, in any order, with at most `slop` other words
    between the first and the last: the smallest such window, found by a sweep."""
    lists = [found.get(atom) for atom in leaf.atoms]
    if not all(lists):
        return []
    need = len(leaf.atoms)
    places: dict[tuple[str, int], list[tuple[int, int, Raw]]] = {}
    for label, raws in enumerate(lists):
        for raw in raws or ():
            if leaf.fields is None or raw[0] in leaf.fields:
                places.setdefault(raw[:2], []).append((raw[2], label, raw))
    result: list[Raw] = []
    for entries in places.values():
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        counts = [0] * need
        covered = 0
        left = 0
        for right, (position, label, _) in enumerate(entries):
            covered += counts[label] == 0
            counts[label] += 1
            while covered == need:
                first = entries[left][0]
                if position - first - (need - 1) <= leaf.slop:
                    result += [entry[2] for entry in entries[left : right + 1]]
                    break
                counts[entries[left][1]] -= 1
                covered -= counts[entries[left][1]] == 0
                left += 1
    return list(dict.fromkeys(result))
