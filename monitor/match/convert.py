"""luqum's parse of a query → the tree the engine compiles (`nodes`): the terms, fields and
operators `query` accepts, with errors at their position in the text luqum was given."""

from __future__ import annotations

import re
from typing import Any

from luqum import tree

from monitor.errors import ConfigError
from monitor.match.nodes import META_FIELDS, TEXT_FIELDS, And, Meta, Node, Not, Or, Term

__all__ = ["FIELDS", "RESERVED", "convert", "near", "positive", "term", "unquote"]

FIELDS = (*TEXT_FIELDS, *META_FIELDS, "entity")
RESERVED = frozenset(("AND", "OR", "NOT", "TO"))  # luqum's


def convert(item: Any, field: str | None) -> Node:
    """The query tree of luqum's parse `item`, inside `field` (None outside any); raises
    `ConfigError` for what the query language does not have, at its position."""
    if isinstance(item, tree.SearchField):
        name = item.name.lower()
        if name not in FIELDS:
            raise ConfigError(f"unknown field {item.name!r} at position {item.pos} ({_names()})")
        if field is not None:
            raise ConfigError(f"field {item.name!r} inside field {field!r} at position {item.pos}")
        return convert(item.expr, name)
    if isinstance(item, tree.BaseGroup):
        return convert(item.expr, field)
    if isinstance(item, tree.Boost):
        return convert(item.expr, field)
    if isinstance(item, tree.Plus):
        return convert(item.a, field)
    if isinstance(item, tree.Not | tree.Prohibit):
        return Not(convert(item.a, field))
    if isinstance(item, tree.OrOperation):
        return Or(tuple(convert(child, field) for child in item.children))
    if isinstance(item, tree.AndOperation | tree.UnknownOperation):
        return And(tuple(convert(child, field) for child in item.children))
    if isinstance(item, tree.Proximity) and isinstance(item.term, tree.Phrase):
        return near(item.term.value, int(item.degree), field, item.pos)
    if isinstance(item, tree.Word | tree.Phrase) and not isinstance(item, tree.Regex):
        return term(str(item).strip(), isinstance(item, tree.Word), field, item.pos)
    raise ConfigError(f"{str(item).strip()!r} at position {item.pos} is not supported here")


def near(phrase: str, slop: int, field: str | None, position: int | None) -> Term:
    """A quoted `phrase` with a proximity `~slop`: its words close together in one text."""
    if field not in (None, *TEXT_FIELDS):
        raise ConfigError(
            f"proximity {phrase}~{slop} at position {position}: in the title, text or tags only"
        )
    text = f"{phrase}~{slop}"
    return Term(text=text, value=unquote(phrase), kind="near", field=field, slop=slop)


def term(written: str, word: bool, field: str | None, position: int | None) -> Node:
    """A word (`word`) or a quoted phrase as `written`, in `field`."""
    value = written if word else unquote(written)
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


def unquote(value: str) -> str:
    """A quoted phrase's text without its quotes and their escapes."""
    return value[1:-1].replace('\\"', '"') if value.startswith('"') else value


def positive(node: Node) -> bool:
    """Whether the node holds only when some word term occurs."""
    if isinstance(node, And):
        return any(map(positive, node.children))
    if isinstance(node, Or):
        return all(map(positive, node.children))
    return isinstance(node, Term)


def _names() -> str:
    return "fields: " + ", ".join(FIELDS)
