"""A query parsed by its shape is compiled by the shape's generated code (`compiler.
_shape_code`), not by walking its tree: both must give the same compiled query, with the
same leaves used."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from hypothesis import given, settings
from test_query_shapes import _texts, agency_query

from monitor.errors import ConfigError
from monitor.match import compiler, query, shapes
from monitor.match.evaluate import Leaf, Plain
from monitor.match.shapes import Shaped


def _form(compiled: Any) -> Any:
    """A compiled query as comparable data: leaves by identity (both ways share them)."""
    if type(compiled) is Leaf:
        return id(compiled)
    if type(compiled) is Plain:
        return ("plain", tuple(map(id, compiled.leaves)))
    op, children = compiled
    if op == "not":
        return ("not", _form(children))
    return (op, tuple(map(_form, children)))


def _both_ways(text: str, folded: bool = False) -> tuple[Any, Any] | None:
    parsed = shapes.by_shape(query._rewrite(text)[0])
    if parsed is None:
        return None
    assert isinstance(parsed, Shaped)
    builder = compiler._Builder(compiler._Memo(()))
    builder.watchlist = "w"
    by_shape = _form(builder.shaped(parsed, folded))
    shaped_used = Counter(map(id, builder.used))
    builder.used = []
    by_tree = _form(builder.node(parsed.tree(), folded))
    assert shaped_used == Counter(map(id, builder.used))
    return by_shape, by_tree


def test_nested_operators_are_flattened_as_the_tree_walk_does() -> None:
    text = '(a OR (b OR title:c) OR "d e"~3) AND (f AND (g OR h)) NOT (i OR -(j AND k))'
    both = _both_ways(text)
    assert both is not None
    by_shape, by_tree = both
    assert by_shape == by_tree
    op, children = by_shape
    assert op == "and" and len(children) == 4  # `f AND (…)` joined the top AND
    assert children[0][0] == "or"  # a run of plain leaves, then title:c and the proximity


@settings(max_examples=1500, deadline=None)
@given(text=_texts())
def test_any_shaped_query_compiles_as_its_tree(text: str) -> None:
    try:
        both = _both_ways(text, folded=len(text) % 2 == 1)
    except ConfigError as exc:  # a term with no words: both ways raise it (checked below)
        parsed = shapes.by_shape(query._rewrite(text)[0])
        assert isinstance(parsed, Shaped)
        builder = compiler._Builder(compiler._Memo(()))
        builder.watchlist = "w"
        try:
            builder.node(parsed.tree(), False)
        except ConfigError as again:
            assert str(again) == str(exc)
        else:
            raise AssertionError(f"only the shape's code raised {exc!r}") from None
        return
    if both is not None:
        assert both[0] == both[1]


def test_agency_shaped_queries_compile_as_their_trees() -> None:
    rng = random.Random(5)
    for _ in range(300):
        text = agency_query(rng)
        both = _both_ways(text, folded=rng.random() < 0.3)
        assert both is not None, text
        assert both[0] == both[1], text
