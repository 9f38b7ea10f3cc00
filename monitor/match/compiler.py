"""Watchlists → atoms, leaves and anchors: the data the engine's scan and evaluation use.

Compiling 100,000 queries makes about a million terms, so work is shared wherever the same
thing recurs: a term's analysis is cached by its text, an identical term (same text, field,
diacritic mode) compiles to one `Leaf` object shared by every query that has it, and each
distinct atom gets its automaton keys once.

A daemon recompiles on every reload, nearly always with most watchlists unchanged, so that
work is also kept between compiles in the process (`_Memo`): atoms keep their ids, leaves
are reused, and a watchlist whose query, terms and diacritic mode are unchanged reuses its
compiled tree without being walked again (all only while the entities are unchanged, since
entity terms compile from them). Compiled objects are never changed once built, so an old
engine still matching in another thread may share them. What every compile still does is
count atom use and price the anchors over all watchlists (`anchors.choose`); the automata
are rebuilt only when the atoms they find changed (`compile_watchlists`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import chain, count
from typing import Any

from monitor.errors import ConfigError
from monitor.match.analysis import fold, loose, phrase, words
from monitor.match.anchors import META_COST, Plan, Precheck, choose, plan
from monitor.match.evaluate import Leaf, Plain, or_node
from monitor.match.nodes import And, Meta, Node, Not, Or, Term
from monitor.match.query import keep, parse, terms_query
from monitor.match.shapes import Shape, Shaped
from monitor.match.spellings import Keys, automaton_keys
from monitor.models import Entity, Watchlist

__all__ = ["Compiled", "Precheck", "compile_watchlists", "forget"]

_FIELDS_OF = {
    "title": frozenset(["title"]),
    "text": frozenset(["text"]),
    "tag": frozenset(["category"]),
}
"""A term's field (`title:`) as the story fields its leaf reads (shared: they never change)."""


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
    key_atoms: frozenset[int] = frozenset()
    """The atoms the automata find: phrases and prefixes (`spellings.automaton_keys` gives their
    keys). Atom ids are stable in a process, so the same set means the same automata."""
    tags: dict[str, list[int]] = field(default_factory=dict)
    sources: dict[str, list[int]] = field(default_factory=dict)
    langs: dict[str, list[int]] = field(default_factory=dict)
    automaton: Any = None
    """`spellings.automaton_keys` built into an `ahocorasick.Automaton` (untyped) by the engine, or
    None when there are none; `loose_automaton` likewise."""
    loose_automaton: Any = None
    has_loose: bool = False


class _Memo:
    """What compiling keeps between compiles in a process (see the module docstring).

    Only what the last compile used is kept, so a daemon whose watchlists churn does not
    grow. Atom ids come from one counter for the whole process and are never reused: an
    id always means the same atom, whatever was forgotten or reset in between."""

    def __init__(self, entities: tuple[Entity, ...]) -> None:
        self.entities = entities
        self.atoms: dict[tuple[Any, ...], int] = {}
        self.keys_of: dict[int, tuple[Any, ...]] = {}
        """Atom id → its key in `atoms` (what it finds)."""
        self.leaves = _Leaves()
        self.folded_leaves = _Leaves()
        self.queries: dict[tuple[Any, ...], tuple[Any, tuple[Leaf, ...], Plan]] = {}
        """(terms, query, fold_diacritics) → the compiled tree, its leaves (one per use) and
        its `anchors.Plan`."""
        self.automata: tuple[Any, ...] = ()
        """The last automata built: (the atoms they find, the function that built them,
        the automaton, the loose automaton)."""


