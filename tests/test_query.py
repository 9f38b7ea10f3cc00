"""Boolean queries, entity context rules and loose diacritics: one test per feature, a reference
model for random queries, and the real corpus through `monitor match`."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli import main
from monitor.errors import ConfigError
from monitor.match import compile_engine
from monitor.match.query import parse
from monitor.match.select import Selector
from monitor.models import Entity, Story, Watchlist
from monitor.settings import load_settings

from conftest import CORPUS, needs_corpus

MUSK = Entity(
    name="Elon Musk",
    aliases=("Musk", "Tesla-Chef"),
    require=("Tesla", "SpaceX", "X", "Elon", "Twitter"),
    exclude=("musk ox", "Moschus"),
)


def _story(
    title: str = "",
    text: str = "",
    categories: Sequence[str] = (),
    feed: str = "test",
    language: str | None = None,
) -> Story:
    return Story(
        feed=feed,
        title=title,
        link=None,
        text=text,
        categories=tuple(categories),
        language=language,
    )


def _matches(
    query: str, story: Story, *, fold: bool = False, entities: Sequence[Entity] = ()
) -> bool:
    watchlist = Watchlist(name="w", query=query, fold_diacritics=fold)
    return bool(compile_engine([watchlist], entities).match(story))


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("Musk AND Tesla", "Musk kauft Tesla", True),
        ("Musk AND Tesla", "Musk kauft Twitter", False),
        ("Musk Tesla", "Musk kauft Twitter", False),  # implicit AND
        ("Musk Tesla", "Tesla von Musk", True),
        ("Musk OR Putin", "Putin spricht", True),
        ("Musk OR Putin", "Scholz spricht", False),
        ("Musk NOT Tesla", "Musk kauft Twitter", True),
        ("Musk NOT Tesla", "Musk kauft Tesla", False),
        ("Musk -Tesla", "Musk kauft Tesla", False),
        ("Musk AND (Tesla OR SpaceX)", "Musk und SpaceX", True),
        ("Musk AND (Tesla OR SpaceX)", "Musk und Twitter", False),
        ("(Musk AND Tesla) OR Putin", "Putin", True),
        ("((Musk OR Tesla) AND Kreml) AND Putin", "Tesla im Kreml bei Putin", True),
        ("(Musk OR Tesla) AND (Kreml OR Mond) NOT Putin", "Tesla und Mond", True),
        ("(Musk OR Tesla) AND (Kreml OR Mond) NOT Putin", "Tesla, Mond, Putin", False),
        ("(Musk OR (Tesla OR SpaceX)) AND Kreml", "SpaceX im Kreml", True),
        ("Musk AND Tesla OR Putin", "Musk", False),  # luqum: AND binds tighter
        ('"Elon Musk"', "Elon Musk kauft", True),
        ('"Elon Musk"', "Elon und Musk", False),
        ('"Musk Putin"~3', "Putin traf gestern Elon Musk", True),  # any order
        ('"Musk Putin"~3', "Musk a b c Putin", True),  # 3 words between
        ('"Musk Putin"~3', "Musk a b c d Putin", False),
        ('"Musk Putin"~3', "Musk a b c d", False),
        ("Tesla*", "Teslas Aktie", True),
        ("Tesla*", "der Tesla-Chef", True),
        ("Tesla*", "Atesla", False),
        ("Tesla*", "Testla", False),
        ("title:Musk", "Musk", False),  # only in the text
        ("text:Musk", "Musk", True),
        ('#"Elon Musk"', "Elon Musk", True),
        ("#Starlink", "neue Starlink-Terminals", True),  # not an entity: the name itself
        ("entity:Starlink", "Starlink", True),
    ],
)
def test_query_feature(query: str, text: str, expected: bool) -> None:
    assert _matches(query, _story(text=text), entities=[MUSK]) is expected


def test_title_field_restricts_the_hits() -> None:
    story = _story(title="Musk in Berlin", text="Tesla")
    assert _matches("title:Musk AND Tesla", story)
    assert not _matches("title:Tesla", story)
    [match] = compile_engine([Watchlist(name="w", query="title:Musk")], []).match(story)
    assert [(h.term, h.field, h.start, h.end) for h in match.hits] == [
        ("title:Musk", "title", 0, 4)
    ]


def test_tag_field_looks_at_categories_only() -> None:
    story = _story(title="Wahl", text="Politik heute", categories=["Politik", "Inland"])
    assert _matches("tag:Inland", story)
    assert not _matches("tag:heute", story)
    assert _matches("tag:Politik AND text:Politik", story)


def test_source_and_lang_narrow_a_query() -> None:
    story = _story(text="Musk", feed="heise online", language="de-DE")
    assert _matches("Musk AND source:heise", story)
    assert _matches('Musk AND source:"heise online"', story)
    assert not _matches("Musk AND source:spiegel", story)
    assert _matches("Musk AND lang:de", story)
    assert not _matches("Musk AND lang:en", story)
    assert not _matches("Musk AND lang:de", _story(text="Musk"))  # no language: no match


def test_entity_alias_needs_context_when_required() -> None:
    assert _matches('#"Elon Musk"', _story(text="Musk kauft Twitter"), entities=[MUSK])
    assert not _matches('#"Elon Musk"', _story(text="Musk ist ein Duft"), entities=[MUSK])
    # the full name always counts on its own
    assert _matches('#"Elon Musk"', _story(text="Elon Musk ist da"), entities=[MUSK])


def test_entity_alias_with_rules_counts_inside_and_and_or() -> None:
    # Only the alias and a `require` word: the leaf holds through its alias, which the
    # evaluation must not skip as absent in either kind of branch.
    story = _story(text="Musk kauft Twitter und redet über Raketen")
    assert _matches('#"Elon Musk" AND Raketen', story, entities=[MUSK])
    assert _matches('(#"Elon Musk" OR title:Zoo) AND Raketen', story, entities=[MUSK])
    assert not _matches(
        '#"Elon Musk" AND Raketen', _story(text="Musk und Raketen"), entities=[MUSK]
    )


def test_entity_exclude_vetoes_an_alias_where_it_occurs() -> None:
    assert not _matches('#"Elon Musk"', _story(text="Der Musk ox und Twitter"), entities=[MUSK])
    assert not _matches(
        "#Elon Musk", _story(text="Twitter: Musk, Moschus und Amber"), entities=[MUSK]
    )
    # a veto is local: another Musk far from the ox still counts
    far = (
        "Musk ox im Zoo. " + "Sonst gibt es nichts Neues zu berichten, " * 3 + "Musk kauft Twitter"
    )
    assert _matches('#"Elon Musk"', _story(text=far), entities=[MUSK])


def test_entity_without_rules_keeps_plain_aliases() -> None:
    plain = Entity(name="Elon Musk", aliases=("Musk",))
    assert _matches('#"Elon Musk"', _story(text="Musk ist ein Duft"), entities=[plain])


def test_fold_diacritics_on_request() -> None:
    for spelling in ("Müller", "Mueller", "Muller", "MÜLLER"):
        assert _matches("Müller", _story(text=f"{spelling} sagt"), fold=True), spelling
        assert _matches("Mueller", _story(text=f"{spelling} sagt"), fold=True), spelling
    assert not _matches("Müller", _story(text="Muller sagt"))
    assert not _matches("Müller", _story(text="Mueller sagt"))
    assert _matches("Müller*", _story(text="Muellers Haus"), fold=True)


def test_terms_and_query_are_ored() -> None:
    engine = compile_engine([Watchlist(name="w", terms=("Putin",), query="Musk AND Tesla")], [])
    assert engine.match(_story(text="Putin"))
    assert engine.match(_story(text="Musk Tesla"))
    assert not engine.match(_story(text="Musk"))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("Musk AND (Tesla", r"'w'.*end of expression"),
        ("Musk AND ) Tesla", r"'w'.*position 9"),
        ("#Musk AND ) Tesla", r"'w'.*position 10"),  # positions as written, before the # rewrite
        ("NOT Musk", r"'w'.*only narrow"),
        ("-Musk", r"'w'.*only narrow"),
        ("Musk OR NOT Tesla", r"'w'.*only narrow"),
        ("source:heise", r"'w'.*only narrow"),
        ("author:Musk", r"unknown field 'author'"),
        ("Te*la", r"only a trailing \*"),
        ("Musk~2", r"not supported"),
        ("[a TO b]", r"not supported"),
        ('Musk AND source:"heise online"~2', r"proximity .* at position 16: in the title"),
        ('Musk AND #"Elon Musk"~2', r"proximity .* at position 10: in the title"),
        ("#Musk OR author:x", r"unknown field 'author' at position 9"),  # as written
    ],
)
def test_bad_queries_are_config_errors(query: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compile_engine([Watchlist(name="w", query=query)], [])


def test_the_first_bad_watchlist_in_config_order_is_the_one_reported() -> None:
    """All queries are parsed before any is compiled (for speed): a parse error further down
    must not hide an earlier watchlist's compile error, nor the other way round."""
    no_words = Watchlist(name="first", query='Musk AND "--"')
    bad_syntax = Watchlist(name="second", query="Musk AND ) Tesla")
    with pytest.raises(ConfigError, match=r"'first'.*no words"):
        compile_engine([no_words, bad_syntax], [])
    with pytest.raises(ConfigError, match=r"'second'.*position 9"):
        compile_engine([bad_syntax, no_words], [])


