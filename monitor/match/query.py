"""Watchlist queries: Lucene-style text parsed by `luqum` into a small tree the engine compiles.

Syntax (the README's *Matching* section is the user's version):

* `AND`, `OR`, `NOT`, `-term`, `+term`, parentheses; terms side by side are AND-ed
  (luqum's "unknown operation" is read as AND, the way Elasticsearch's default does).
* `word`, `Tesla-Chef`, `"exact phrase"`: whole-word phrases, as `terms` entries are.
* `"Musk Putin"~10`: every word of the phrase, in any order, with at most 10 other words
  between the first and the last of them, in one field.
* `Tesla*`: one word starting with `tesla` (a trailing `*` on a single word only).
* Fields: `title:`, `text:`, `tag:` (a category) restrict a term to that part of the story;
  `source:` (the feed's name; the value's words anywhere in it, in order) and `lang:` (the
  story's language, primary subtag: `lang:de` matches `de-AT`) test the story's metadata.
* `#Name`, `#"Elon Musk"`: an entity with its aliases (see the engine). luqum reads `#` as
  part of a word, so before parsing every `#` outside a quoted phrase that starts a term is
  rewritten to the field `entity:` (`#"Elon Musk"` → `entity:"Elon Musk"`); `entity:` may be
  written directly too. Error positions are given in the text as the user wrote it.

A query must match on words that occur: one that can hold by `NOT` alone (`NOT Musk`) would
match nearly every story, and one of only `source:`/`lang:` every story of a feed; both are
config errors (the pre-filter needs a word to find the query by).
Parsing a query whole is ~0.25 ms in luqum (pure Python): 25 s for 100,000 queries. Three
things keep that off the daemon's path. A query in the common subset of the syntax is parsed
by its *shape* (`shapes`): luqum parses `(Q OR Q) AND -Q` once for every query of that
shape, and the terms are split off by luqum's own token patterns (~23 µs a query at 100,000;
anything else, errors included, goes to luqum whole). Parsed queries are cached by their
text: a reload re-parses only the queries that changed (and those no longer configured are
forgotten in time, `keep`). `encode`/`decode` (`nodes`) turn a
parse into plain JSON data that the daemon keeps in its store (`monitor.runtime`), so a
restart parses only queries it has never seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from luqum import __version__ as luqum_version
from luqum.exceptions import ParseError
from luqum.parser import parser

from monitor.errors import ConfigError
from monitor.match import shapes
from monitor.match.convert import convert, positive
from monitor.match.nodes import Node, Or, Term, decode, encode
from monitor.match.shapes import Shaped, by_shape

__all__ = [
    "FORMAT",
    "crowded",
    "forget",
    "keep",
    "parse",
    "parse_query",
    "parsed",
    "prime",
    "terms_query",
]

_HASH = re.compile(r'[#"](?:(?<=")[^"\\]*(?:\\.[^"\\]*)*"|(?<=#)(?<![\w\\].)(?=["\w]))')
"""A quoted phrase (kept as it is) or a `#` that starts a term (`#Musk`, `#"Elon Musk"`: not
`C#`). It starts with the class of both first characters, so that the regex engine skips to
the next `#` or `"` in C, and the phrase's body is unrolled: 2.5x faster than the pattern
as first written, which rewrites every text the same way (tests/test_query_shapes.py)."""
_POSITION = re.compile(r"at position (\d+)")
_ENTITY = "entity:"
_NOTHING_POSITIVE = "nothing in it must occur: NOT, source: and lang: only narrow a query down"

_cache: dict[str, Node | Shaped | str] = {}
"""Parsed queries (or the error message) by query text; see the module docstring and `keep`."""
_KEPT_AT_LEAST = 1000

FORMAT = f"2/luqum-{luqum_version}"
"""The version of `encode`'s output: trees stored under another one are parsed again."""


def prime(trees: Mapping[str, Any]) -> list[str]:
    """Take the `encode`d trees of these query texts as parsed (a restart's saved parses).
    Returns the texts whose tree could not be read: those are parsed again when compiled
    (and should be saved again)."""
    unreadable = []
    terms: dict[str, Term] = {}
    for text, data in trees.items():
        if text not in _cache:
            try:
                node = decode(data, terms)
            except (IndexError, KeyError, TypeError, ValueError):
                unreadable.append(text)
                continue
            if positive(node):  # as `_parse` requires
                _cache[text] = node
            else:
                unreadable.append(text)
    return unreadable


