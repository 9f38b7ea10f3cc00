"""Parsed queries kept in the store between runs: a restart parses only what is new."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from monitor import collector, runtime
from monitor.collector import FREEZE_FROM, lasting
from monitor.match import compiler
from monitor.match import query as query_module
from monitor.match.nodes import And, Or, Term, decode, encode
from monitor.match.query import FORMAT, parse_query
from monitor.models import Story, Watchlist
from monitor.runtime import Runtime
from monitor.settings import load_settings
from monitor.store import Store
from monitor.store import queries as queries_module
from monitor.store.schema import parsed_queries

QUERIES = [  # every kind of node and leaf
    "Musk",
    "Musk AND (Tesla OR SpaceX) NOT Putin",
    "Musk -Tesla +Starlink",
    '"Elon Musk" OR "Musk Putin"~3',
    "Tesla* AND title:Musk AND text:Kreml AND tag:Sport",
    '#"Elon Musk" AND entity:Starlink',
    'Musk AND source:"Tages schau" AND lang:de',
]
_PUTIN = '["t", "Putin", "Putin", "phrase", null, 0]'


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


@pytest.mark.parametrize("text", QUERIES)
def test_a_parsed_query_survives_encoding(text: str) -> None:
    parsed = parse_query(text, "w")
    assert decode(encode(parsed)) == parsed


def test_saved_parses_load_by_text_and_format(store: Store) -> None:
    trees = {text: encode(parse_query(text, "w")) for text in QUERIES}
    store.queries.save(trees, FORMAT)
    assert store.queries.load([*QUERIES, "never saved"], FORMAT) == trees
    assert store.queries.load(QUERIES, "another format") == {}
    other = ["t", "x", "x", "phrase", None, 0]
    store.queries.save({QUERIES[0]: other}, FORMAT)  # replaced
    assert store.queries.load(QUERIES[:1], FORMAT) == {QUERIES[0]: other}


def _config(tmp_path: Path, store_url: str, query: str) -> Path:
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[storage]\nurl = "{store_url}"\n\n[[watchlists]]\nname = "w"\nquery = \'{query}\'\n',
        encoding="utf-8",
    )
    return config


def _matches(runtime: Runtime, text: str) -> bool:
    return bool(runtime.engine.match(Story(feed="f", title="", link=None, text=text)))


def test_a_restart_uses_the_saved_parse_and_parses_what_it_cannot_read(
    tmp_path: Path, store_url: str
) -> None:
    query = "Musk AND (Tesla OR SpaceX)"
    settings = load_settings(_config(tmp_path, store_url, query), {})
    first = Runtime.build(settings)
    assert _matches(first, "Musk und SpaceX")
    assert first.store.queries.load([query], FORMAT)  # saved by the first run
    # Another tree under this query's row: a restart that reads it matches by it, which is
    # how we know it did not parse the text again.
    with first.store.engine.begin() as conn:
        conn.execute(update(parsed_queries).values(tree=_PUTIN))
    first.close()
    query_module.forget()  # a new process: nothing parsed in memory
    compiler.forget()
    second = Runtime.build(settings)
    assert _matches(second, "Putin spricht") and not _matches(second, "Musk und SpaceX")
    # An unreadable row is parsed again (and saved again, readable).
    with second.store.engine.begin() as conn:
        conn.execute(update(parsed_queries).values(tree='["?"]'))
    second.close()
    query_module.forget()
    compiler.forget()
    third = Runtime.build(settings)
    assert _matches(third, "Musk und SpaceX")
    resaved = third.store.queries.load([query], FORMAT)[query]
    assert resaved != ["?"] and decode(resaved) == parse_query(query, "w")
    third.close()
    assert gc.isenabled()  # paused only while the parses were loaded


def test_the_stored_form_is_lean() -> None:
    """A restart loads every tree: a plain word or phrase is its text, an AND or OR its
    sign and children in one list."""
    parsed = parse_query("Musk AND (Elon-Musk OR title:Tesla)", "w")
    assert encode(parsed) == [
        "&",
        "Musk",
        ["|", "Elon-Musk", ["t", "title:Tesla", "Tesla", "phrase", "title", 0]],
    ]


def test_decoding_shares_terms_between_queries() -> None:
    terms: dict[str, Term] = {}
    first = decode(["|", "Musk", "Tesla"], terms)
    second = decode(["&", "Musk", "SpaceX"], terms)
    assert isinstance(first, Or) and isinstance(second, And)
    assert first.children[0] is second.children[0]


@pytest.mark.parametrize(
    "data",
    [
        ["?"],
        ["&"],
        ["?", "Musk", "Tesla"],
        ["t", "Musk", "Musk", "word", None, 0],
        ["t", "Musk", 7, "phrase", None, 0],
        ["t", "Musk", "Musk", "phrase", None, "0"],
        ["m", "colour", "red"],
        ["!", "Musk"],  # NOT alone: parsing rejects it, so no stored tree may hold it
        ["&", ["m", "lang", "de"], ["!", "Musk"]],
        {"t": "Musk"},
        7,
    ],
)
def test_a_tree_encode_could_not_have_made_is_parsed_again(data: object) -> None:
    text = "Musk AND Tesla"
    query_module.forget()
    assert query_module.prime({text: data}) == [text]
    assert parse_query(text, "w") == And(
        (Term("Musk", "Musk", "phrase"), Term("Tesla", "Tesla", "phrase"))
    )


@pytest.mark.parametrize("scan_from", [1, 10_000], ids=["one pass over the rows", "IN lists"])
def test_both_ways_of_loading_find_the_same_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch, scan_from: int
) -> None:
    """Many texts are loaded by one pass over the format's rows (`_SCAN_FROM`), a few by
    `IN` lists: both keep only the texts asked for, of that format, and readable."""
    monkeypatch.setattr(queries_module, "_SCAN_FROM", scan_from)
    trees = {text: encode(parse_query(text, "w")) for text in QUERIES}
    store.queries.save(trees, FORMAT)
    store.queries.save({"an old version of a query": "Musk"}, FORMAT)  # no longer asked for
    store.queries.save({"another format": "Musk"}, "0/old")
    with store.engine.begin() as conn:
        conn.execute(
            update(parsed_queries)
            .where(parsed_queries.c.digest == queries_module._digest(QUERIES[1]))
            .values(tree="[not json")
        )
    wanted = [*QUERIES, "never saved", "another format"]
    assert store.queries.load(wanted, FORMAT) == {
        text: tree for text, tree in trees.items() if text != QUERIES[1]
    }


def _tracked(thing: object) -> bool:
    """Whether the collector would walk `thing` (frozen objects are out of its lists)."""
    return any(each is thing for each in gc.get_objects())


def test_lasting_pauses_the_collector_and_freezes_what_was_built() -> None:
    frozen = gc.get_freeze_count()
    try:
        with lasting(FREEZE_FROM):
            assert not gc.isenabled()
            built = [{"n": n} for n in range(10)]
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        assert not _tracked(built)
    finally:
        gc.unfreeze()
    with lasting(FREEZE_FROM - 1):  # few: the collector can keep them
        few = [{"n": n} for n in range(10)]
    assert _tracked(few)
    with pytest.raises(RuntimeError), lasting(FREEZE_FROM):
        failed = [{"n": n} for n in range(10)]
        raise RuntimeError
    assert gc.isenabled() and _tracked(failed)  # not frozen: the build did not finish


def test_a_large_restart_freezes_the_loaded_trees(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From `lasting.FREEZE_FROM` saved parses, the loaded trees are moved out of the
    garbage collector's sight, as the engine is."""
    watchlists = [Watchlist(name=str(i), query=text) for i, text in enumerate(QUERIES)]
    store.queries.save({text: encode(parse_query(text, "w")) for text in QUERIES}, FORMAT)
    query_module.forget()
    compiler.forget()
    monkeypatch.setattr(collector, "FREEZE_FROM", len(QUERIES))
    try:
        engine = runtime.engine_with_store(watchlists, [], store)
        tree = query_module._cache[QUERIES[0]]
        assert gc.is_tracked(tree) and not _tracked(tree)
    finally:
        gc.unfreeze()
    assert [m.watchlist for m in engine.match(Story(feed="f", title="", link=None, text="Musk"))]