def test_the_prefilter_selects_only_by_positive_terms() -> None:
    engine = compile_engine([Watchlist(name="w", query="Musk AND NOT Tesla")], [])
    assert engine.scan(_story(text="Tesla fährt")).candidates == ()
    assert engine.scan(_story(text="Musk fährt")).candidates == ("w",)


def test_an_and_is_selected_by_its_rarest_branch_only() -> None:
    """`Musk` appears in many queries, `Kreml` in one: stories with only Musk select nothing."""
    watchlists = [Watchlist(name=f"m{i}", query=f"Musk AND zz{i}") for i in range(5)]
    watchlists.append(Watchlist(name="k", query="Musk AND Kreml"))
    engine = compile_engine(watchlists, [])
    assert engine.scan(_story(text="Musk sagt")).candidates == ()
    assert engine.scan(_story(text="Musk und Kreml")).candidates == ("k",)


def test_parsed_queries_are_cached() -> None:
    assert parse("Musk AND Tesla", "a") is parse("Musk AND Tesla", "b")
    assert parse("Musk AND title:(Tesla)", "a") is parse("Musk AND title:(Tesla)", "b")


def test_settings_accept_query_and_entity_rules(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        '[entities."Elon Musk"]\naliases = ["Musk"]\nrequire = ["Tesla"]\nexclude = ["musk ox"]\n'
        '[[watchlists]]\nname = "q"\nquery = "#\\"Elon Musk\\" AND Putin"\n'
        "fold_diacritics = true\n",
        encoding="utf-8",
    )
    loaded = load_settings(config, {})
    [entity] = loaded.entity_models()
    assert entity.require == ("Tesla",) and entity.exclude == ("musk ox",)
    [watchlist] = loaded.watchlist_models()
    assert watchlist.query == '#"Elon Musk" AND Putin' and watchlist.fold_diacritics
    config.write_text('[[watchlists]]\nname = "empty"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"terms.*query"):
        load_settings(config, {})


# -- a reference model for random queries ----------------------------------------------------

_VOCAB = ["musk", "tesla", "putin", "kreml", "star", "starlink", "mond", "elon", "chef"]
_SUFFIXES = ["", "s", "'s"]


def _ref_words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'s)?", text.lower())


def _ref_is(story_word: str, word: str) -> bool:
    return story_word in (word, word + "s", word + "'s")


def _ref_phrase(words: list[str], sequence: list[str]) -> bool:
    """The words in a row, the last one possibly with an ending."""
    n = len(sequence)
    return any(
        words[i : i + n - 1] == sequence[:-1] and _ref_is(words[i + n - 1], sequence[-1])
        for i in range(len(words) - n + 1)
    )


def _ref_leaf(leaf: tuple[str, ...], title: str, text: str) -> bool:
    kind, field, *args = leaf
    fields = [title, text] if field == "" else [title if field == "title" else text]
    for value in fields:
        words = _ref_words(value)
        if kind == "word" and _ref_phrase(words, [args[0]]):
            return True
        if kind == "phrase" and _ref_phrase(words, [args[0], args[1]]):
            return True
        if kind == "prefix" and any(w.startswith(args[0]) for w in words):
            return True
        if kind == "near":
            first = [i for i, w in enumerate(words) if _ref_is(w, args[0])]
            second = [i for i, w in enumerate(words) if _ref_is(w, args[1])]
            if any(abs(i - j) - 1 <= int(args[2]) for i in first for j in second):
                return True
    return False


def _ref_eval(node: tuple[object, ...], title: str, text: str) -> bool:
    op = node[0]
    if op == "and":
        return all(_ref_eval(c, title, text) for c in node[1:])  # type: ignore[arg-type]
    if op == "or":
        return any(_ref_eval(c, title, text) for c in node[1:])  # type: ignore[arg-type]
    if op == "not":
        return not _ref_eval(node[1], title, text)  # type: ignore[arg-type]
    return _ref_leaf(node[1], title, text)  # type: ignore[arg-type]


def _render(node: tuple[object, ...]) -> str:
    op = node[0]
    if op in ("and", "or"):
        return "(" + f" {op.upper()} ".join(_render(c) for c in node[1:]) + ")"  # type: ignore[arg-type, union-attr]
    if op == "not":
        return f"(NOT {_render(node[1])})"  # type: ignore[arg-type]
    kind, field, *args = node[1]  # type: ignore[misc]
    prefix = f"{field}:" if field else ""
    if kind == "word":
        return prefix + str(args[0])
    if kind == "phrase":
        return f'{prefix}"{args[0]} {args[1]}"'
    if kind == "prefix":
        return f"{prefix}{args[0]}*"
    return f'{prefix}"{args[0]} {args[1]}"~{args[2]}'


_leaves = st.one_of(
    st.tuples(st.just("word"), st.sampled_from(["", "", "title", "text"]), st.sampled_from(_VOCAB)),
    st.tuples(st.just("phrase"), st.just(""), st.sampled_from(_VOCAB), st.sampled_from(_VOCAB)),
    st.tuples(st.just("prefix"), st.just(""), st.sampled_from(["sta", "mu", "te", "kr"])),
    st.tuples(
        st.just("near"),
        st.just(""),
        st.sampled_from(_VOCAB),
        st.sampled_from(_VOCAB),
        st.sampled_from(["0", "1", "3"]),
    ),
)


@st.composite
def _queries(draw: st.DrawFn, depth: int = 3, positive: bool = True) -> tuple[object, ...]:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return ("leaf", draw(_leaves))
    op = draw(st.sampled_from(["and", "or"] if positive else ["and", "or", "not"]))
    if op == "not":
        return ("not", draw(_queries(depth - 1, False)))
    count = draw(st.integers(2, 3))
    if op == "or":
        return ("or", *(draw(_queries(depth - 1, positive)) for _ in range(count)))
    first = draw(_queries(depth - 1, positive))
    return ("and", first, *(draw(_queries(depth - 1, False)) for _ in range(count - 1)))


@st.composite
def _texts(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 10))):
        word = draw(st.sampled_from([*_VOCAB, "und", "x"]))
        parts.append(
            word + draw(st.sampled_from(_SUFFIXES)) + draw(st.sampled_from([" ", ", ", "-"]))
        )
    return "".join(parts)


