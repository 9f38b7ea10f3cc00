"""Watchlists → atoms, leaves and anchors: the data the engine's scan and evaluation use.

Compiling 100,000 queries makes about a million terms, so work is shared wherever the same
thing recurs: a term's analysis is cached by its text, an identical term (same text, field,
diacritic mode) compiles to one `Leaf` object shared by every query that has it, and each
distinct atom gets its automaton keys once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any, NamedTuple

from monitor.errors import ConfigError
from monitor.match.analysis import endings, fold, loose, phrase, words
from monitor.match.evaluate import Leaf, Plain, or_node
from monitor.match.query import And, Meta, Node, Not, Or, Term, parse_query, terms_query
from monitor.models import Entity, Watchlist

__all__ = ["Compiled", "Precheck", "compile_watchlists"]

_FIELD_OF = {"title": "title", "text": "text", "tag": "category"}
_META_COST = 1 << 40
"""Metadata atoms (`lang:de`) hold for whole feeds: never the anchor while a word exists."""


class Precheck(NamedTuple):
    """Atom sets a candidate query is tested against before it is evaluated: each `must`
    set has to meet the story's atoms (one per AND-ed branch but the anchor's: the atoms
    that branch cannot hold without), the `veto` must not (its `NOT` of plain terms)."""

    must: frozenset[int] | None
    """The rarest branch's atoms: the likeliest test to fail."""
    more: tuple[frozenset[int], ...]
    veto: frozenset[int] | None


@dataclass(slots=True)
class Compiled:
    """Everything `Engine` needs; see `engine` for how each part is used."""

    queries: list[Any] = field(default_factory=list)
    """Per watchlist (config order): a `Leaf` or an ("and"|"or"|"not", …) tuple, nested
    ANDs and ORs flattened, plain leaves in ORs merged (`evaluate.or_node`)."""
    prechecks: list[Precheck] = field(default_factory=list)
    """Per query, what is tested in C before `evaluate` is called (most candidates fail)."""
    anchors: dict[int, list[int]] = field(default_factory=dict)
    """Atom id → the watchlists to evaluate when it is found."""
    keys: dict[str, list[int]] = field(default_factory=dict)
    """Automaton key → its atoms. A phrase is a key per spelling its story words may have,
    spaces around (`" elon musk "`, `" elon musks "`, `" elon musk's "`…; see `_spellings`),
    a prefix a space and the prefix (`" tesla"`): keys of `analysis.stream`'s form."""
    loose_keys: dict[str, list[int]] = field(default_factory=dict)
    """The same for `fold_diacritics` watchlists, over `analysis.loose_stream`."""
    tags: dict[str, list[int]] = field(default_factory=dict)
    sources: dict[str, list[int]] = field(default_factory=dict)
    langs: dict[str, list[int]] = field(default_factory=dict)
    automaton: Any = None
    """The `keys` built into an `ahocorasick.Automaton` (untyped) by the engine, or None
    when there are none; `loose_automaton` likewise."""
    loose_automaton: Any = None
    has_loose: bool = False


def compile_watchlists(watchlists: Sequence[Watchlist], entities: Sequence[Entity]) -> Compiled:
    builder = _Builder(entities)
    for watchlist in watchlists:
        builder.add(watchlist)
    builder.choose_anchors()
    return builder.out


