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
by its *shape* (`_by_shape`): luqum parses `(Q OR Q) AND -Q` once for every query of that
shape, and the terms are split off by luqum's own token patterns (~23 µs a query at 100,000;
anything else, errors included, goes to luqum whole). Parsed queries are cached by their
text: a reload re-parses only the queries that changed. `encode`/`decode` (`nodes`) turn a
parse into plain JSON data that the daemon keeps in its store (`monitor.runtime`), so a
restart parses only queries it has never seen.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from luqum import __version__ as luqum_version
from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import parser

from monitor.errors import ConfigError
from monitor.match.nodes import (
    META_FIELDS,
    TEXT_FIELDS,
    And,
    Meta,
    Node,
    Not,
    Or,
    Term,
    decode,
    encode,
)

__all__ = [
    "FORMAT",
    "Shape",
    "Shaped",
    "forget",
    "parse",
    "parse_query",
    "parsed",
    "prime",
    "terms_query",
]

_FIELDS = (*TEXT_FIELDS, *META_FIELDS, "entity")
_HASH = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![\w\\])#(?=["\w])')
_POSITION = re.compile(r"at position (\d+)")
_RESERVED = frozenset(("AND", "OR", "NOT", "TO"))  # luqum's
# `_by_shape`'s terms: luqum's TERM without escapes (its first and its following characters,
# so a term ends where luqum's ends) or its PHRASE with an optional proximity `~N`, after an
# optional `field:`, after the start, a space, a parenthesis or a sign (not inside a token),
# followed by a space, `)` or the end, and not a reserved word. `_SPLIT` splits them off
# (~5 µs a query; ~8.5 as first written, `(?<![^\s()+\-])` before `(?:field:)?(?:phrase|word)`):
# * The character before the term is matched (and split off with it; the query is given behind
#   a space for the start), not looked behind at: a pattern that starts with a character class
#   lets the regex engine skip to the next candidate in C instead of trying a lookbehind at
#   every position. It is never the end of the previous term (which is followed by a space or
#   `)`), so the terms found are the same.
# * A word without a field is tried first, not after a field has been tried on it: at most one
#   of the three ways can match at a position, so which is tried first changes nothing.
# * The phrase's body is unrolled, `[^\\"]*(?:\\.[^\\"]*)*` for `(?:[^\\"]|\\.)*`: the same
#   strings, fewer steps.
_WORD = r"""[^\s:^~(){}\[\]/"'+\-\\<>][^\s:^\\~(){}\[\]]*"""
_PHRASE = r'"[^\\"]*(?:\\.[^\\"]*)*"(?:~\d+)?'
_SPLIT = re.compile(
    rf"""([\s()+\-])
    ((?!(?:AND|OR|NOT|TO)(?=[\s)]|$))
    (?:{_WORD} | {_PHRASE} | [^\W\d]\w*:(?:{_PHRASE} | {_WORD}))
    (?=[\s)]|$))""",
    re.VERBOSE,
)
_TERM_PARTS = re.compile(
    r"""(?:(?P<field>[^\W\d]\w*):)?
    (?:(?P<phrase>"(?:[^\\"]|\\.)*")(?:~(?P<slop>\d+))? | (?P<word>[^"].*))""",
    re.VERBOSE | re.DOTALL,
)
# What may be left between the terms (each now `Q`) for the query to be parsed by its shape:
# spaces, parentheses, a sign before a term or group, an operator as a word of its own.
# Anything else (a `:` or `~` left over, `TO`, brackets, quotes) and luqum parses the query.
_SHAPE = re.compile(
    r"""(?:\s | [()] | Q(?=[\s)]|$)
    | (?<![^\s(+-])[-+](?=[(+\-Q])
    | (?<![^\s()])(?:AND|OR|NOT)(?=[\s()]|$))*""",
    re.VERBOSE,
)
_ENTITY = "entity:"
_NOTHING_POSITIVE = "nothing in it must occur: NOT, source: and lang: only narrow a query down"


class Shape(NamedTuple):
    """A query shape `_by_shape` reads (`(Q OR Q) AND -Q`): see `_shape`."""

    text: str
    template: Node
    """luqum's parse of the shape with its placeholders numbered: `Term("Q0", "Q0", …)`."""
    build: Callable[[Sequence[Node]], Node]
    """Generated code that builds the tree of a query of this shape from its terms."""
    positive: bool
    """Whether its trees are `_positive` (when no term is `source:`/`lang:`)."""


class Shaped(NamedTuple):
    """A query parsed by its shape: the shape and its terms, in order. The compiler compiles
    this form by the shape's own generated code (`compiler`); its tree is built only when
    asked for (`tree`), since at a cold compile of 100,000 queries building trees that
    nothing walks cost ~0.3 s, and walking them ~1 s more."""

    shape: Shape
    terms: tuple[Node, ...]

    def tree(self) -> Node:
        return self.shape.build(self.terms)


