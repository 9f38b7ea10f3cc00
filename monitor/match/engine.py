"""Watchlists compiled once into an engine that matches a story in time flat in their number.

The way Lucene's Monitor (Luwak) works: every query is reduced to *atoms* shared by all
queries, the story is scanned once for every atom, and only queries that an atom found
selects (the candidates) are evaluated, exactly, by `evaluate`.

1. **Atoms**. A phrase (a keyword, an entity name or alias, a proximity word) is a word
   sequence; `Tesla*` a word prefix; an entity's name run together (`ElonMusk`) a category
   key; `source:`/`lang:` values metadata keys. Each distinct atom exists once, with an id,
   however many queries use it; compiling analyses each distinct term text once.
2. **Scan**. Every field becomes an `analysis.stream` — its folded words, each with a space
   before and after — and one Aho-Corasick automaton (pyahocorasick, in C) holds a key per
   phrase spelling (`" musk "`, `" musks "`, `" musk's "`, `" elon musk "`…) and per prefix
   (`" tesla"`). One pass over the stream finds every atom in the field as a whole word or
   phrase; nothing is split into words on this path, and the work is the stream's length
   plus its hits, whatever the number of watchlists. The set of atoms found is made from
   the hits in C; their word positions (a hit's position is the number of spaces before it)
   are worked out in Python only when a candidate survives its pre-checks (`_Scanned`).
   `fold_diacritics` watchlists have their own automaton over `analysis.loose_stream`,
   scanned only when such a watchlist exists.
3. **Select and verify**. Each query is registered under a few *anchor* atoms, chosen so that
   the query cannot hold unless one of them was found: all branches of an OR, the one branch
   of an AND whose atoms are used by the fewest queries (rare words select few candidates;
   `NOT` branches and metadata never anchor). A candidate's other AND branches and its `NOT`
   of plain terms are tested as set operations (`anchors.Precheck`), over all the
   candidates at once (`select`: `map`s in C, or numpy past a few hundred candidates).
   A survivor is evaluated exactly — unless it is *flat* (leaves in ANDs, ORs and NOTs,
   `evaluate.flat_parts`) and none of its leaves but plain ones can hold (none of their
   atoms was found): then the tests it passed decide it, and its hits are read off its
   plain terms. Only matches get `Hit`s with offsets into the original text.

Decisions kept from the foundation: `#Name` is the entity `Name` (looked up by its folded
words) — its name, aliases and a category equal to a name run together; with no such entity
it is the name alone. `Hit.term` is the term as written. Links are not searched. Hits of one
term nested in a longer hit of the same term are dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, compress
from operator import itemgetter, not_
from typing import Any, cast

import ahocorasick

from monitor.collector import lasting
from monitor.match.analysis import Spans, loose_stream, offset, streams, words
from monitor.match.compiler import Compiled, compile_watchlists
from monitor.match.evaluate import Found, Raw, evaluate
from monitor.match.select import EVERY_STORY, Selector
from monitor.match.spellings import Keys, merge_repeated
from monitor.models import Entity, Hit, Match, Story, Watchlist

__all__ = ["Engine", "Scan", "compile_engine"]

_FIELD_RANK = {"title": 0, "text": 1, "category": 2}
_ALIGNED_HITS = 8
"""Hits per field placed one by one before one pass over the field's words is cheaper."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Scan:
    """What the pre-filter did for one story: for diagnostics and for checking flatness.

    `probes` counts the automaton's hits: the atoms' places in the story, which do not grow
    with the number of watchlists that share none of the story's words. `candidates` are
    the watchlists (in config order) selected for exact evaluation.
    """

    probes: int
    candidates: tuple[str, ...]


