"""Watchlists compiled once into an engine that matches a story in time flat in their number.

The way Lucene's Monitor (Luwak) works: every query is reduced to *atoms* shared by all
queries, the story is scanned once for every atom, and only queries that an atom found
selects (the candidates) are evaluated, exactly, by `evaluate`.

1. **Atoms**. A phrase (a keyword, an entity name or alias, a proximity word) is a word
   sequence; `Tesla*` a word prefix; an entity's name run together (`ElonMusk`) a category
   key; `source:`/`lang:` values metadata keys. Each distinct atom exists once, with an id,
   however many queries use it; compiling analyses each distinct term text once.
2. **Gate**. One character automaton (pyahocorasick) holds the longest word of every phrase
   and every prefix. A title or text is folded whole and run through it in C; a field with
   no key at the start of a word cannot hold an atom and is never split into words.
3. **Scan**. Phrases sit in a word trie (a dict per level). Compiling lists every story word
   that starts a phrase — a first word, or a form whose possessive stem is one (see
   `analysis`) — so each word of a field costs one look-up, in C via `map`; from the few that
   hit we walk on while the following words continue a phrase — Aho-Corasick over words.
   Prefixes are found per distinct word through a memo of the prefixes each word starts
   with. `fold_diacritics` watchlists have their own trie over `analysis.loose` words,
   scanned only when such a watchlist exists.
4. **Select and verify**. Each query is registered under a few *anchor* atoms, chosen so that
   the query cannot hold unless one of them was found: all branches of an OR, the one branch
   of an AND whose atoms are used by the fewest queries (rare words select few candidates;
   `NOT` branches and metadata never anchor). Only selected queries are evaluated.

Decisions kept from the foundation: `#Name` is the entity `Name` (looked up by its folded
words) — its name, aliases and a category equal to a name run together; with no such entity
it is the name alone. `Hit.term` is the term as written. Links are not searched. Hits of one
term nested in a longer hit of the same term are dropped.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import compress
from operator import is_
from typing import Any

import ahocorasick

from monitor.match.analysis import fold, loose, spans, stem, words
from monitor.match.compiler import Compiled, TrieNode, compile_watchlists
from monitor.match.evaluate import Found, Raw, evaluate, holds
from monitor.models import Entity, Hit, Match, Story, Watchlist

__all__ = ["Engine", "Scan", "compile_engine"]

_FIELD_RANK = {"title": 0, "text": 1, "category": 2}


@dataclass(frozen=True, kw_only=True, slots=True)
class Scan:
    """What the pre-filter did for one story: for diagnostics and for checking flatness.

    `probes` counts word-index look-ups; it grows with the words of the fields that pass the
    gate, not with the number of watchlists. `candidates` are the watchlists (in config
    order) selected for exact evaluation.
    """

    probes: int
    candidates: tuple[str, ...]


class Engine:
    """Compiled watchlists. Build with `compile_engine`; immutable and safe to share."""

    def __init__(self, watchlists: Sequence[Watchlist], compiled: Compiled) -> None:
        self._watchlists = tuple(watchlists)
        self._c = compiled

    def match(self, story: Story) -> list[Match]:
        """The watchlists `story` matches, in config order, each with its hits in reading
        order (title, text, then categories by position; by offset within each)."""
        found, _ = self._scan(story)
        matches = []
        queries, checks = self._c.queries, self._c.checks
        offsets: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for index in self._candidates(found):
            if not holds(checks[index], found):
                continue
            raws = evaluate(queries[index], found)
            if raws:
                hits = [_hit(term, raw, story, offsets) for term, raw in raws]
                matches.append(Match(watchlist=self._watchlists[index].name, hits=_verify(hits)))
        return matches

    def scan(self, story: Story) -> Scan:
        """Run only the pre-filter and report its cost and candidates."""
        found, probes = self._scan(story)
        names = tuple(self._watchlists[i].name for i in self._candidates(found))
        return Scan(probes=probes, candidates=names)

    def _candidates(self, found: Found) -> list[int]:
        anchors = self._c.anchors
        selected: set[int] = set()
        for atom in found:
            queries = anchors.get(atom)
            if queries:
                selected.update(queries)
        return sorted(selected)

    def _scan(self, story: Story) -> tuple[Found, int]:
        """Every atom in the story. Title and text are split into words only when the gate
        finds an anchor key in one of them, or a category holds an anchor: otherwise no
        query can be a candidate, and atoms nobody would look at are not worth finding."""
        c = self._c
        found: Found = {}
        probes = 0
        for index, category in enumerate(story.categories):
            tag = c.tags.get("".join(words(category))) if c.tags else None
            for atom in tag or ():
                found.setdefault(atom, []).append(("category", index, 0, len(words(category)) - 1))
            probes += 1 + self._scan_field(category, "category", index, found)
        if (
            self._passes_gate(story.title)
            or self._passes_gate(story.text)
            or any(atom in c.anchors for atom in found)
        ):
            probes += self._scan_field(story.title, "title", 0, found)
            probes += self._scan_field(story.text, "text", 0, found)
        if c.sources:
            names = words(story.feed)
            for start in range(len(names)):
                for end in range(start + 1, len(names) + 1):
                    for atom in c.sources.get(" ".join(names[start:end]), ()):
                        found.setdefault(atom, []).append(("source", 0, 0, 0))
        if c.langs and story.language:
            primary = story.language.strip().lower().replace("_", "-").split("-")[0]
            for atom in c.langs.get(primary, ()):
                found.setdefault(atom, []).append(("lang", 0, 0, 0))
        return found, probes

    def _passes_gate(self, text: str) -> bool:
        """Whether some anchor key occurs at the start of a word of `text` (folded). Never
        false when an anchor atom is in the text: every word of a hit is a folded word of
        the field, and a story word starts with the term word or prefix it hits."""
        gate = self._c.gate
        if gate is None or not text:
            return False
        folded = fold(text)
        if self._c.has_loose:
            folded += " " + " ".join(map(loose, words(text)))
        for end, length in gate.iter(folded):
            start = end - length + 1
            if start == 0 or not folded[start - 1].isalnum():
                return True
        return False

    def _scan_field(self, text: str, name: str, index: int, found: Found) -> int:
        c = self._c
        exact = words(text)
        probes = _walk(c.starts, exact, name, index, found)
        if c.prefix_gate is not None:
            probes += _prefixes(c.prefix_gate, exact, name, index, found)
        if c.has_loose:
            folded = list(map(loose, exact))
            probes += _walk(c.loose_starts, folded, name, index, found)
            if c.loose_prefix_gate is not None:
                probes += _prefixes(c.loose_prefix_gate, folded, name, index, found)
        return probes


def compile_engine(watchlists: Sequence[Watchlist], entities: Sequence[Entity]) -> Engine:
    """Compile every watchlist into one index. Raises `ConfigError` for a query that does
    not parse, a term with no words in it (it could never match), or a query that could
    match on NOT alone."""
    enabled = gc.isenabled()
    gc.disable()  # millions of small objects, none cyclic: the collector would only rescan
    try:
        compiled = compile_watchlists(watchlists, entities)
        compiled.gate = _automaton({key: len(key) for key in compiled.gate_keys})
        compiled.prefix_gate = _prefix_table(compiled.prefixes)
        compiled.loose_prefix_gate = _prefix_table(compiled.loose_prefixes)
        compiled.starts = _starts(compiled.root)
        compiled.loose_starts = _starts(compiled.loose_root)
    finally:
        if enabled:
            gc.enable()
    return Engine(watchlists, compiled)


def _automaton(values: dict[str, Any]) -> Any:
    if not values:
        return None
    automaton = ahocorasick.Automaton()
    for key, value in values.items():
        automaton.add_word(key, value)
    automaton.make_automaton()
    return automaton


_stem = stem.__wrapped__
"""`stem` uncached: compiling tries forms no story may have; they would evict real words."""


def _starts(root: TrieNode) -> dict[str, tuple[tuple[int, ...], tuple[TrieNode, ...]]]:
    """Every story word that starts a phrase of the trie at `root` — a key itself, or a form
    whose `stem` is a key (`k + "s"`, `k + "'s"`) — with the atoms of the one-word phrases it
    is and the nodes to walk on from (as itself first, then by its stem)."""
    reached: dict[str, list[TrieNode | None]] = {}
    for key, node in root.children.items():
        reached.setdefault(key, [None, None])[0] = node
        for form in (key + "s", key + "'s"):
            if _stem(form) == key:
                reached.setdefault(form, [None, None])[1] = node
    starts: dict[str, tuple[tuple[int, ...], tuple[TrieNode, ...]]] = {}
    shared: dict[tuple[int, ...], tuple[tuple[int, ...], tuple[TrieNode, ...]]] = {}
    for word, pair in reached.items():
        nodes = [node for node in pair if node is not None]
        ids = tuple(map(id, nodes))  # `k`, `ks` and `k's` mostly reach the same node
        value = shared.get(ids)
        if value is None:
            atoms = tuple(atom for node in nodes for atom in node.atoms)
            value = shared[ids] = (atoms, tuple(node for node in nodes if node.children))
        starts[word] = value
    return starts


def _walk(
    starts: dict[str, tuple[tuple[int, ...], tuple[TrieNode, ...]]],
    found_words: list[str],
    name: str,
    index: int,
    found: Found,
) -> int:
    """Every phrase of the trie whose `starts` are given in `found_words`, recorded as raw
    hits. Most phrases are one word: a word that starts none costs one look-up in C."""
    count = len(found_words)
    probes = 2 * count
    for first in compress(range(count), map(starts.__contains__, found_words)):
        atoms, nodes = starts[found_words[first]]
        deeper: Sequence[TrieNode] = nodes
        if atoms:
            raw = (name, index, first, first)
            for atom in atoms:
                hits = found.get(atom)
                if hits is None:
                    found[atom] = [raw]
                else:
                    hits.append(raw)
        position = first + 1
        while deeper and position < count:
            following = []
            word = found_words[position]
            for node in deeper:
                for key in (word, stem(word)):
                    probes += 1
                    child = node.children.get(key) if key else None
                    if child is None:
                        continue
                    following.append(child)
                    if child.atoms:
                        raw = (name, index, first, position)
                        for atom in child.atoms:
                            found.setdefault(atom, []).append(raw)
            deeper = following
            position += 1
    return probes


class _Prefixes:
    """The compiled prefixes (`tesla*` hits `teslas`, `tesla-chef`) and, per story word
    seen, the atoms of the prefixes it starts with: story words repeat, so after a warm-up
    a field costs one C-level look-up per distinct word. The memo is bounded (cleared when
    it grows past `_MEMO_SIZE`); a scan reads it once and keeps what it read, so an engine
    shared between threads stays correct."""

    __slots__ = ("lengths", "memo", "prefixes")

    def __init__(self, prefixes: dict[str, int]) -> None:
        self.prefixes = prefixes
        self.lengths = tuple(sorted(set(map(len, prefixes))))
        self.memo: dict[str, tuple[int, ...]] = {}

    def atoms(self, word: str) -> tuple[int, ...]:
        prefixes = self.prefixes
        found = tuple(
            prefixes[word[:length]]
            for length in self.lengths
            if length <= len(word) and word[:length] in prefixes
        )
        if len(self.memo) >= _MEMO_SIZE:
            self.memo.clear()
        self.memo[word] = found
        return found


_MEMO_SIZE = 1 << 18
_is_none = partial(is_, None)


def _prefixes(table: _Prefixes, found_words: list[str], name: str, index: int, found: Found) -> int:
    """Words that start with a compiled prefix, recorded as raw hits (see `_Prefixes`)."""
    distinct = list(set(found_words))
    read = list(map(table.memo.get, distinct))  # read once: another thread may clear it
    if None in read:
        for place in compress(range(len(read)), map(_is_none, read)):
            read[place] = table.atoms(distinct[place])
    known: list[tuple[int, ...]] = read  # type: ignore[assignment]  # no None left
    atoms = dict(compress(zip(distinct, known, strict=True), known))
    if atoms:  # the positions of the few words that hit, found by one scan in C
        positions: dict[str, list[int]] = {}
        for position in compress(range(len(found_words)), map(atoms.__contains__, found_words)):
            positions.setdefault(found_words[position], []).append(position)
        for word, each in atoms.items():
            raws = [(name, index, position, position) for position in positions[word]]
            for atom in each:
                found.setdefault(atom, []).extend(raws)
    return len(distinct)


def _prefix_table(prefixes: dict[str, int]) -> _Prefixes | None:
    return _Prefixes(prefixes) if prefixes else None


def _hit(
    term: str,
    raw: Raw,
    story: Story,
    offsets: dict[tuple[str, int], list[tuple[int, int]]],
) -> Hit:
    """A raw hit (word positions) as a `Hit` (offsets into the field's original text)."""
    field, index, first, last = raw
    place = offsets.get((field, index))
    if place is None:
        if field == "category":
            text = story.categories[index]
        else:
            text = story.title if field == "title" else story.text
        place = offsets[(field, index)] = spans(text)
    return Hit(term=term, field=field, start=place[first][0], end=place[last][1], index=index)


def _verify(hits: list[Hit]) -> tuple[Hit, ...]:
    """A watchlist's hits in reading order, without duplicates or hits nested in a longer
    one of the same term in the same place."""
    ordered = sorted(hits, key=lambda h: (_FIELD_RANK[h.field], h.index, h.start, -h.end))
    reach: dict[tuple[str, str, int], int] = {}
    kept: list[Hit] = []
    for hit in ordered:
        place = (hit.term, hit.field, hit.index)
        if hit.end <= reach.get(place, -1):
            continue
        reach[place] = hit.end
        kept.append(hit)
    return tuple(kept)