class _Builder:
    def __init__(self, entities: Sequence[Entity]) -> None:
        self.out = Compiled()
        self.atoms: dict[tuple[Any, ...], int] = {}
        self.usage: list[int] = []
        self.known = {phrase(entity.name): entity for entity in entities}
        self.leaves: dict[Term | Meta, Leaf] = {}
        self.folded_leaves: dict[Term | Meta, Leaf] = {}
        self.watchlist = ""

    def add(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist.name
        parts = [terms_query(watchlist.terms)] if watchlist.terms else []
        if watchlist.query:
            parts.append(parse_query(watchlist.query, watchlist.name))
        if not parts:
            raise ConfigError(f"watchlist {watchlist.name!r}: neither terms nor a query")
        tree = parts[0] if len(parts) == 1 else Or(tuple(parts))
        self.out.queries.append(self.node(tree, watchlist.fold_diacritics))

    def node(self, node: Node, folded: bool) -> Any:
        if isinstance(node, Term | Meta):
            leaves = self.folded_leaves if folded else self.leaves
            leaf = leaves.get(node)
            if leaf is None:
                leaf = leaves[node] = self.leaf(node, folded)
            leaf.refs += 1
            return leaf
        if isinstance(node, Not):
            return ("not", self.node(node.child, folded))
        op = "and" if isinstance(node, And) else "or"
        children: list[Any] = []
        for child in node.children:  # `a AND (b AND c)` is `a AND b AND c`: one flat test
            compiled = self.node(child, folded)
            if isinstance(compiled, tuple) and compiled[0] == op:
                for grandchild in compiled[1]:
                    if type(grandchild) is Plain:
                        children += grandchild.leaves
                    else:
                        children.append(grandchild)
            else:
                children.append(compiled)
        if len(children) == 1:
            return children[0]
        return ("and", tuple(children)) if op == "and" else or_node(children)

    def leaf(self, term: Term | Meta, folded: bool) -> Leaf:
        if isinstance(term, Meta):
            if term.field == "source":
                key = ("source", " ".join(words(term.value)))
            else:
                key = ("lang", term.value.strip().lower().replace("_", "-").split("-")[0])
            return Leaf(f"{term.field}:{term.value}", "meta", (self.atom(key),))
        fields = frozenset([_FIELD_OF[term.field]]) if term.field else None
        if term.kind == "prefix":
            start = fold(term.value)
            atom = self.atom(("prefix", folded, loose(start) if folded else start))
            return Leaf(term.text, "any", (atom,), fields)
        if term.kind == "entity":
            return self.entity(term, folded)
        sequence = self.sequence(term.text, term.value, folded)
        if term.kind == "near" and len(set(sequence)) > 1:
            atoms = tuple(dict.fromkeys(self.atom(("seq", folded, (w,))) for w in sequence))
            return Leaf(term.text, "near", atoms, fields, term.slop)
        if term.kind == "near":
            sequence = sequence[:1]
        return Leaf(term.text, "any", (self.atom(("seq", folded, sequence)),), fields)

    def entity(self, term: Term, folded: bool) -> Leaf:
        entity = self.known.get(phrase(term.value))
        names = [entity.name] if entity else [term.value]
        full = [self.atom(("seq", folded, self.sequence(term.text, n, folded))) for n in names]
        aliases = list(entity.aliases) if entity else []
        for name in names + aliases:
            together = "".join(phrase(name))
            if together:
                full.append(self.atom(("tag", together)))
        alias_atoms = [
            self.atom(("seq", folded, self.sequence(term.text, a, folded))) for a in aliases
        ]
        leaf = Leaf(term.text, "entity", tuple(dict.fromkeys(full)))
        if entity and (entity.require or entity.exclude):
            leaf.aliases = tuple(dict.fromkeys(alias_atoms))
            leaf.require = tuple(
                self.atom(("seq", folded, self.sequence(term.text, w, folded)))
                for w in entity.require
            )
            leaf.exclude = tuple(
                self.atom(("seq", folded, self.sequence(term.text, w, folded)))
                for w in entity.exclude
            )
        else:
            leaf.atoms = tuple(dict.fromkeys(full + alias_atoms))
        return leaf

    def sequence(self, written: str, text: str, folded: bool) -> tuple[str, ...]:
        sequence = phrase(text)
        if not sequence:
            raise ConfigError(
                f"watchlist {self.watchlist!r}: term {written!r} has no words to match"
            )
        return tuple(map(loose, sequence)) if folded else sequence

    def atom(self, key: tuple[Any, ...]) -> int:
        atom = self.atoms.get(key)
        if atom is not None:
            return atom
        atom = self.atoms[key] = len(self.usage)
        self.usage.append(0)
        out = self.out
        kind = key[0]
        if kind == "seq":
            _, folded, sequence = key
            keys = out.loose_keys if folded else out.keys
            for spelling in _spellings(sequence):
                keys.setdefault(spelling, []).append(atom)
            out.has_loose = out.has_loose or folded
        elif kind == "prefix":
            _, folded, prefix = key
            (out.loose_keys if folded else out.keys).setdefault(" " + prefix, []).append(atom)
            out.has_loose = out.has_loose or folded
        else:
            table = {"tag": out.tags, "source": out.sources, "lang": out.langs}[kind]
            table.setdefault(key[1], []).append(atom)
            if kind != "tag":
                self.usage[atom] = _META_COST
        return atom

    def choose_anchors(self) -> None:
        usage = self.usage
        for leaves in (self.leaves, self.folded_leaves):
            for leaf in leaves.values():
                for atom in leaf.atoms:
                    usage[atom] += leaf.refs
                for atom in leaf.aliases:
                    usage[atom] += leaf.refs
        anchors = self.out.anchors
        for index, query in enumerate(self.out.queries):
            top_and = isinstance(query, tuple) and query[0] == "and"
            branches = query[1] if top_and else (query,)
            needs = list(filter(None, map(self.anchor, branches)))
            if not needs:  # parse_query rejects these; terms always anchor
                raise ConfigError(f"watchlist index {index}: the query can match on NOT alone")
            chosen = min(needs, key=lambda need: need[1])  # the rarest branch
            for atom in chosen[0]:
                anchors.setdefault(atom, []).append(index)
            # The other branches: the rarest first, the likeliest to be missing.
            needs.sort(key=lambda need: need[1])
            musts = [frozenset(atoms) for atoms, _ in needs if atoms is not chosen[0]]
            nots = [b[1] for b in branches if isinstance(b, tuple) and b[0] == "not"]
            veto = frozenset().union(*filter(None, map(_plain_atoms, nots)))
            self.out.prechecks.append(
                Precheck(musts[0] if musts else None, tuple(musts[1:]), veto or None)
            )

    def anchor(self, node: Any) -> tuple[set[int], int] | None:
        """Atoms one of which is found whenever the compiled `node` holds, and their cost
        (the number of uses of the atoms: a proxy for how common they are), or None when
        there are none."""
        usage = self.usage
        if type(node) is Plain:
            return set(node.atoms), sum(map(usage.__getitem__, node.atoms))
        if isinstance(node, Leaf):
            if node.kind == "meta":
                return {node.atoms[0]}, _META_COST
            if node.kind == "near":
                rarest = min(node.atoms, key=usage.__getitem__)
                return {rarest}, usage[rarest]
            atoms = {*node.atoms, *node.aliases}
            return atoms, sum(map(usage.__getitem__, atoms))
        op, children = node
        if op == "not":
            return None
        options = [self.anchor(child) for child in children]
        if op == "or":
            if any(option is None for option in options):
                return None
            union: set[int] = set()
            for option in options:
                union |= option[0]  # type: ignore[index]  # None was ruled out above
            return union, sum(map(usage.__getitem__, union))
        known = [option for option in options if option is not None]
        return min(known, key=lambda option: option[1]) if known else None


def _plain_atoms(node: Any) -> tuple[int, ...] | None:
    """The atoms of a compiled node that holds exactly when one of them is found (plain
    leaves OR-ed), or None for any other node."""
    if type(node) is Plain:
        return node.atoms
    if isinstance(node, Leaf):
        return node.atoms if node.plain else None
    if node[0] == "or" and all(type(child) is Plain for child in node[1]):
        return tuple(atom for child in node[1] for atom in child.atoms)
    return None


_SPELLED_WORDS = 4
"""Phrases up to this long get a key for every combination of endings (3**4 = 81 keys);
longer ones only for endings on their last word."""


def _spellings(sequence: tuple[str, ...]) -> list[str]:
    """The keys that find the phrase `sequence` in an `analysis.stream`: every combination
    of its words' `analysis.endings`."""
    if len(sequence) <= _SPELLED_WORDS:
        options = [endings(word) for word in sequence]
    else:
        options = [(word,) for word in sequence[:-1]] + [endings(sequence[-1])]
    return [" " + " ".join(words) + " " for words in product(*options)]