class Engine:
    """Compiled watchlists. Build with `compile_engine`; immutable and safe to share."""

    def __init__(self, watchlists: Sequence[Watchlist], compiled: Compiled) -> None:
        self._c = compiled
        self._select = Selector(compiled.anchors, compiled.prechecks)
        self._names = [w.name for w in watchlists]
        """Per query (config order), apart from its tree: a survivor decided by the set tests
        never touches its tree (each object touched is a likely cache miss at 100,000)."""

    def match(self, story: Story) -> list[Match]:
        """The watchlists `story` matches, in config order, each with its hits in reading
        order (title, text, then categories by position; by offset within each)."""
        scanned = self._scan(story)
        matches = []
        names, queries = self._names, self._c.queries
        hits = _Hits(story, scanned.aligned)
        made, by_pair = hits.made, hits.by_pair
        for index, pairs in self._select.survivors(scanned.atoms):
            if pairs is None:
                raws = evaluate(queries[index], scanned.raws())
                if not raws:
                    continue
                placed = list(map(made.get, raws))  # most were made for an earlier match
                ready = all(placed)
                found = cast(list[_Placed], placed) if ready else list(map(hits.get, raws))
            else:  # decided by the set tests: it holds, with these pairs' hits
                found = []
                for pair in pairs:  # (most pairs' hits were made for an earlier match)
                    found += by_pair.get(pair) or hits.of_pair(pair, scanned.raws())
            matches.append(_match(names[index], _verify(found)))
        return matches

    def scan(self, story: Story) -> Scan:
        """Run only the pre-filter and report its cost and candidates."""
        scanned = self._scan(story)
        names = tuple(self._names[i] for i in self._select.candidates(scanned.atoms))
        return Scan(probes=scanned.probes, candidates=names)

    def _scan(self, story: Story) -> _Scanned:
        """Every atom in the story (see `_Scanned`)."""
        c = self._c
        scanned = _Scanned()
        for index, category in enumerate(story.categories):
            tag = c.tags.get("".join(words(category))) if c.tags else None
            for atom in tag or ():
                scanned.add(atom, ("category", index, 0, len(words(category)) - 1, -1, -1))
            self._scan_field(category, "category", index, scanned)
        self._scan_field(story.title, "title", 0, scanned)
        self._scan_field(story.text, "text", 0, scanned)
        if c.sources:
            names = words(story.feed)
            for start in range(len(names)):
                for end in range(start + 1, len(names) + 1):
                    for atom in c.sources.get(" ".join(names[start:end]), ()):
                        scanned.add(atom, ("source", 0, 0, 0, -1, -1))
        if c.langs and story.language:
            primary = story.language.strip().lower().replace("_", "-").split("-")[0]
            for atom in c.langs.get(primary, ()):
                scanned.add(atom, ("lang", 0, 0, 0, -1, -1))
        return scanned

    def _scan_field(self, text: str, name: str, index: int, scanned: _Scanned) -> None:
        c = self._c
        if not text or (c.automaton is None and c.loose_automaton is None):
            return
        padded, aligned = streams(text)
        if aligned is not None:
            scanned.aligned[(name, index)] = aligned
        if c.automaton is not None:
            scanned.add_field(name, index, padded, list(c.automaton.iter(padded)), True)
        if c.loose_automaton is not None:  # loose words may differ in length: no offsets
            loose = loose_stream(padded)
            scanned.add_field(name, index, loose, list(c.loose_automaton.iter(loose)), False)


class _Scanned:
    """The atoms found in one story, in two steps. Their set is made at once, in C, from
    the automaton's hits; it is all that choosing and pre-checking candidates needs. Their
    raw hits (word positions, what `evaluate` reads) are worked out in Python, hit by hit,
    only when a candidate is left to evaluate (`raws`): most stories match nothing and
    never pay for that."""

    __slots__ = ("_found", "_parts", "aligned", "atoms", "probes")

    def __init__(self) -> None:
        self.atoms: set[int] = {EVERY_STORY}
        """The atoms found, and `select.EVERY_STORY`."""
        self.probes = 0
        """The automaton's hits: the atoms' places in the story (see `Scan`)."""
        self.aligned: dict[tuple[str, int], str] = {}
        """(field, index) -> its aligned form (`analysis.streams`), where it has one."""
        self._parts: list[tuple[Any, ...]] = []
        """In story order: (atom, raw) for a metadata or category hit; (field, index,
        stream, automaton hits, whether to count characters) for a scanned field."""
        self._found: Found | None = None

    def add(self, atom: int, raw: Raw) -> None:
        self.atoms.add(atom)
        self._parts.append((atom, raw))

    def add_field(self, name: str, index: int, padded: str, hits: list[Any], chars: bool) -> None:
        if hits:
            self.atoms.update(chain.from_iterable(map(_ATOMS, map(_VALUE, hits))))
            self.probes += len(hits)
            self._parts.append((name, index, padded, hits, chars))

    def raws(self) -> Found:
        if self._found is None:
            found: Found = {}
            for part in self._parts:
                if len(part) == 2:
                    found.setdefault(part[0], []).append(part[1])
                else:
                    name, index, padded, hits, chars = part
                    _collect(name, index, padded, hits, chars, found)
            self._found = found
        return self._found