def _distinct_phrase_words(node: tuple[object, ...]) -> bool:
    """`"musk musk"~1` is one word to the engine; the reference would want two places."""
    if node[0] == "leaf":
        leaf = node[1]
        return not (leaf[0] == "near" and leaf[2] == leaf[3])  # type: ignore[index]
    return all(_distinct_phrase_words(c) for c in node[1:])  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(queries=st.lists(_queries(), min_size=1, max_size=5), title=_texts(), text=_texts())
def test_engine_agrees_with_reference_on_random_queries(
    queries: list[tuple[object, ...]], title: str, text: str
) -> None:
    queries = [q for q in queries if _distinct_phrase_words(q)]
    watchlists = [Watchlist(name=f"q{i}", query=_render(q)) for i, q in enumerate(queries)]
    matched = {m.watchlist for m in compile_engine(watchlists, []).match(_story(title, text))}
    expected = {f"q{i}" for i, q in enumerate(queries) if _ref_eval(q, title, text)}
    assert matched == expected, [_render(q) for q in queries]


@settings(max_examples=300, deadline=None)
@given(queries=st.lists(_queries(), min_size=1, max_size=5), title=_texts(), text=_texts())
def test_queries_decided_by_their_prechecks_get_the_hits_evaluation_gives(
    queries: list[tuple[object, ...]], title: str, text: str
) -> None:
    """The engine does not evaluate a flat query whose other leaves cannot hold
    (`evaluate.flat_parts`): its hits must be exactly those of evaluating it, which a copy
    of the engine told that no query is flat gives."""
    queries = [q for q in queries if _distinct_phrase_words(q)]
    watchlists = [Watchlist(name=f"q{i}", query=_render(q)) for i, q in enumerate(queries)]
    engine = compile_engine(watchlists, [])
    evaluated = compile_engine(watchlists, [])
    compiled = evaluated._c  # every candidate through `evaluate`:
    unflat = [precheck._replace(flat=None) for precheck in compiled.prechecks]
    evaluated._select = Selector(compiled.anchors, unflat)
    story = _story(title, text)
    assert engine.match(story) == evaluated.match(story)


