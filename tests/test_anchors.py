"""How a query's branches are priced (`anchors._price`): the union of what an OR's children
are found by, a proximity leaf by its rarest word, an AND by its cheapest child. The price
decides which branch anchors a query, so a slip here costs speed, not matches: the engine's
tests would not see it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match import anchors
from monitor.match.anchors import META_COST


def _price_as_written(form: Any, usage: dict[int, int]) -> tuple[tuple[int, ...], int]:
    """`anchors._price` as the definition reads, every child priced by a call."""
    kind, value = form
    if kind == "set":
        return value, sum(usage[atom] for atom in value)
    if kind == "meta":
        return value, META_COST
    if kind == "near":
        rarest = min(value, key=usage.__getitem__)
        return (rarest,), usage[rarest]
    options = [_price_as_written(child, usage) for child in value]
    if kind == "or":
        union = tuple(dict.fromkeys(atom for atoms, _ in options for atom in atoms))
        return union, sum(usage[atom] for atom in union)
    return min(options, key=lambda option: option[1])


_atoms = st.lists(st.integers(0, 9), min_size=1, max_size=4).map(tuple)
_forms = st.recursive(
    st.one_of(
        _atoms.map(lambda atoms: ("set", atoms)),
        _atoms.map(lambda atoms: ("near", atoms)),
        _atoms.map(lambda atoms: ("meta", atoms[:1])),
    ),
    lambda children: st.tuples(
        st.sampled_from(["or", "and"]), st.lists(children, min_size=1, max_size=4).map(tuple)
    ),
    max_leaves=12,
)


@settings(max_examples=1000, deadline=None)
@given(form=_forms, costs=st.lists(st.integers(0, 50), min_size=10, max_size=10))
def test_a_branch_is_priced_as_the_definition_reads(form: Any, costs: list[int]) -> None:
    usage = dict(enumerate(costs))
    assert anchors._price(form, usage) == _price_as_written(form, usage)


def test_an_or_is_found_by_each_childs_choice() -> None:
    usage = {1: 5, 2: 7, 3: 100, 4: 2, 5: 1}
    form = ("or", (("set", (1, 2)), ("near", (3, 4)), ("and", (("set", (3,)), ("set", (5,))))))
    assert anchors._price(form, usage) == ((1, 2, 4, 5), 5 + 7 + 2 + 1)