_Placed = tuple[tuple[int, int, int, int], tuple[str, str, int], int, Hit]
"""A `Hit` as `_Hits` keeps it for `_verify`: its reading order (field, index, start, and
the end negated, so the longer of two hits at one start comes first), its place (term,
field, index) and its end. Worked out once per hit, not once per match it is in: a
story's ~40 hits are in ~140 places among its ~60 matches at 100,000 queries."""
_ORDER = itemgetter(0)

_VALUE = itemgetter(1)
"""An automaton hit is (end, value); a value is (key length, words after the first, atoms)."""
_ATOMS = itemgetter(2)


def compile_engine(watchlists: Sequence[Watchlist], entities: Sequence[Entity]) -> Engine:
    """Compile every watchlist into one index. Raises `ConfigError` for a query that does
    not parse, a term with no words in it (it could never match), or a query that could
    match on NOT alone.

    The engine is built out of the garbage collector's way (`lasting`): without that, the
    collections that matching triggers cost more than the matching itself at 100,000
    queries.

    A recompile in the same process reuses what is unchanged (see `compiler`): a reload
    with most watchlists as they were costs their anchors' pricing, not their compiling,
    and the automata only when the phrases and prefixes they find changed.
    """
    with lasting(len(watchlists)):
        engine = Engine(watchlists, compile_watchlists(watchlists, entities, _automaton))
    return engine


def _automaton(keys: Keys) -> Any:
    """An automaton whose value for each key is (its length, its words after the first,
    its atoms), as `keys` gives it. `add_word` says whether a key is new: one listed again
    (made by two atoms) gets a value holding all its atoms (`spellings.merge_repeated`)."""
    spelled, values = keys
    if not spelled:
        return None
    automaton = ahocorasick.Automaton()
    new = list(map(automaton.add_word, spelled, values))  # a loop in C
    if not all(new):
        repeated = set(compress(spelled, map(not_, new)))
        merged = merge_repeated(keys, repeated)
        deque(map(automaton.add_word, merged.keys(), merged.values()), maxlen=0)
    automaton.make_automaton()
    return automaton


def _collect(
    name: str, index: int, padded: str, hits: list[Any], chars: bool, found: Found
) -> None:
    """The automaton's `hits` in the stream `padded` recorded as raw hits of their atoms.

    A key starts at the space before its first word, so that word's position is the number
    of spaces before the key. Hits come in order of their end; their starts nearly so, so
    the spaces are counted from the previous start, forwards or (rarely) back. With `chars`,
    a raw hit also says how many word characters come before its first word and up to the
    end of its last (what `_Hits` turns into offsets through the field's aligned form).
    """
    counted = position = 0
    for end, (length, more, atoms) in hits:
        start = end - length + 1
        if start >= counted:
            position += padded.count(" ", counted, start)
            counted = start
            first = position
        else:
            first = position - padded.count(" ", start, counted)
        last = first + more
        if chars:  # a prefix hit ends inside its word: the word ends at the next space
            raw = (name, index, first, last, start - first, padded.find(" ", end) - 1 - last)
        else:
            raw = (name, index, first, last, -1, -1)
        for atom in atoms:
            raws = found.get(atom)
            if raws is None:
                found[atom] = [raw]
            else:
                raws.append(raw)


