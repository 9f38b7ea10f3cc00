"""Watchlists compiled once into an engine that matches a story in time flat in their number.

Three steps, the way Lucene's Monitor (Luwak) works, so that issue 3's boolean queries slot in:

1. **Gate**. One character automaton (pyahocorasick) holds the longest word of every phrase
   any watchlist can hit. A title or text is folded whole and run through it in C; a field
   with no key at the start of a word cannot hit anything and is never split into words.
   Most stories are about nothing anyone watches, so this is most of the speed at a small
   number of watchlists. (Categories are short and skip the gate.)
2. **Scan**. Every phrase — keywords, entity names and aliases — sits in one word trie: a
   dict from a folded word to the next level. Each word of the field (and its possessive
   stem, see `analysis`) is looked up at the root, in C via `map`; from the few that hit we
   walk on while the following words continue a phrase. That is Aho-Corasick over words
   (without failure links: phrases are a few words long, so restarting is cheap). The work
   is a few dict look-ups per word, whatever the number of watchlists, and yields every term
   found with its offsets, exactly: word boundaries and possessives are part of the keys.
3. **Verify**. Only watchlists with a term found (the candidates) are evaluated. Today a
   watchlist is `term OR term OR …`, so verification collects its hits; issue 3's
   AND/NOT/NEAR nodes evaluate over the same per-term hits and word positions.

Decisions:

* A term `#Name` is the entity `Name` (looked up by its folded words, so `#elon musk` finds
  `[entities."Elon Musk"]`): its name and every alias, as phrases. With no such entity it is
  the name alone. Every `Hit.term` is the term as the user wrote it (`#Elon Musk`), so
  `Match.terms` reads like the watchlist; which alias hit is visible in the hit's span (and
  so in the snippet).
* Titles, text and every category are searched alike for whole-word phrases. A `#Name` term
  also hits a category whose words, run together, equal a name's words run together, so a
  hashtag-style tag `ElonMusk` or `elon-musk` counts for `#Elon Musk`; the hit spans the tag.
* Links are not searched: URL slugs (`…-musk-fordert-…`) repeat the title or mislead.
* Hits of one term inside a longer hit of the same term are dropped (`Elon Musk` hits
  `#Elon Musk` once, not again for the alias `Musk`); hits of different terms all stay.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

import ahocorasick

from monitor.errors import ConfigError
from monitor.match.analysis import fold, phrase, spans, stem, words
from monitor.models import Entity, Hit, Match, Story, Watchlist

__all__ = ["Engine", "Scan", "compile_engine"]

_FIELD_RANK = {"title": 0, "text": 1, "category": 2}
_QUOTES = "\"'“”„«»"


class _Node:
    """One level of the word trie: the words that continue a phrase, and the terms (by id)
    that end here. A plain slotted class: compiling 100,000 watchlists makes millions."""

    __slots__ = ("children", "terms")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.terms: list[int] = []


@dataclass(frozen=True, slots=True)
class _Terms:
    """Every compiled term by id: the term as written and its watchlist's position."""

    texts: list[str]
    watchlists: list[int]


@dataclass(frozen=True, kw_only=True, slots=True)
class Scan:
    """What the pre-filter did for one story: for diagnostics and for checking flatness.

    `probes` counts word-index look-ups; it grows with the words of the fields that pass the
    gate, not with the number of watchlists. `candidates` are the watchlists (in config
    order) with at least one term found.
    """

    probes: int
    candidates: tuple[str, ...]