def parsed(texts: Iterable[str]) -> dict[str, Any]:
    """The `encode`d trees of those of `texts` that parse (and were parsed here)."""
    trees = {}
    for text in texts:
        node = _cache.get(text)
        if isinstance(node, Shaped):
            trees[text] = encode(node.tree())
        elif node is not None and not isinstance(node, str):
            trees[text] = encode(node)
    return trees


def crowded(kept: int, watched: int) -> bool:
    """Whether `kept` parses (in this process, or saved in the store) are enough to drop
    those of queries no longer watched: more than twice the `watched` queries and more than
    `_KEPT_AT_LEAST`. A daemon whose watchlists are edited for months would otherwise keep
    every query it ever parsed; until then they stay (a query edited back is not parsed
    again), and the walk over every parse a drop needs stays rare."""
    return kept > max(2 * watched, _KEPT_AT_LEAST)


def keep(texts: Iterable[str], count: int) -> None:
    """Forget the parses of queries that are not among `texts` (those of the `count`
    watchlists just compiled), and each term of them (`shapes`), once they are `crowded`;
    `texts` is only read then."""
    if not crowded(len(_cache), count):
        return
    kept = set(texts)
    for text in [text for text in _cache if text not in kept]:
        del _cache[text]
    shapes.keep(node for node in _cache.values() if isinstance(node, Shaped))


def forget() -> None:
    """Drop every parse kept in this process: the next parse of a query is a cold one, as in
    a new process (benchmarks and tests use it)."""
    _cache.clear()
    shapes.forget()


def terms_query(terms: tuple[str, ...]) -> Node:
    """The simple form: `terms = [...]` is `t1 OR t2 OR …`, `#Name` an entity."""
    leaves: list[Node] = []
    for text in dict.fromkeys(terms):
        stripped = text.strip()
        if stripped.startswith("#"):
            name = stripped[1:].strip()
            if len(name) >= 2 and name[0] in "\"'“”„«»" and name[-1] in "\"'“”„«»":
                name = name[1:-1]
            leaves.append(Term(text=text, value=name, kind="entity"))
        else:
            leaves.append(Term(text=text, value=text, kind="phrase"))
    return leaves[0] if len(leaves) == 1 else Or(tuple(leaves))


def parse_query(text: str, watchlist: str) -> Node:
    """Parse `text`; raise `ConfigError` naming `watchlist` and the position when it is wrong."""
    parsed = parse(text, watchlist)
    return parsed.tree() if type(parsed) is Shaped else parsed  # type: ignore[return-value]


def parse(text: str, watchlist: str) -> Node | Shaped:
    """`parse_query`, as kept: a query parsed by its shape is given as such (`Shaped`)."""
    cached = _cache.get(text)
    if cached is None:
        try:
            cached = _parse(text)
        except ConfigError as exc:
            cached = str(exc)
        _cache[text] = cached
    if isinstance(cached, str):
        raise ConfigError(f"watchlist {watchlist!r}: query {text!r}: {cached}")
    return cached


def _parse(text: str) -> Node | Shaped:
    node = by_shape(_rewrite(text)[0] if "#" in text else text)
    return _by_luqum(text) if node is None else node


def _rewrite(text: str) -> tuple[str, list[int]]:
    """`text` with each entity's `#` (outside a phrase) made `entity:`, and where they were."""
    hashes: list[int] = []

    def entity(match: re.Match[str]) -> str:
        if match.group() != "#":
            return match.group()
        hashes.append(match.start())
        return _ENTITY

    return _HASH.sub(entity, text), hashes


def _by_luqum(text: str) -> Node:
    """The parse of the whole query by luqum, or its error, at its position in `text`."""
    rewritten, hashes = _rewrite(text)

    def original(found: re.Match[str]) -> str:
        position = int(found.group(1))
        grow = len(_ENTITY) - 1  # each `#` became `entity:`
        before = sum(1 for i, at in enumerate(hashes) if at + i * grow < position)
        return f"at position {max(position - before * grow, 0)}"

    try:
        node = convert(parser.parse(rewritten), None)
    except ParseError as exc:
        message = str(exc).replace("Syntax error in input : ", "").rstrip("!")
        raise ConfigError(_POSITION.sub(original, message)) from None
    except ConfigError as exc:
        raise ConfigError(_POSITION.sub(original, str(exc))) from None
    if not positive(node):
        raise ConfigError(_NOTHING_POSITIVE)
    return node
