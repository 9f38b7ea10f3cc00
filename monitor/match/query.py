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
Parsing is ~0.3 ms per query in luqum (pure Python), so parsed queries are cached by their
text: a reload re-parses only the queries that changed. `encode`/`decode` turn a parse into
plain JSON data that the daemon keeps in its store (`monitor.runtime.build_engine`), so a
restart parses only queries it has never seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from luqum import __version__ as luqum_version
from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import parser

from monitor.errors import ConfigError

__all__ = [
    "FORMAT",
    "And",
    "Meta",
    "Node",
    "Not",
    "Or",
    "Term",
    "decode",
    "encode",
    "parse_query",
    "parsed",
    "prime",
    "terms_query",
]

TEXT_FIELDS = ("title", "text", "tag")
META_FIELDS = ("source", "lang")
_FIELDS = (*TEXT_FIELDS, *META_FIELDS, "entity")
_HASH = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![\w\\])#(?=["\w])')
_POSITION = re.compile(r"at position (\d+)")
_ENTITY = "entity:"
_KINDS = ("phrase", "prefix", "entity", "near")
_NOTHING_POSITIVE = "nothing in it must occur: NOT, source: and lang: only narrow a query down"


class Term(NamedTuple):  # named tuples hash in C: compiling shares leaves by these keys
    """A leaf that looks for words in the story. `kind` is "phrase", "prefix" (`value` is
    the word's start), "entity" (`value` is the entity's name) or "near" (`slop` words)."""

    text: str
    """The term as written: what `Hit.term` reports."""
    value: str
    kind: str
    field: str | None = None
    """None (title, text and categories), "title", "text" or "tag"."""
    slop: int = 0


class Meta(NamedTuple):
    """A leaf on the story's metadata: `field` is "source" or "lang"."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Term | Meta | And | Or | Not

_cache: dict[str, Node | str] = {}
"""Parsed queries (or the error message) by query text; see the module docstring."""

FORMAT = f"2/luqum-{luqum_version}"
"""The version of `encode`'s output: trees stored under another one are parsed again."""


def encode(node: Node) -> Any:
    """A parsed query as plain JSON data (`decode` reverses it), to keep between runs.

    A restart loads and decodes every query's tree, ~1.2 million terms at 100,000 queries,
    so the form is lean: most terms are a plain word or phrase whose text is its value, and
    those are just that string (`"Musk"`); an AND or OR is its sign followed by its
    children (`["&", a, b]`), not a nested list."""
    if isinstance(node, Term):
        if node.kind == "phrase" and node.text == node.value and not node.field and not node.slop:
            return node.text
        return ["t", node.text, node.value, node.kind, node.field, node.slop]
    if isinstance(node, Meta):
        return ["m", node.field, node.value]
    if isinstance(node, Not):
        return ["!", encode(node.child)]
    return ["&" if isinstance(node, And) else "|", *map(encode, node.children)]


def decode(data: Any, terms: dict[str, Term] | None = None) -> Node:
    """The tree `encode` made `data` from. `terms` shares one `Term` among the queries
    decoded with it (a common word is in thousands): less memory, and the compiler finds
    it by identity. Raises IndexError, KeyError, TypeError or ValueError for data `encode`
    could not have made."""
    if type(data) is str:
        if terms is None:
            return Term(data, data, "phrase")
        term = terms.get(data)
        if term is None:
            term = terms[data] = Term(data, data, "phrase")
        return term
    kind = data[0]
    if kind == "t":
        term = Term._make(data[1:])
        if term.kind not in _KINDS or not isinstance(term.value, str) or type(term.slop) is not int:
            raise ValueError(f"not an encoded term: {data!r}")
        return term
    if kind == "m":
        meta = Meta._make(data[1:])
        if meta.field not in META_FIELDS or not isinstance(meta.value, str):
            raise ValueError(f"not an encoded term: {data!r}")
        return meta
    if kind == "!":
        return Not(decode(data[1], terms))
    if kind not in ("&", "|") or len(data) < 2:
        raise ValueError(f"not an encoded query tree: {data!r}")
    children = tuple([decode(child, terms) for child in data[1:]])
    return And(children) if kind == "&" else Or(children)


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
        if node is not None and not isinstance(node, str):
            trees[text] = encode(node)
    return trees


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


def _parse(text: str) -> Node:
    hashes: list[int] = []

    def entity(match: re.Match[str]) -> str:
        if match.group() != "#":
            return match.group()
        hashes.append(match.start())
        return _ENTITY

    rewritten = _HASH.sub(entity, text)
    try:
        parsed = parser.parse(rewritten)
    except ParseError as exc:
        message = str(exc).replace("Syntax error in input : ", "").rstrip("!")

        def original(found: re.Match[str]) -> str:
            position = int(found.group(1))
            grow = len(_ENTITY) - 1  # each `#` became `entity:`
            before = sum(1 for i, at in enumerate(hashes) if at + i * grow < position)
            return f"at position {max(position - before * grow, 0)}"

        raise ConfigError(_POSITION.sub(original, message)) from None
    node = _convert(parsed, None, text)
    if not _positive(node):
        raise ConfigError(_NOTHING_POSITIVE)
    return node


def _convert(item: Any, field: str | None, query: str) -> Node:
    if isinstance(item, tree.SearchField):
        name = item.name.lower()
        if name not in _FIELDS:
            raise ConfigError(f"unknown field {item.name!r} at position {item.pos} ({_names()})")
        if field is not None:
            raise ConfigError(f"field {item.name!r} inside field {field!r} at position {item.pos}")
        return _convert(item.expr, name, query)
    if isinstance(item, tree.BaseGroup):
        return _convert(item.expr, field, query)
    if isinstance(item, tree.Boost):
        return _convert(item.expr, field, query)
    if isinstance(item, tree.Plus):
        return _convert(item.a, field, query)
    if isinstance(item, tree.Not | tree.Prohibit):
        return Not(_convert(item.a, field, query))
    if isinstance(item, tree.OrOperation):
        return Or(tuple(_convert(child, field, query) for child in item.children))
    if isinstance(item, tree.AndOperation | tree.UnknownOperation):
        return And(tuple(_convert(child, field, query) for child in item.children))
    if isinstance(item, tree.Proximity) and isinstance(item.term, tree.Phrase):
        value = _unquote(item.term.value)
        return Term(text=str(item).strip(), value=value, kind="near", field=field,
                    slop=int(item.degree))  # fmt: skip
    if isinstance(item, tree.Word | tree.Phrase) and not isinstance(item, tree.Regex):
        return _leaf(item, field)
    raise ConfigError(f"{str(item).strip()!r} at position {item.pos} is not supported here")


def _leaf(item: tree.Word | tree.Phrase, field: str | None) -> Node:
    written = str(item).strip()
    value = _unquote(item.value) if isinstance(item, tree.Phrase) else item.value
    if field in META_FIELDS:
        return Meta(field=field, value=value)
    if field == "entity":
        return Term(text="#" + written, value=value, kind="entity")
    shown = f"{field}:{written}" if field else written
    if isinstance(item, tree.Word) and value.endswith("*") and len(value) > 1:
        stem = value[:-1]
        if not re.fullmatch(r"\w+", stem):
            raise ConfigError(
                f"wildcard {value!r} at position {item.pos}: only a trailing * on one word"
            )
        return Term(text=shown, value=stem, kind="prefix", field=field)
    if isinstance(item, tree.Word) and ("*" in value or "?" in value):
        raise ConfigError(f"wildcard {value!r} at position {item.pos}: only a trailing *")
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
