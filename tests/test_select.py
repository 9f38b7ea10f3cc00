"""The two ways `select.Selector` tests candidates (sets in C, numpy arrays) agree, on which
survive and on which of those their set tests decide, with which hits."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match import compile_engine
from monitor.match.select import EVERY_STORY, Selector
from monitor.models import Story, Watchlist

_WORDS = ["musk", "tesla", "putin", "kreml", "mond", "elon", "chef", "bank", "zug", "rom"]


def _query(rng: random.Random) -> str:
    """Plain words mostly; some `title:` and proximity terms (other leaves: a survivor that
    has one found is evaluated), some ANDs inside ORs (queries that are not flat), up to
    four AND-ed groups (`more` set tests past two)."""

    def term(word: str) -> str:
        roll = rng.random()
        if roll < 0.15:
            return f"title:{word}"
        if roll < 0.25:
            return f'"{word} {rng.choice(_WORDS)}"~2'
        return word

    def group() -> str:
        terms = list(map(term, rng.sample(_WORDS, rng.randint(1, 3))))
        if rng.random() < 0.1:  # not flat: always evaluated
            terms.append(f"({' AND '.join(rng.sample(_WORDS, 2))})")
        return "(" + " OR ".join(terms) + ")"

    text = " AND ".join(group() for _ in range(rng.randint(1, 4)))
    return text + (f" NOT {group()}" if rng.random() < 0.4 else "")


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    story=st.lists(st.sampled_from(_WORDS), max_size=8),
    title=st.lists(st.sampled_from(_WORDS), max_size=3),
)
def test_arrays_and_sets_choose_the_same_survivors(
    seed: int, story: list[str], title: list[str]
) -> None:
    rng = random.Random(seed)
    watchlists = [Watchlist(name=f"q{i}", query=_query(rng)) for i in range(rng.randint(1, 40))]
    engine = compile_engine(watchlists, [])
    compiled = engine._c
    text = _story(story, title)
    atoms = engine._scan(text).atoms
    by_sets = Selector(compiled.anchors, compiled.prechecks, array_candidates=10**9)
    by_arrays = Selector(compiled.anchors, compiled.prechecks, array_candidates=0)
    expected = by_sets.survivors(atoms)
    assert by_arrays.survivors(atoms) == expected
    assert by_arrays.survivors(atoms) == expected  # the scratch array was cleared
    matched = {match.watchlist for match in engine.match(text)}
    assert matched <= {watchlists[i].name for i, _ in expected}
    decided = {watchlists[i].name for i, pairs in expected if pairs is not None}
    assert decided <= matched  # a survivor the tests decide holds


def _story(words: list[str], title: list[str] = ()) -> Story:  # type: ignore[assignment]
    return Story(feed="f", title=" ".join(title), link=None, text=" ".join(words))


def test_every_story_atom_stays_present_between_stories() -> None:
    watchlists = [Watchlist(name="q", query="musk"), Watchlist(name="r", query="musk AND rom")]
    engine = compile_engine(watchlists, [])
    selector = Selector(engine._c.anchors, engine._c.prechecks, array_candidates=0)
    musk = next(iter(engine._scan(_story(["musk"])).atoms - {EVERY_STORY}))
    assert selector.survivors({EVERY_STORY, musk}) == [(0, [("musk", musk)])]
    assert selector.survivors({EVERY_STORY, musk}) == [(0, [("musk", musk)])]  # `q` again


def test_a_query_that_is_not_flat_is_a_candidate_by_arrays_too() -> None:
    """Its anchor atoms are in no set the arrays test (it has no pairs or other leaves):
    the candidates must still come from every atom the story has."""
    engine = compile_engine([Watchlist(name="q", query="rom OR (musk AND zug)")], [])
    selector = Selector(engine._c.anchors, engine._c.prechecks, array_candidates=0)
    atoms = engine._scan(_story(["rom"])).atoms
    assert selector.survivors(atoms) == [(0, None)]  # evaluated
    assert [m.watchlist for m in engine.match(_story(["rom"]))] == ["q"]
