"""Queries parsed by their shape (`shapes.by_shape`) get the tree luqum gives the whole query.

`shapes.by_shape` is how a cold compile avoids most of luqum's time: luqum parses each distinct
shape (`(Q OR Q) AND -Q`) once and the terms are split off by luqum's own token patterns.
It must never give another tree than luqum would, and must leave to luqum every query it
cannot read the same way (which then reports its errors as before)."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError
from monitor.match import query, shapes
from monitor.match.nodes import And, Not, Or, Term


def _luqum(text: str) -> object:
    """luqum's parse of the whole query, or its error message."""
    try:
        return query._by_luqum(text)
    except ConfigError as exc:
        return str(exc)


def _shaped(text: str) -> object:
    """The tree `shapes.by_shape` gives the query (from its `Shaped` form), or None."""
    shaped = shapes.by_shape(query._rewrite(text)[0])
    return None if shaped is None else shaped.tree()


def test_a_common_query_is_parsed_by_its_shape_and_the_shape_is_reused() -> None:
    first = '(Musk OR #"Elon Musk" OR Tesla*) AND -title:Börse NOT ("Musk Putin"~10 OR kurs)'
    second = '(Scholz OR #"Olaf Scholz" OR Ampel*) AND -text:Wahl NOT ("Merz Scholz"~5 OR zoff)'
    shapes._shapes.clear()
    tree = _shaped(first)
    assert tree is not None and tree == _luqum(first)
    assert _shaped(second) == _luqum(second)
    assert list(shapes._shapes) == ["(Q OR Q OR Q) AND -Q NOT (Q OR Q)"]
    assert tree == And(
        (
            And(
                (
                    Or(
                        (
                            Term("Musk", "Musk", "phrase"),
                            Term('#"Elon Musk"', "Elon Musk", "entity"),
                            Term("Tesla*", "Tesla", "prefix"),
                        )
                    ),
                    Not(Term("title:Börse", "Börse", "phrase", "title")),
                )
            ),
            Not(
                Or(
                    (
                        Term('"Musk Putin"~10', "Musk Putin", "near", None, 10),
                        Term("kurs", "kurs", "phrase"),
                    )
                )
            ),
        )
    )


@pytest.mark.parametrize(
    "text",
    [
        "title:(Musk OR Tesla)",  # a field on a group
        "Musk~2",  # fuzzy
        "Musk^2",  # boost
        "[a TO b] AND Musk",  # a range
        "Musk TO Tesla",
        r"Musk\ Tesla",  # an escape
        "/mus.*/ Tesla",  # a regex
        "title: Musk",  # a space after the field
        "title:AND Musk",  # an operator as a field's value
        'source:"heise online"~2 AND Musk',  # proximity on metadata
        'Musk AND "Tesla',  # an open quote
        "Q(Musk)",  # a word before a parenthesis
        "Musk)-Tesla",
        "Musk&&Tesla:x",
        "author:Musk",  # an unknown field: luqum's error with its position
        "Te*la",  # a wildcard inside a word: the error with its position
        "NOT Musk",  # nothing positive
        "source:heise",
    ],
)
def test_queries_outside_the_shapes_are_left_to_luqum(text: str) -> None:
    assert _shaped(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Musk AND ) Tesla", "position 9"),
        ("#Musk AND ) Tesla", "position 10"),
        ("author:Musk", "unknown field 'author' at position 0"),
        ("Musk OR Te*la", r"wildcard 'Te\*la' at position 8"),
    ],
)
def test_errors_still_name_the_position_as_written(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        query.parse_query(text, "w")


_FRAGMENTS = [
    "Musk", "musk", "Tesla-Chef", "Müller", "Straße", "X", "Q", "Q0", "a.b", "it's", "Musk's",
    "Tes*", "Te*la", "Te?la", "*", "!Musk", "&&", "||", "Musk\"s", "Musk'", "l'Oréal",
    '"Elon Musk"', '"Musk Putin"~10', '"a b"~05', '"x"', '""', '"esc \\" q"', '"open',
    "title:", "text:", "tag:", "source:", "lang:", "entity:", "author:", "TITLE:", "#", "#Musk",
    '#"Elon Musk"', "AND", "OR", "NOT", "TO", "and", "or", "(", ")", "-", "+", "~", "~2", "^2",
    ":", "\\", "[", "]", "{", "}", "/", "<", ">", "\u200b", "\u00ad",
]  # fmt: skip


@st.composite
def _texts(draw: st.DrawFn) -> str:
    """Token soup: mostly what real queries hold, glued with or without spaces, plus the
    characters luqum reads specially."""
    parts = draw(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=12))
    glue = draw(st.lists(st.sampled_from([" ", " ", " ", "", "  ", "\t"]), min_size=len(parts)))
    return "".join(part + space for part, space in zip(parts, glue, strict=False)).strip()


