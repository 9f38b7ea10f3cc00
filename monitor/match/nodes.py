"""The tree a watchlist's query is parsed into (`monitor.match.query`) and the engine
compiles, and its plain JSON form (`encode`/`decode`), which the daemon keeps in its store
so that a restart parses only queries it has never seen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "META_FIELDS",
    "TEXT_FIELDS",
    "And",
    "Meta",
    "Node",
    "Not",
    "Or",
    "Term",
    "decode",
    "encode",
]

TEXT_FIELDS = ("title", "text", "tag")
META_FIELDS = ("source", "lang")
_KINDS = ("phrase", "prefix", "entity", "near")


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
