"""Parsing a query by its *shape*: the common subset of the query syntax without luqum's
~0.25 ms a query, most of a cold compile otherwise (`query` parses the rest whole).

luqum parses the query's shape — its terms replaced by a placeholder, `(Q OR Q) AND -Q` —
once per shape; the terms are split off by luqum's own token patterns (`_SPLIT`) and made
once per distinct term (`_Terms`). The result is kept as the shape and its terms
(`Shaped`), from which the compiler compiles the query by code made once per shape
(`compiler`); its tree is built only when asked for. tests/test_query_shapes.py checks that
a shape's parse is always luqum's parse of the whole query.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import NamedTuple

from luqum.exceptions import ParseError
from luqum.parser import parser

from monitor.errors import ConfigError
from monitor.match.convert import FIELDS, RESERVED, convert, near, positive, term
from monitor.match.nodes import And, Meta, Node, Not, Or, Term

__all__ = ["Shape", "Shaped", "by_shape", "forget", "keep"]

# `by_shape`'s terms: luqum's TERM without escapes (its first and its following characters,
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


class Shape(NamedTuple):
    """A query shape `by_shape` reads (`(Q OR Q) AND -Q`): see `_shape`."""

    text: str
    template: Node
    """luqum's parse of the shape with its placeholders numbered: `Term("Q0", "Q0", …)`."""
    build: Callable[[Sequence[Node]], Node]
    """Generated code that builds the tree of a query of this shape from its terms."""
    positive: bool
    """Whether its trees are `positive` (when no term is `source:`/`lang:`)."""


class Shaped(NamedTuple):
    """A query parsed by its shape: the shape and its terms, in order. The compiler compiles
    this form by the shape's own generated code (`compiler`); its tree is built only when
    asked for (`tree`), since at a cold compile of 100,000 queries building trees that
    nothing walks cost ~0.3 s, and walking them ~1 s more."""

    shape: Shape
    terms: tuple[Node, ...]

    def tree(self) -> Node:
        return self.shape.build(self.terms)


_shapes: dict[str, Shape | None] = {}
"""`by_shape`'s shapes by their text (`(Q OR Q) AND Q`): see `_shape`; None for a shape it
cannot build or `_SHAPE` does not take (so that a shape is checked only once)."""


class _Terms(dict[str, Node | None]):
    """`by_shape`'s terms by their text (`title:Musk`), None for one that `_term` cannot make:
    a common one is in thousands of queries. A term not yet made is made when looked up, so
    that a query's terms are found by one `map` (in C), not a loop in Python."""

    def __missing__(self, written: str) -> Node | None:
        made = self[written] = _term(written)
        return made


_terms = _Terms()


def keep(parses: Iterable[Shaped]) -> None:
    """Keep only the terms of these parses (`query.keep`); a term not made (None) is
    dropped too, to be tried again if it comes back."""
    used = set(chain.from_iterable(parse.terms for parse in parses))
    for written in [written for written, made in _terms.items() if made not in used]:
        del _terms[written]


def forget() -> None:
    """Drop the shapes and terms kept (`query.forget`)."""
    _shapes.clear()
    _terms.clear()


def by_shape(rewritten: str) -> Shaped | None:
    """The parse of a query in the common subset of the syntax (words, phrases, proximity,
    `field:` on one term, AND/OR/NOT, signs, parentheses) without luqum's ~0.25 ms a query,
    most of a cold compile. luqum parses the query's *shape* (its terms replaced by a
    placeholder: `(Q OR Q) AND -Q`) once per shape; the terms are split off by luqum's own
    token patterns (`_SPLIT`) and made once per distinct term. None when the query is outside
    that subset or has an error: `query` then gives it to luqum whole (so errors are
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
        return shaped if positive(shaped.tree()) else None
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
    """A term split off by `by_shape`, as `convert` makes it from luqum's parse of it.
    A word or a phrase (with a proximity or not) without a field, escapes or wildcards, ~9
    of 10 terms, is made here without `_term_parts`'s regex, exactly as that makes it
    (tested): ~0.85 µs a term, not ~1.9, for the ~381,000 distinct terms of 100,000 queries."""
    if not written or "\\" in written:
        return _term_parts(written)
    if written[0] != '"':  # a word (after a field if it holds a `:`)
        if ":" in written or "*" in written or "?" in written or written in RESERVED:
            return _term_parts(written)
        return Term(written, written, "phrase")
    end = written.find('"', 1)  # the phrase's closing quote (no escapes)
    if end == len(written) - 1:
        return Term(written, written[1:-1], "phrase")
    if end > 0 and written[end + 1 : end + 2] == "~" and written[end + 2 :].isdecimal():
        return near(written[: end + 1], int(written[end + 2 :]), None, None)
    return _term_parts(written)


def _term_parts(written: str) -> Node | None:
    """`_term` for every form: read by `_TERM_PARTS`."""
    found = _TERM_PARTS.fullmatch(written)
    if found is None:
        return None
    field, phrase, slop, word = found.group("field", "phrase", "slop", "word")
    if field is not None:
        field = field.lower()
        if field not in FIELDS:
            return None
    if word in RESERVED:  # `title:AND`
        return None
    try:
        if slop is not None:
            return near(phrase, int(slop), field, None)
        return term(phrase if word is None else word, word is not None, field, None)
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
        template = convert(parser.parse(numbered), None)
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
    return Shape(shape, template, build, positive(template))