class _Leaves(dict[Term | Meta, Leaf]):
    """Compiled leaves by their term. A term not yet compiled is compiled when looked up
    (by `make`, which the compile using them sets), so that a query's leaves are found by
    one `map` in C."""

    __slots__ = ("make",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.make: Callable[[Term | Meta], Leaf] = _no_compile

    def __missing__(self, term: Term | Meta) -> Leaf:
        leaf = self[term] = self.make(term)
        return leaf


def _no_compile(term: Term | Meta) -> Leaf:
    raise KeyError(term)  # only a compile (`_Builder`) makes leaves


_memo = _Memo(())
_by_shape: dict[str, Callable[[list[Leaf]], Any]] = {}
"""The code that compiles queries of a shape from their leaves (`_shape_code`), by shape."""
_lock = threading.Lock()
"""One compile at a time uses `_memo` (a reload compiles in a thread)."""
_ids = count()


def compile_watchlists(
    watchlists: Sequence[Watchlist],
    entities: Sequence[Entity],
    automaton: Callable[[Keys], Any],
) -> Compiled:
    """Compile; `automaton` builds an automaton from its keys (`spellings.automaton_keys`),
    or None when there are none. The last compile's automata are reused when the atoms they
    find are all the same (an automaton is only read once built, so engines can share it).
    Parses of queries no longer in `watchlists` are forgotten now and then (`query.keep`)."""
    global _memo
    with _lock:
        known = tuple(entities)
        if known != _memo.entities:
            _memo = _Memo(known)
        builder = _Builder(_memo)
        try:
            builder.parse(watchlists)
            for watchlist in watchlists:
                builder.add(watchlist)
            builder.finish()
        finally:  # the memo outlives the compile: it must not keep the builder alive
            _memo.leaves.make = _memo.folded_leaves.make = _no_compile
        out = builder.out
        if _memo.automata[:2] != (out.key_atoms, automaton):
            keys, loose_keys = automaton_keys(out.key_atoms, _memo.keys_of)
            _memo.automata = (out.key_atoms, automaton, automaton(keys), automaton(loose_keys))
        out.automaton, out.loose_automaton = _memo.automata[2:]
        keep((watchlist.query for watchlist in watchlists if watchlist.query), len(watchlists))
        return out


def forget() -> None:
    """Drop what compiling keeps between compiles: the next compile starts from nothing,
    as in a new process (benchmarks and tests use it to time or test a cold compile)."""
    global _memo
    with _lock:
        _memo = _Memo(())
        _by_shape.clear()


class _Builder:
    def __init__(self, memo: _Memo) -> None:
        self.out = Compiled()
        self.memo = memo
        self.known = {phrase(entity.name): entity for entity in memo.entities}
        self.watchlist = ""
        self.used: list[Leaf] = []
        """The leaves of the query being compiled, one per use."""
        self.uses: list[tuple[Leaf, ...]] = []
        """Per query, its leaves (`used`)."""
        self.queries: dict[tuple[Any, ...], tuple[Any, tuple[Leaf, ...], Plan]] = {}
        self.plans: list[Plan] = []
        memo.leaves.make = lambda term: self.leaf(term, False)
        memo.folded_leaves.make = lambda term: self.leaf(term, True)

    def parse(self, watchlists: Sequence[Watchlist]) -> None:
        """Parse every query before any is compiled (`query` keeps the parses, and errors,
        for `add`, which raises them in config order). Each step's tables then stay in the
        processor's caches: a cold compile of the bench's 100,000 queries took 9.6-10.0 s this
        way and 11.0-11.2 s parsing and compiling each query in turn (alternately, 2026-12-06)."""
        for watchlist in watchlists:
            if watchlist.query:
                with suppress(ConfigError):  # `add` raises it, after earlier watchlists' errors
                    parse(watchlist.query, watchlist.name)

    def add(self, watchlist: Watchlist) -> None:
        key = (watchlist.terms, watchlist.query, watchlist.fold_diacritics)
        done = self.queries.get(key) or self.memo.queries.get(key)
        if done is None:
            self.watchlist = watchlist.name
            parsed = parse(watchlist.query, watchlist.name) if watchlist.query else None
            if isinstance(parsed, Shaped) and not watchlist.terms:
                compiled = self.shaped(parsed, watchlist.fold_diacritics)
            else:
                parts = [terms_query(watchlist.terms)] if watchlist.terms else []
                if parsed is not None:
                    parts.append(parsed.tree() if isinstance(parsed, Shaped) else parsed)
                if not parts:
                    raise ConfigError(f"watchlist {watchlist.name!r}: neither terms nor a query")
                tree = parts[0] if len(parts) == 1 else Or(tuple(parts))
                self.used = []
                compiled = self.node(tree, watchlist.fold_diacritics)
            done = (compiled, tuple(self.used), plan(compiled))
        self.queries[key] = done
        self.out.queries.append(done[0])
        self.uses.append(done[1])
        self.plans.append(done[2])

    def shaped(self, query: Shaped, folded: bool) -> Any:
        """`node` of the query's tree, by its shape's code: no tree is walked (or made)."""
        code = _by_shape.get(query.shape.text)
        if code is None:
            code = _by_shape[query.shape.text] = _shape_code(query.shape)
        leaves = self.memo.folded_leaves if folded else self.memo.leaves
        self.used = list(map(leaves.__getitem__, query.terms))  # type: ignore[arg-type]
        return code(self.used)

    def node(self, node: Node, folded: bool) -> Any:
        """`node` compiled. Leaves are looked up (or made) in the loop, not by a call: a
        cold compile of 100,000 queries meets 1.2 million of them."""
        kind = type(node)
        leaves = self.memo.folded_leaves if folded else self.memo.leaves
        if kind is Term or kind is Meta:
            leaf = leaves[node]  # type: ignore[index]  # a Term or Meta, see above
            self.used.append(leaf)
            return leaf
        if kind is Not:
            return ("not", self.node(node.child, folded))  # type: ignore[union-attr]
        op = "and" if kind is And else "or"
        used = self.used
        children: list[Any] = []
        for child in node.children:  # type: ignore[union-attr]  # an And or Or
            if type(child) is Term or type(child) is Meta:
                leaf = leaves[child]
                used.append(leaf)
                children.append(leaf)
                continue
            compiled = self.node(child, folded)
            if type(compiled) is Plain and op == "or":  # `a OR (b OR c)`: one run of leaves
                children += compiled.leaves
            elif type(compiled) is tuple and compiled[0] == op:  # `a AND (b AND c)`: one test
                for grandchild in compiled[1]:
                    if type(grandchild) is Plain and op == "or":  # a run of an OR's leaves
                        children += grandchild.leaves
                    else:  # (an AND's `Plain` child is an OR: it stays one)
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
        fields = _FIELDS_OF[term.field] if term.field else None
        if term.kind == "prefix":
            start = fold(term.value)
            atom = self.atom(("prefix", folded, loose(start) if folded else start))
            return Leaf(term.text, "any", (atom,), fields)
        if term.kind == "entity":
            return self.entity(term, folded)
        sequence = self.sequence(term.text, term.value, folded)
        if term.kind == "near":  # each distinct word is an atom (a loop: ~87,000 at 100,000)
            atoms: list[int] = []
            for word in sequence:
                atom = self.atom(("seq", folded, (word,)))
                if atom not in atoms:
                    atoms.append(atom)
            if len(atoms) > 1:
                return Leaf(term.text, "near", tuple(atoms), fields, term.slop)
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
        if entity and (entity.require or entity.exclude):
            return Leaf(
                term.text,
                "entity",
                tuple(dict.fromkeys(full)),
                aliases=tuple(dict.fromkeys(alias_atoms)),
                require=tuple(self.phrase_atom(term.text, w, folded) for w in entity.require),
                exclude=tuple(self.phrase_atom(term.text, w, folded) for w in entity.exclude),
            )
        return Leaf(term.text, "entity", tuple(dict.fromkeys(full + alias_atoms)))

    def phrase_atom(self, written: str, text: str, folded: bool) -> int:
        return self.atom(("seq", folded, self.sequence(written, text, folded)))

    def sequence(self, written: str, text: str, folded: bool) -> tuple[str, ...]:
        sequence = phrase(text)
        if not sequence:
            raise ConfigError(
                f"watchlist {self.watchlist!r}: term {written!r} has no words to match"
            )
        return tuple(map(loose, sequence)) if folded else sequence

    def atom(self, key: tuple[Any, ...]) -> int:
        memo = self.memo
        atom = memo.atoms.get(key)
        if atom is None:
            atom = memo.atoms[key] = next(_ids)
            memo.keys_of[atom] = key
        return atom

    def finish(self) -> None:
        """Count how many queries use each atom (the anchors' cost), keep what this compile
        used (and only that) for the next one, and fill the tables and anchors."""
        memo, out = self.memo, self.out
        refs = Counter(chain.from_iterable(self.uses))
        usage: dict[int, int] = {}
        used: set[int] = set()
        get = usage.get
        for leaf, uses in refs.items():
            for atom in leaf.atoms + leaf.aliases:
                usage[atom] = get(atom, 0) + uses
            if leaf.require or leaf.exclude:
                used.update(leaf.require, leaf.exclude)
        used.update(usage)
        keys_of = memo.keys_of  # pruned to `used` when some are not
        if len(used) != len(keys_of):
            keys_of = {atom: keys_of[atom] for atom in sorted(used)}
        key_atoms = []
        tables = {"tag": out.tags, "source": out.sources, "lang": out.langs}
        for atom, key in keys_of.items():
            kind = key[0]
            if kind == "seq" or kind == "prefix":
                key_atoms.append(atom)
                out.has_loose = out.has_loose or key[1]
                continue
            tables[kind].setdefault(key[1], []).append(atom)
            if kind != "tag":
                usage[atom] = usage.get(atom, 0) + META_COST
        out.key_atoms = frozenset(key_atoms)
        out.anchors, out.prechecks = choose(self.plans, usage)  # may raise: memo unchanged
        memo.queries = self.queries
        if len(memo.leaves) + len(memo.folded_leaves) != len(refs):  # some are not used
            memo.leaves = _Leaves((t, f) for t, f in memo.leaves.items() if f in refs)
            memo.folded_leaves = _Leaves((t, f) for t, f in memo.folded_leaves.items() if f in refs)
        if keys_of is not memo.keys_of:
            memo.keys_of = keys_of
            memo.atoms = {key: atom for atom, key in keys_of.items()}


def _shape_code(shape: Shape) -> Callable[[list[Leaf]], Any]:
    """Generated code that compiles a query of `shape` from its leaves (in the order of its
    terms) into what `_Builder.node` makes of its tree, flattened the same way: an AND in
    an AND, or an OR in an OR, is one node (`a AND (b AND c)` is one test; `a OR (b OR c)`
    one run of leaves for `or_node`). The shape's tree holds only operators, so what `node`
    decides while walking can be decided here once; tests/test_compile_shapes.py checks
    that both give the same."""

    def flat(node: And | Or) -> list[Node]:
        children: list[Node] = []
        for child in node.children:
            children += flat(child) if type(child) is type(node) else [child]
        return children

    def source(node: Any) -> str:
        if isinstance(node, Term):
            return f"L[{node.value[1:]}]"  # a placeholder: `Q3` is the query's fourth term
        if isinstance(node, Not):
            return f'("not", {source(node.child)})'
        children = [source(child) for child in flat(node)]
        if len(children) == 1:
            return children[0]
        if type(node) is And:
            return f'("and", ({", ".join(children)},))'
        return f"or_node([{', '.join(children)}])"

    code: Callable[[list[Leaf]], Any] = eval(
        f"lambda L: {source(shape.template)}", {"or_node": or_node}
    )
    return code