@pytest.mark.parametrize(
    ("query", "pairs", "others"),
    [
        ("Musk OR Tesla", [("Musk", "musk"), ("Tesla", "tesla")], 0),
        ("Musk", [("Musk", "musk")], 0),
        (
            "(Musk OR Tesla) AND Kreml NOT (Putin OR Mond)",
            [("Musk", "musk"), ("Tesla", "tesla"), ("Kreml", "kreml")],
            0,
        ),
        ("Musk AND NOT Putin", [("Musk", "musk")], 0),
        ("Musk AND NOT (Putin AND Kreml)", None, 0),  # the NOT is no set test
        ("Musk OR (Tesla AND Kreml)", None, 0),
        ("Musk AND (Tesla OR NOT Kreml)", None, 0),  # holds without an atom
        # other leaves: decided by the pre-checks when none of their atoms is found
        ("title:Musk OR Tesla", [("Tesla", "tesla")], 1),  # a field: not every hit counts
        ('"Musk Tesla"~3 OR Kreml', [("Kreml", "kreml")], 1),  # positions; rarest word tested
        ('#"Elon Musk" OR Kreml', [("Kreml", "kreml")], 6),  # aliases under context rules
        ("Kreml NOT (Putin OR title:Mond)", [("Kreml", "kreml")], 1),
    ],
)
def test_flat_queries_are_those_their_prechecks_decide(
    query: str, pairs: list[tuple[str, str]] | None, others: int
) -> None:
    """A flat query's hits are read off its plain pairs, unless one of the atoms of its
    other leaves (`others` of them) is found: then it is evaluated."""
    engine = compile_engine([Watchlist(name="w", query=query)], [MUSK])
    flat = engine._c.prechecks[0].flat
    if pairs is None:
        assert flat is None
        return
    assert flat is not None
    assert [text for text, _ in flat[0]] == [text for text, _ in pairs]
    assert len(flat[1]) == others
    story = _story(" ".join(word for _, word in pairs))
    assert [h.term for m in engine.match(story) for h in m.hits] == [t for t, _ in pairs]