def test_prune_deletes_the_rows_of_queries_not_configured(store: Store) -> None:
    trees = {text: encode(parse_query(text, "w")) for text in QUERIES}  # 7 rows
    store.queries.save(trees, FORMAT)
    assert store.queries.count() == 7
    assert store.queries.prune(QUERIES[:2]) == 5
    assert store.queries.count() == 2
    assert store.queries.load(QUERIES, FORMAT) == {text: trees[text] for text in QUERIES[:2]}


def test_parses_are_dropped_only_once_crowded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parses stay while they are at most twice the watched queries (or `_KEPT_AT_LEAST`),
    so a query edited back is not parsed again; past that the others are dropped."""
    monkeypatch.setattr(query_module, "_KEPT_AT_LEAST", 4)
    assert not query_module.crowded(4, 1) and not query_module.crowded(8, 4)
    assert query_module.crowded(5, 2) and query_module.crowded(9, 4)


def test_a_restart_deletes_the_parses_of_removed_queries_once_crowded(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.queries.save({text: encode(parse_query(text, "w")) for text in QUERIES}, FORMAT)
    watchlists = [Watchlist(name="m", query=QUERIES[1])]
    for kept_at_least in (7, 2):  # 7 rows: not more than 7, more than twice 1 and 2
        monkeypatch.setattr(query_module, "_KEPT_AT_LEAST", kept_at_least)
        query_module.forget()
        compiler.forget()
        engine = runtime.engine_with_store(watchlists, [], store)
        if kept_at_least == 7:
            assert store.queries.count() == 7
    assert list(store.queries.load(QUERIES, FORMAT)) == [QUERIES[1]]
    story = Story(feed="f", title="", link=None, text="Musk bei Tesla")
    assert [match.watchlist for match in engine.match(story)] == ["m"]