class Engine:
    """Compiled watchlists. Build with `compile_engine`; immutable and safe to share."""

    def __init__(
        self,
        watchlists: Sequence[Watchlist],
        terms: _Terms,
        root: _Node,
        tags: dict[str, list[int]],
        gate: Any,
    ) -> None:
        self._watchlists = tuple(watchlists)
        self._terms = terms
        self._root = root
        self._tags = tags
        self._gate = gate
        """A built `ahocorasick.Automaton` (untyped), or None when there is nothing to find."""

    def match(self, story: Story) -> list[Match]:
        """The watchlists `story` matches, in config order, each with its hits in reading
        order (title, text, then categories by position; by offset within each)."""
        found, _ = self._scan(story)
        by_watchlist: dict[int, list[Hit]] = {}
        for term_id, hits in found.items():
            by_watchlist.setdefault(self._terms.watchlists[term_id], []).extend(hits)
        matches = []
        for index in sorted(by_watchlist):
            verified = _verify(by_watchlist[index])
            if verified:
                matches.append(Match(watchlist=self._watchlists[index].name, hits=verified))
        return matches

    def scan(self, story: Story) -> Scan:
        """Run only the pre-filter and report its cost and candidates."""
        found, probes = self._scan(story)
        indexes = sorted({self._terms.watchlists[term_id] for term_id in found})
        return Scan(probes=probes, candidates=tuple(self._watchlists[i].name for i in indexes))

    def _scan(self, story: Story) -> tuple[dict[int, list[Hit]], int]:
        found: dict[int, list[Hit]] = {}
        probes = 0
        for name, index, text in _fields(story):
            if name == "category":
                probes += self._scan_tag(text, index, found)
            elif not self._passes_gate(text):
                continue
            probes += self._scan_field(text, name, index, found)
        return found, probes

    def _passes_gate(self, text: str) -> bool:
        """Whether some phrase's key word occurs at the start of a word of `text` (folded).
        Never false when the scan would find a hit: every word of a hit is a folded word of
        the field, and a story word starts with the term word it hits (possessives add a
        suffix)."""
        if self._gate is None:
            return False
        folded = fold(text)
        for end, length in self._gate.iter(folded):
            start = end - length + 1
            if start == 0 or not folded[start - 1].isalnum():
                return True
        return False

    def _scan_field(self, text: str, name: str, index: int, found: dict[int, list[Hit]]) -> int:
        found_words = words(text)
        stems = list(map(stem, found_words))
        count = len(found_words)
        at_root = self._root.children.get
        starts = sorted(
            {
                *compress(range(count), map(at_root, found_words)),
                *compress(range(count), map(at_root, stems)),
            }
        )
        probes = 2 * count
        offsets: list[tuple[int, int]] = []
        for first in starts:
            frontier = [self._root]
            position = first
            while frontier and position < count:
                following: list[_Node] = []
                for node in frontier:
                    for key in (found_words[position], stems[position]):
                        probes += 1
                        child = node.children.get(key) if key else None
                        if child is None:
                            continue
                        following.append(child)
                        if child.terms and not offsets:
                            offsets = spans(text)
                        for term_id in child.terms:
                            hit = Hit(
                                term=self._terms.texts[term_id],
                                field=name,
                                start=offsets[first][0],
                                end=offsets[position][1],
                                index=index,
                            )
                            found.setdefault(term_id, []).append(hit)
                frontier = following
                position += 1
        return probes

    def _scan_tag(self, text: str, index: int, found: dict[int, list[Hit]]) -> int:
        """`#Name` terms hit a category that is the name run together (`ElonMusk`)."""
        term_ids = self._tags.get("".join(words(text)), []) if self._tags else []
        if term_ids:
            offsets = spans(text)
            for term_id in term_ids:
                hit = Hit(
                    term=self._terms.texts[term_id],
                    field="category",
                    start=offsets[0][0],
                    end=offsets[-1][1],
                    index=index,
                )
                found.setdefault(term_id, []).append(hit)
        return 1


def compile_engine(watchlists: Sequence[Watchlist], entities: Sequence[Entity]) -> Engine:
    """Compile every watchlist term into one index. Raises `ConfigError` for a term with no
    words in it (it could never match, which the user should hear about)."""
    known: dict[tuple[str, ...], list[str]] = {}
    for entity in entities:
        known.setdefault(phrase(entity.name), [entity.name]).extend(entity.aliases)
    root = _Node()
    terms = _Terms(texts=[], watchlists=[])
    tags: dict[str, list[int]] = {}
    gate = ahocorasick.Automaton()
    gate_keys: set[str] = set()
    phrases_of: dict[str, list[tuple[str, ...]]] = {}  # terms recur across watchlists
    for index, watchlist in enumerate(watchlists):
        for text in dict.fromkeys(watchlist.terms):
            is_entity = text.lstrip().startswith("#")
            phrases = phrases_of.get(text)
            if phrases is None:
                names = _entity_names(text, known) if is_entity else [text]
                phrases = [seq for seq in dict.fromkeys(map(phrase, names)) if seq]
                phrases_of[text] = phrases
            if not phrases:
                raise ConfigError(
                    f"watchlist {watchlist.name!r}: term {text!r} has no words to match"
                )
            term_id = len(terms.texts)
            terms.texts.append(text)
            terms.watchlists.append(index)
            for sequence in phrases:
                _insert(root, sequence, term_id)
                key = max(sequence, key=len)  # the longest word: the rarest, as a rule
                if key not in gate_keys:
                    gate_keys.add(key)
                    gate.add_word(key, len(key))
                if is_entity:
                    tags.setdefault("".join(sequence), []).append(term_id)
    if not gate_keys:
        return Engine(watchlists, terms, root, tags, None)
    gate.make_automaton()
    return Engine(watchlists, terms, root, tags, gate)


def _entity_names(term: str, known: dict[tuple[str, ...], list[str]]) -> list[str]:
    """The names `#Name` stands for: the entity's name and aliases, or the bare name."""
    name = term.strip()[1:].strip()
    if len(name) >= 2 and name[0] in _QUOTES and name[-1] in _QUOTES:
        name = name[1:-1]  # `#"Elon Musk"`, the issue-3 spelling, means the same
    return known.get(phrase(name), [name])


def _insert(root: _Node, sequence: tuple[str, ...], term_id: int) -> None:
    node = root
    for word in sequence:
        child = node.children.get(word)
        if child is None:
            child = node.children[word] = _Node()
        node = child
    if term_id not in node.terms:
        node.terms.append(term_id)


def _fields(story: Story) -> Iterator[tuple[str, int, str]]:
    """The searchable fields in reading order: (field name, category index, text)."""
    yield "title", 0, story.title
    yield "text", 0, story.text
    for index, category in enumerate(story.categories):
        yield "category", index, category


def _verify(hits: list[Hit]) -> tuple[Hit, ...]:
    """A watchlist's hits in reading order, without hits nested in a longer one of the same
    term in the same place. (The OR of terms holds as soon as one hit remains.)"""
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