def test_a_flat_query_whose_other_leaf_is_found_is_evaluated() -> None:
    """`title:Musk OR Tesla` with `musk` in the text only: the pre-checks pass on `tesla`,
    and the title leaf, evaluated, adds nothing; with `musk` in the title it adds its hit.
    A `NOT` with another leaf: a story with its plain term fails the veto, one with its
    field term found elsewhere is evaluated and holds."""
    engine = compile_engine([Watchlist(name="w", query="title:Musk OR Tesla")], [])
    in_text = engine.match(_story("Bericht", "Musk und Tesla"))
    assert [(h.term, h.field) for m in in_text for h in m.hits] == [("Tesla", "text")]
    in_title = engine.match(_story("Musk", "Tesla"))
    assert [(h.term, h.field) for m in in_title for h in m.hits] == [
        ("title:Musk", "title"),
        ("Tesla", "text"),
    ]
    vetoed = compile_engine([Watchlist(name="v", query="Kreml NOT (Putin OR title:Mond)")], [])
    assert vetoed.match(_story("Kreml", "Putin")) == []
    assert vetoed.match(_story("Mond", "Kreml")) == []
    assert [m.watchlist for m in vetoed.match(_story("Kreml", "Mond"))] == ["v"]


# -- the real corpus through `monitor match` -------------------------------------------------


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "monitor.toml"
    config.write_text(
        '[entities."Elon Musk"]\naliases = ["Musk", "Tesla-Chef"]\n'
        '[[watchlists]]\nname = "musk"\nquery = "#\\"Elon Musk\\" AND Scholz"\n'
        '[[watchlists]]\nname = "putin"\nterms = ["Putin"]\n',
        encoding="utf-8",
    )
    return config