_cache: dict[str, Node | Shaped | str] = {}
"""Parsed queries (or the error message) by query text; see the module docstring."""
_shapes: dict[str, Shape | None] = {}
"""`_by_shape`'s shapes by their text (`(Q OR Q) AND Q`): see `_shape`; None for a shape it
cannot build or `_SHAPE` does not take (so that a shape is checked only once)."""


class _Terms(dict[str, Node | None]):
    """`_by_shape`'s terms by their text (`title:Musk`), None for one that `_term` cannot make:
    a common one is in thousands of queries. A term not yet made is made when looked up, so
    that a query's terms are found by one `map` (in C), not a loop in Python."""

    def __missing__(self, written: str) -> Node | None:
        term = self[written] = _term(written)
        return term


_terms = _Terms()

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
            if _positive(node):  # as `_parse` requires
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


def forget() -> None:
    """Drop every parse kept in this process: the next parse of a query is a cold one, as in
    a new process (benchmarks and tests use it)."""
    _cache.clear()
    _shapes.clear()
    _terms.clear()


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
    node = _by_shape(_rewrite(text)[0] if "#" in text else text)
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
        node = _convert(parser.parse(rewritten), None)
    except ParseError as exc:
        message = str(exc).replace("Syntax error in input : ", "").rstrip("!")
        raise ConfigError(_POSITION.sub(original, message)) from None
    except ConfigError as exc:
        raise ConfigError(_POSITION.sub(original, str(exc))) from None
    if not _positive(node):
        raise ConfigError(_NOTHING_POSITIVE)
    return node


def _by_shape(rewritten: str) -> Shaped | None:
    """The parse of a query in the common subset of the syntax (words, phrases, proximity,
    `field:` on one term, AND/OR/NOT, signs, parentheses) without luqum's ~0.25 ms a query,
    most of a cold compile. luqum parses the query's *shape* (its terms replaced by a
    placeholder: `(Q OR Q) AND -Q`) once per shape; the terms are split off by luqum's own
    token patterns (`_SPLIT`) and made once per distinct term. None when the query is outside
    that subset or has an error: `_parse` then gives it to luqum whole (so errors are
    reported as luqum finds them). tests/test_query_shapes.py checks both ways agree."""
    shape, written = _split(rewritten)
    if not written:
        return None
    if shape in _shapes:
        known = _shapes[shape]
    else:
        known = _shapes[shape] = _shape(shape) if _SHAPE.fullmatch(shape) else None
    if known is None:
        return None
    terms = tuple(map(_terms.__getitem__, written))
    if None in terms:
        return None
    shaped = Shaped(known, terms)  # type: ignore[arg-type]  # no None, see above
    if Meta in map(type, terms):  # `source:`/`lang:` do not count as terms that must occur
        return shaped if _positive(shaped.tree()) else None
    return shaped if known.positive else None


def _split(rewritten: str) -> tuple[str, list[str]]:
    """The query's shape (`(Q OR Q) AND -Q`) and its terms as written, split off by `_SPLIT`:
    what a split by its term alone, behind a lookbehind for the start or a character of its
    first group, gives (tested)."""
    parts = _SPLIT.split(" " + rewritten)  # [" " + glue, character before, term, glue, …]
    written = parts[2::3]
    parts[2::3] = ["Q"] * len(written)
    return "".join(parts)[1:], written


def _term(written: str) -> Node | None:
    """A term split off by `_by_shape`, as `_convert` makes it from luqum's parse of it.
    A word or a phrase (with a proximity or not) without a field, escapes or wildcards, ~9
    of 10 terms, is made here without `_term_parts`'s regex, exactly as that makes it
    (tested): ~0.85 µs a term, not ~1.9, for the ~381,000 distinct terms of 100,000 queries."""
    if not written or "\\" in written:
        return _term_parts(written)
    if written[0] != '"':  # a word (after a field if it holds a `:`)
        if ":" in written or "*" in written or "?" in written or written in _RESERVED:
            return _term_parts(written)
        return Term(written, written, "phrase")
    end = written.find('"', 1)  # the phrase's closing quote (no escapes)
    if end == len(written) - 1:
        return Term(written, written[1:-1], "phrase")
    if end > 0 and written[end + 1 : end + 2] == "~" and written[end + 2 :].isdecimal():
        return _near(written[: end + 1], int(written[end + 2 :]), None, None)
    return _term_parts(written)


def _term_parts(written: str) -> Node | None:
    """`_term` for every form: read by `_TERM_PARTS`."""
    found = _TERM_PARTS.fullmatch(written)
    if found is None:
        return None
    field, phrase, slop, word = found.group("field", "phrase", "slop", "word")
    if field is not None:
        field = field.lower()
        if field not in _FIELDS:
            return None
    if word in _RESERVED:  # `title:AND`
        return None
    try:
        if slop is not None:
            return _near(phrase, int(slop), field, None)
        return _leaf(phrase if word is None else word, word is not None, field, None)
    except ConfigError:
        return None


