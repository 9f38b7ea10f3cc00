"""Recompiling in a process: what a reload reuses from the compiles before it, and that an
engine matches the same whatever was compiled before it (or next to it)."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.match import Engine, compile_engine, compiler, query, shapes
from monitor.models import Entity, Match, Story, Watchlist

MUSK = Entity(name="Elon Musk", aliases=("Musk",), require=("Tesla", "SpaceX"))
PUTIN = Entity(name="Wladimir Putin", aliases=("Putin", "Kremlchef"), exclude=("Putin Street",))

WATCHLISTS = [
    Watchlist(name="musk", query='#"Elon Musk" AND (Tesla* OR "Model Y")'),
    Watchlist(name="putin", query='#"Wladimir Putin" NOT title:Sport AND "Gas Deal"~4'),
    Watchlist(name="terms", terms=("Starlink", "#Elon Musk")),
    Watchlist(name="müller", query="Müller OR Lindner", fold_diacritics=True),
    Watchlist(name="lang", query="Scholz AND lang:de AND source:Tagesschau"),
]
STORIES = [
    Story(
        feed="Tagesschau", title="Musk bei Tesla", link=None, text="Teslas Model Y", language="de"
    ),
    Story(feed="x", title="Sport", link=None, text="Putin and the gas deal"),
    Story(feed="x", title="", link=None, text="The Kremlchef signs a big new gas deal"),
    Story(feed="x", title="", link=None, text="Putin and the gas deal, not Putin Street"),
    Story(feed="x", title="Mueller und Lindner", link=None, text="Starlink; Elon Musk"),
    Story(feed="Tagesschau", title="Scholz", link=None, text="Putin Street", language="de-AT"),
]


def _matches(engine: Engine) -> list[list[Match]]:
    return [engine.match(story) for story in STORIES]


def _cold(watchlists: Sequence[Watchlist], entities: Sequence[Entity]) -> list[list[Match]]:
    compiler.forget()
    return _matches(compile_engine(watchlists, entities))


def test_a_reload_reuses_unchanged_watchlists_and_the_automaton() -> None:
    compiler.forget()
    first = compile_engine(WATCHLISTS, [MUSK, PUTIN])
    again = compile_engine(list(reversed(WATCHLISTS)), [MUSK, PUTIN])
    assert all(
        reused is compiled
        for reused, compiled in zip(again._c.queries, reversed(first._c.queries), strict=True)
    )
    assert again._c.automaton is first._c.automaton
    assert again._c.loose_automaton is first._c.loose_automaton
    assert [sorted(m, key=str) for m in _matches(again)] == [
        sorted(m, key=str) for m in _matches(first)
    ]


def test_changed_entities_compile_anew() -> None:
    compiler.forget()
    first = compile_engine(WATCHLISTS, [MUSK, PUTIN])
    renamed = Entity(name="Elon Musk", aliases=("Musk", "Tesla-Chef"))
    second = compile_engine(WATCHLISTS, [renamed, PUTIN])
    assert second._c.queries[0] is not first._c.queries[0]
    story = Story(feed="x", title="", link=None, text="Der Tesla-Chef fährt Tesla")
    assert [m.watchlist for m in second.match(story)] == ["musk", "terms"]
    assert [m.watchlist for m in first.match(story)] == []


def test_every_engine_matches_as_if_compiled_alone() -> None:
    """Edits, removals, new entities, compiles back and forth: each engine matches what a
    cold compile of its config matches, and engines compiled before it still do."""
    configs = [
        (WATCHLISTS, [MUSK, PUTIN]),
        (WATCHLISTS[:2], [MUSK, PUTIN]),
        ([*WATCHLISTS[1:], Watchlist(name="new", query="Kremlchef AND gas")], [MUSK, PUTIN]),
        (WATCHLISTS, [PUTIN]),
        (WATCHLISTS, [MUSK, PUTIN]),
        ([Watchlist(name="only", terms=("Lindner",), fold_diacritics=True)], [MUSK]),
        (WATCHLISTS, [MUSK, PUTIN]),
    ]
    expected = [_cold(watchlists, entities) for watchlists, entities in configs]
    compiler.forget()
    engines = []
    for (watchlists, entities), cold in zip(configs, expected, strict=True):
        engines.append(compile_engine(watchlists, entities))
        assert _matches(engines[-1]) == cold
    assert [_matches(engine) for engine in engines] == expected
    assert any(expected[0])  # the stories do match something


def test_only_what_the_last_compile_used_is_kept() -> None:
    compiler.forget()
    compile_engine(WATCHLISTS, [MUSK, PUTIN])
    compile_engine([Watchlist(name="w", terms=("Lindner",))], [MUSK, PUTIN])
    memo = compiler._memo
    assert [leaf.text for leaf in memo.leaves.values()] == ["Lindner"]
    assert not memo.folded_leaves
    assert len(memo.queries) == 1
    assert [key[2] for key in memo.atoms] == [("lindner",)]


def test_parses_of_queries_no_longer_watched_are_forgotten_in_time() -> None:
    """A daemon whose watchlists are edited for months must not keep every query (and every
    term) it ever parsed: once the forgotten would outnumber the watched ones, and are at
    least a thousand, a compile drops them."""
    query.forget()
    watched = Watchlist(name="w", query="Scholz AND (Kanzler OR Ampel)")
    for i in range(1_000):
        compile_engine([Watchlist(name=f"e{i}", query=f"edit{i} AND Tesla"), watched], [])
        if i == 998:
            assert len(query._cache) == 1_000 and "edit0" in shapes._terms  # none dropped yet
    assert set(query._cache) == {watched.query, "edit999 AND Tesla"}
    assert set(shapes._terms) == {"Scholz", "Kanzler", "Ampel", "edit999", "Tesla"}
    engine = compile_engine([watched], [])  # what is kept still matches
    story = Story(feed="x", title="Scholz, der Kanzler", link=None, text="")
    assert [match.watchlist for match in engine.match(story)] == ["w"]