@settings(max_examples=3000, deadline=None)
@given(text=_texts())
def test_a_shape_parse_is_always_luqums_parse(text: str) -> None:
    shaped = _shaped(text)
    if shaped is not None:
        assert shaped == _luqum(text)


@settings(max_examples=1000, deadline=None)
@given(text=_texts())
def test_parse_query_gives_luqums_tree_or_error(text: str) -> None:
    query._cache.pop(text, None)
    expected = _luqum(text)
    try:
        got: object = query.parse_query(text, "w")
    except ConfigError as exc:
        assert isinstance(expected, str) and str(exc).endswith(expected)
    else:
        assert got == expected


def agency_query(rng: random.Random) -> str:
    """A query as the bench makes them (every feature but `source:`/`lang:`): one to four
    groups of OR-ed terms, joined by AND, OR, NOT or nothing."""
    words = ["Musk", "Tesla", "Scholz", "Börse", "Kreml", "Starlink", "AfD", "Müller", "x"]
    groups = []
    for _ in range(rng.randint(1, 4)):
        terms = []
        for _ in range(rng.randint(1, 5)):
            a, b = rng.choice(words), rng.choice(words)
            forms = [a, f'"{a} {b}"', f"{a[:3]}*", f'#"{a} {b}"', f'"{a} {b}"~5', f"title:{a}"]
            terms.append(rng.choice(forms))
        groups.append("(" + " OR ".join(terms) + ")")
    return groups[0] + "".join(rng.choice([" AND ", " OR ", " NOT ", " "]) + g for g in groups[1:])


def test_generated_agency_queries_all_take_the_shape_path() -> None:
    """The bench's queries: none needs luqum whole."""
    rng = random.Random(3)
    for _ in range(300):
        text = agency_query(rng)
        shaped = _shaped(text)
        assert shaped is not None, text
        assert shaped == _luqum(text), text


# `shapes.by_shape`'s split as first written: each term after a lookbehind for the start, a space, a
# parenthesis or a sign, its phrase not unrolled. `shapes._SPLIT` matches that character instead
# (and unrolls the phrase) to be faster; it must split every text the same way.
_LOOKBEHIND_TERM = re.compile(
    r"""((?<![^\s()+\-])(?!(?:AND|OR|NOT|TO)(?=[\s)]|$))
    (?:[^\W\d]\w*:)?
    (?:"(?:[^\\"]|\\.)*"(?:~\d+)? | [^\s:^~(){}\[\]/"'+\-\\<>][^\s:^\\~(){}\[\]]*)
    (?=[\s)]|$))""",
    re.VERBOSE,
)


def _split_by_lookbehind(text: str) -> tuple[str, list[str]]:
    parts = _LOOKBEHIND_TERM.split(text)
    return "Q".join(parts[::2]), parts[1::2]


# Characters and pieces the split reads specially or that sit next to its character classes:
# signs and `-` inside words, `field:`, escapes and escaped quotes, `~` and digits (Unicode
# ones too), reserved words glued to parentheses, Unicode spaces, tabs and newlines, `#`.
_CHARACTERS = [
    "a", "Z", "ü", "ß", "_", "7", "٣", " ", "  ", "\t", "\n", "\r", "\u00a0", "\u2003",
    "\u200b", "\u00ad", "(", ")", "+", "-", '"', "\\", '\\"', "\\\\", "~", "~5", "~05", "~٣", "~²",
    ":", "title:", "Title:", "x1:", "1x:", "_:", "AND", "OR", "NOT", "TO", "ANDY", "TOM",
    "#", "*", "?", "'", "^", "/", "[", "]", "{", "}", "<", ">", "&&", "!", "Q",
]  # fmt: skip