class _Hits:
    """Raw hits of one story as `Hit`s (offsets into the field's original text). A term's
    hit is often part of many matches (a famous name in hundreds of queries): each is made
    once. The first few hits of a field are placed through its aligned form when it has one
    (a few C-level counts per hit); after `_ALIGNED_HITS`, or without one, from the field's
    word offsets (`Spans`, computed once: from the aligned form in numpy, else by one regex
    over the text only as far as needed). Both trust the aligned form to hold the field's
    words in place, as `analysis.streams` makes it (tests/test_analysis.py holds it so)."""

    __slots__ = ("aligned", "by_pair", "counts", "made", "offsets", "story")

    def __init__(self, story: Story, aligned: dict[tuple[str, int], str]) -> None:
        self.story = story
        self.aligned = aligned
        self.counts: dict[tuple[str, int], int] = {}
        """Hits placed through each field's aligned form so far."""
        self.offsets: dict[tuple[str, int], Spans] = {}
        self.made: dict[tuple[str, Raw], _Placed] = {}
        self.by_pair: dict[tuple[str, int], list[_Placed]] = {}

    def get(self, term_raw: tuple[str, Raw]) -> _Placed:
        placed = self.made.get(term_raw)
        if placed is None:
            term, (field, index, first, last, before, upto) = term_raw
            key = (field, index)
            used = self.counts.get(key, 0)
            if before >= 0 and key in self.aligned and used < _ALIGNED_HITS:
                self.counts[key] = used + 1
                span = _aligned_span(self.aligned[key], before, upto)
            else:
                place = self.offsets.get(key)
                if place is None:
                    text = self._text(field, index)
                    place = self.offsets[key] = Spans(text, self.aligned.get(key))
                span = place[first][0], place[last][1]
            start, end = span
            hit = _hit(term, field, start, end, index)
            order = (_FIELD_RANK[field], index, start, -end)
            placed = self.made[term_raw] = (order, (term, field, index), end, hit)
        return placed

    def of_pair(self, pair: tuple[str, int], found: Found) -> list[_Placed]:
        """The hits of a term's atom (`select.Pairs`), made and kept in `by_pair`, which
        `Engine.match` reads first: a famous name's pair is in hundreds of the story's
        matches."""
        term, atom = pair
        get = self.get
        placed = self.by_pair[pair] = [get((term, raw)) for raw in found[atom]]
        return placed

    def _text(self, field: str, index: int) -> str:
        story = self.story
        if field == "category":
            return story.categories[index]
        return story.title if field == "title" else story.text


_NEW = object.__new__
_SET_TERM, _SET_FIELD, _SET_START, _SET_END, _SET_INDEX = (
    Hit.__dict__[name].__set__ for name in ("term", "field", "start", "end", "index")
)
_SET_WATCHLIST, _SET_HITS = (Match.__dict__[name].__set__ for name in ("watchlist", "hits"))


def _match(watchlist: str, hits: tuple[Hit, ...]) -> Match:
    """`Match(watchlist=…, hits=…)`, its slots set directly, as `_hit` makes a `Hit`: a
    story has ~60 matches at 100,000 queries."""
    match: Match = _NEW(Match)
    _SET_WATCHLIST(match, watchlist)
    _SET_HITS(match, hits)
    return match


def _hit(term: str, field: str, start: int, end: int, index: int) -> Hit:
    """`Hit(term=…, field=…, …)`, its slots set directly: a frozen dataclass's `__init__`
    sets each field through `object.__setattr__` (~1.4 µs a hit, against ~0.5 here), and a
    story's ~40 hits at 100,000 queries are made for every story that matches."""
    hit: Hit = _NEW(Hit)
    _SET_TERM(hit, term)
    _SET_FIELD(hit, field)
    _SET_START(hit, start)
    _SET_END(hit, end)
    _SET_INDEX(hit, index)
    return hit


def _aligned_span(aligned: str, before: int, upto: int) -> tuple[int, int]:
    """The offsets of the words holding word characters `before` to `upto` of a field, from
    its aligned form."""
    start = offset(aligned, before)
    while start < len(aligned) and aligned[start] == " ":
        start += 1
    return start, offset(aligned, upto)


def _verify(placed: list[_Placed]) -> tuple[Hit, ...]:
    """A watchlist's hits in reading order, without duplicates or hits nested in a longer
    one of the same term in the same place. Sorts `placed`, a list the caller made for it
    (never one of `_Hits`' own)."""
    if len(placed) == 1:
        return (placed[0][3],)
    placed.sort(key=_ORDER)
    reach: dict[tuple[str, str, int], int] = {}
    kept: list[Hit] = []
    for _, place, end, hit in placed:
        if end <= reach.get(place, -1):
            continue
        reach[place] = end
        kept.append(hit)
    return tuple(kept)