def _shape(shape: str) -> Shape | None:
    """The `Shape` of `shape`, or None when luqum does not read it as a tree of its
    placeholders. Its `build` is generated code (`And((t[0], Not(t[1])))`), made from
    luqum's parse of the shape, as `compiler` makes code from it that compiles such queries.
    Its source holds only node names and indices, never the query's text."""
    count = itertools.count()
    numbered = re.sub("Q", lambda _: f"Q{next(count)}", shape)
    try:
        template = _convert(parser.parse(numbered), None)
    except (ConfigError, ParseError):
        return None
    seen: list[int] = []

    def source(node: Node) -> str:
        if isinstance(node, Term):
            seen.append(int(node.value[1:]))
            return f"t[{seen[-1]}]"
        if isinstance(node, Not):
            return f"Not({source(node.child)})"
        if isinstance(node, And | Or):
            children = "".join(f"{source(child)}, " for child in node.children)
            return f"{type(node).__name__}(({children}))"
        raise AssertionError(f"a shape holds only placeholders and operators, not {node!r}")

    code = source(template)
    if sorted(seen) != list(range(next(count))):
        return None  # every placeholder once, or luqum read the shape unlike the query
    build = eval(f"lambda t: {code}", {"And": And, "Or": Or, "Not": Not})
    return Shape(shape, template, build, _positive(template))


def _convert(item: Any, field: str | None) -> Node:
    if isinstance(item, tree.SearchField):
        name = item.name.lower()
        if name not in _FIELDS:
            raise ConfigError(f"unknown field {item.name!r} at position {item.pos} ({_names()})")
        if field is not None:
            raise ConfigError(f"field {item.name!r} inside field {field!r} at position {item.pos}")
        return _convert(item.expr, name)
    if isinstance(item, tree.BaseGroup):
        return _convert(item.expr, field)
    if isinstance(item, tree.Boost):
        return _convert(item.expr, field)
    if isinstance(item, tree.Plus):
        return _convert(item.a, field)
    if isinstance(item, tree.Not | tree.Prohibit):
        return Not(_convert(item.a, field))
    if isinstance(item, tree.OrOperation):
        return Or(tuple(_convert(child, field) for child in item.children))
    if isinstance(item, tree.AndOperation | tree.UnknownOperation):
        return And(tuple(_convert(child, field) for child in item.children))
    if isinstance(item, tree.Proximity) and isinstance(item.term, tree.Phrase):
        return _near(item.term.value, int(item.degree), field, item.pos)
    if isinstance(item, tree.Word | tree.Phrase) and not isinstance(item, tree.Regex):
        return _leaf(str(item).strip(), isinstance(item, tree.Word), field, item.pos)
    raise ConfigError(f"{str(item).strip()!r} at position {item.pos} is not supported here")


def _near(phrase: str, slop: int, field: str | None, position: int | None) -> Term:
    """A quoted `phrase` with a proximity `~slop`: its words close together in one text."""
    if field not in (None, *TEXT_FIELDS):
        raise ConfigError(
            f"proximity {phrase}~{slop} at position {position}: in the title, text or tags only"
        )
    text = f"{phrase}~{slop}"
    return Term(text=text, value=_unquote(phrase), kind="near", field=field, slop=slop)


def _leaf(written: str, word: bool, field: str | None, position: int | None) -> Node:
    """A word (`word`) or a quoted phrase as `written`, in `field`."""
    value = written if word else _unquote(written)
    if field in META_FIELDS:
        return Meta(field=field, value=value)
    if field == "entity":
        return Term(text="#" + written, value=value, kind="entity")
    shown = f"{field}:{written}" if field else written
    if word and value.endswith("*") and len(value) > 1:
        stem = value[:-1]
        if not re.fullmatch(r"\w+", stem):
            raise ConfigError(
                f"wildcard {value!r} at position {position}: only a trailing * on one word"
            )
        return Term(text=shown, value=stem, kind="prefix", field=field)
    if word and ("*" in value or "?" in value):
        raise ConfigError(f"wildcard {value!r} at position {position}: only a trailing *")
    return Term(text=shown, value=value.replace("\\", ""), kind="phrase", field=field)


def _unquote(value: str) -> str:
    return value[1:-1].replace('\\"', '"') if value.startswith('"') else value


def _positive(node: Node) -> bool:
    """Whether the node holds only when some word term occurs."""
    if isinstance(node, And):
        return any(map(_positive, node.children))
    if isinstance(node, Or):
        return all(map(_positive, node.children))
    return isinstance(node, Term)


def _names() -> str:
    return "fields: " + ", ".join(_FIELDS)