_soup = st.lists(st.sampled_from(_CHARACTERS + _FRAGMENTS), max_size=24).map("".join)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "Musk",
        "(Musk OR Tesla) AND -Börse",
        "a-b -c +d --e +-f -(g) - h",
        "Tesla- Chef -",
        '"a b"~5 "a b"~ "a b"~5x "a b"x "a" "b',
        r'"esc \" q" "e\\" "\\"" "a\"',
        'title:"a b"~3 title:a text:"x" t1:x 1t:x :x x: x:y:z',
        "AND OR NOT TO ANDY (AND) (TO) AND( )OR x TO",
        "a\tb\nc\u00a0d\u2003e\u200bf",
        "x\n",
        "Q(Musk) Musk)-Tesla (Musk)Tesla",
        'entity:"Elon Musk" entity:Musk #Musk a#b',
        "Tes* Te*la Te?la * ? !x &&",
    ],
)
def test_the_split_is_the_lookbehind_split_on_edge_cases(text: str) -> None:
    assert shapes._split(text) == _split_by_lookbehind(text)


@settings(max_examples=3000, deadline=None)
@given(text=st.one_of(_texts(), _soup))
def test_the_split_is_the_lookbehind_split(text: str) -> None:
    assert shapes._split(text) == _split_by_lookbehind(text)


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_the_split_is_the_lookbehind_split_on_any_text(text: str) -> None:
    assert shapes._split(text) == _split_by_lookbehind(text)


@pytest.mark.parametrize(
    "written",
    [
        "", "Musk", "Tesla-Chef", "Musk\"s", "l'Oréal", "Tes*", "*", "Te*la", "Te?la", "AND",
        "TO", "a\\b", '"a b"', '""', '"', '"a', '"a"b', '"a"b"', '"a"~5', '"a"~05', '"a"~٣',
        '"a"~²', '"a"~', '"a"~5x', '"a"~-1', '"a\\" b"', '"a\\"', '"a\\\\"',
        "title:Musk", "Title:x", 'title:"a b"~2', "source:heise", 'source:"a b"~2', "lang:de",
        "author:x", "entity:Musk", "title:AND", "x:", ":x", "a:b:c",
    ],
)  # fmt: skip
def test_a_common_term_is_made_as_its_regex_reads_it(written: str) -> None:
    assert shapes._term(written) == shapes._term_parts(written)


@settings(max_examples=2000, deadline=None)
@given(written=st.one_of(_soup, st.text()))
def test_any_term_is_made_as_its_regex_reads_it(written: str) -> None:
    assert shapes._term(written) == shapes._term_parts(written)


def test_a_shape_outside_the_subset_is_checked_once_and_still_left_to_luqum() -> None:
    shapes._shapes.clear()
    assert _shaped("Musk TO Tesla") is None
    assert shapes._shapes == {"Q TO Q": None}
    assert _shaped("Scholz TO Merz") is None
    assert _shaped("Musk OR Tesla") == _luqum("Musk OR Tesla")


def test_a_term_that_cannot_be_made_is_kept_as_such() -> None:
    shapes._terms.clear()
    assert _shaped("author:Musk OR Tesla") is None
    assert shapes._terms["author:Musk"] is None
    assert _shaped("Tesla OR author:Musk") is None
    assert _shaped("Tesla OR Musk") == _luqum("Tesla OR Musk")


# `query._HASH` as first written. The faster one (it starts with the class of both first
# characters, its phrase unrolled) must find the same phrases and `#`s in every text.
_HASH_AS_WRITTEN = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![\w\\])#(?=["\w])')


def _found(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [match.span() for match in pattern.finditer(text)]


@pytest.mark.parametrize(
    "text",
    ['#Musk #"Elon Musk" C# a#b \\#x "#x" "a\\"#" #', "#", "##a", '"#', '#"a', '\\"#a" #b'],
)
def test_the_rewrite_finds_what_it_found_as_written_on_edge_cases(text: str) -> None:
    assert _found(query._HASH, text) == _found(_HASH_AS_WRITTEN, text)


def test_the_rewrite_makes_a_hash_that_starts_a_term_a_field() -> None:
    text = '#Musk (#"Elon Musk") C# "#x" \\#y'
    assert query._rewrite(text) == ('entity:Musk (entity:"Elon Musk") C# "#x" \\#y', [0, 7])


@settings(max_examples=3000, deadline=None)
@given(text=st.one_of(_texts(), _soup, st.text()))
def test_the_rewrite_finds_what_it_found_as_written(text: str) -> None:
    assert _found(query._HASH, text) == _found(_HASH_AS_WRITTEN, text)