@needs_corpus
def test_monitor_match_json_on_a_corpus_feed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = CORPUS / "deutschlandfunk-nachrichten_2024-12-21_rss2.xml"
    assert main(["match", "--config", str(_config(tmp_path)), "--json", str(feed)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) > 10 and all(
        {"link", "title", "watchlists", "hits"} <= set(r) for r in records
    )
    [hit_story] = [r for r in records if "musk" in r["watchlists"]]
    assert hit_story["title"] == "Nach Angriff in Magdeburg - Elon Musk kritisiert Kanzler Scholz"
    first = hit_story["hits"][0]
    assert (
        first["field"] == "title"
        and hit_story["title"][first["start"] : first["end"]] == "Elon Musk"
    )


@needs_corpus
def test_monitor_match_text_with_a_query_and_a_watchlist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_config(tmp_path))
    geo = str(CORPUS / "geo_2024-12-21_rss2.xml")
    dlf = str(CORPUS / "deutschlandfunk-nachrichten_2024-12-21_rss2.xml")
    assert main(["match", "--config", config, "--query", "Musk", geo]) == 0
    out = capsys.readouterr().out
    assert "Elon »Musks« Firma SpaceX" in out and "»Muskel" not in out  # GEO: Muskeln are not Musk
    assert main(["match", "--config", config, "--query", '"Musk Scholz"~5', dlf]) == 0
    out = capsys.readouterr().out
    assert "Elon Musk kritisiert Kanzler Scholz" in out and "»Musk«" in out
    assert main(["match", "--config", config, "--watchlist", "nope", dlf]) == 2


def test_monitor_match_reads_a_plain_text_story(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    story = tmp_path / "story.txt"
    story.write_text("Müller trifft Putin\nIm Kreml.\n", encoding="utf-8")
    config = str(_config(tmp_path))
    assert (
        main(["match", "--config", config, "--query", "Mueller", "--fold-diacritics", str(story)])
        == 0
    )
    assert "»Müller« trifft Putin" in capsys.readouterr().out
