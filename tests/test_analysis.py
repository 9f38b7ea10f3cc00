"""The analyzer: how terms and story text are cut into folded words with original offsets."""

from __future__ import annotations

import io

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match.analysis import (
    Spans,
    endings,
    fold,
    offset,
    phrase,
    spans,
    streams,
    words,
)

from conftest import CORPUS, needs_corpus


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Straße STRASSE", ["strasse", "strasse"]),
        ("Müller MÜLLER Mu\u0308ller", ["müller", "müller", "müller"]),  # decomposed ü too
        ("Starlink-Terminals", ["starlink", "terminals"]),
        ("Tesla-Chef", ["tesla", "chef"]),
        ("Musk’s Musk's Musk´s", ["musk's", "musk's", "musk's"]),
        ("Musk' und O’Brien", ["musk", "und", "o'brien"]),
        ("‘Musk’", ["musk"]),
        ("Star\u00adlink Mu\u200bsk", ["starlink", "musk"]),
        ("Aktienkurs\u200b", ["aktienkurs"]),
        ("\u200bMusk\ufeff", ["musk"]),
        ("ＭＵＳＫ ﬁnanz", ["musk", "finanz"]),  # full-width letters and a ligature
        ("snake_case 2049er", ["snake", "case", "2049er"]),
        ("Hindi। Punkt", ["hindi", "punkt"]),  # the danda is punctuation
        ("हिन्दी", ["हिन्दी"]),  # vowel signs are combining marks, not word breaks
        ("  \n\t ", []),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_offsets_point_into_the_original_string() -> None:
    text = "\tTesla: MUSKS Visionen\u200b – Mu\u200bsk’s Straße"
    for word, (start, end) in zip(words(text), spans(text), strict=True):
        assert fold(text[start:end]) == word
    assert [text[start:end] for start, end in spans(text)] == [
        "Tesla",
        "MUSKS",
        "Visionen",
        "Mu\u200bsk’s",
        "Straße",
    ]


def test_phrase_is_the_folded_words_of_a_term() -> None:
    assert phrase("Elon  Musk") == ("elon", "musk")
    assert phrase("Tesla-Chef") == ("tesla", "chef")
    assert phrase("#") == ()


@pytest.mark.parametrize(
    ("word", "forms"),
    [
        ("musk", ("musk", "musks", "musk's")),
        ("musks", ("musks", "muskss", "musks's")),  # a term `Musks` never hits `Musk`
        ("us", ("us", "uss", "us's")),
        ("u", ("u",)),  # a one-letter word takes no ending: the term `U` must not hit `us`
    ],
)
def test_endings_are_the_story_words_that_hit_a_term_word(
    word: str, forms: tuple[str, ...]
) -> None:
    assert endings(word) == forms


@pytest.mark.parametrize("text", ["@elon_musk und Mu\u200bsk’s Straße", "a\u0308b _x_ हिन्दी"])
def test_words_and_spans_agree(text: str) -> None:
    found = spans(text)
    assert [fold(text[start:end]) for start, end in found] == words(text)
    lazy = Spans(text)
    assert [lazy[i] for i in (2, 0, 1, 2)] == [spans(text)[i] for i in (2, 0, 1, 2)]
    assert words("@elon_musk") == ["elon", "musk"]


def test_diacritics_are_exact_by_default() -> None:
    assert fold("Müller") != fold("Muller")
    assert fold("Müller") != fold("Mueller")


_STREAM_TEXT = st.one_of(
    st.text(),
    st.lists(
        st.sampled_from(
            [
                *"aAßsS'’`´ʼ-_ .,\u00ad\u200b\u0308üÜ–—„“«»…·€\u00a0\u2009\t\nİıΣσς",
                "कि",
                "\u1100",  # Hangul jamo: L and V compose, also across a removed zero-width
                "\u1161",
                "ǰ",  # casefolds to j + a combining caron
                "²",
                "™",
                "ﬁ",
                "１",
            ]
        )
    ).map("".join),
)


@settings(max_examples=2000, deadline=None)
@given(_STREAM_TEXT)
def test_stream_is_the_words_of_the_text(text: str) -> None:
    """The engine scans the stream, highlights use `spans`: they must agree word for word."""
    padded = streams(text)[0]
    assert padded.startswith(" ") and padded.endswith(" ") and "  " not in padded.strip()
    assert padded.split() == words(text)


@needs_corpus
def test_stream_of_real_feed_texts_is_their_words() -> None:
    for path in sorted(CORPUS.glob("*.xml")):
        feed = feedparser.parse(io.BytesIO(path.read_bytes()))
        for entry in feed.entries:
            for text in (entry.get("title", ""), entry.get("summary", "")):
                assert streams(text)[0].split() == words(text), (path.name, text[:80])


@settings(max_examples=2000, deadline=None)
@given(_STREAM_TEXT)
def test_aligned_form_gives_every_words_offsets(text: str) -> None:
    """Where `streams` offers an aligned form, counting word characters in it finds each
    word exactly where `spans` does (the engine's offsets for highlights)."""
    padded, aligned = streams(text)
    if aligned is None:
        return
    assert len(aligned) == len(text)
    folded = padded.split()
    before = 0
    for (start, end), word in zip(spans(text), folded, strict=True):
        found = offset(aligned, before)
        while aligned[found] == " ":
            found += 1
        before += len(word)
        assert (found, offset(aligned, before)) == (start, end), (text, word)


@pytest.mark.parametrize(
    "text",
    [
        "ÄRGER ÜBER ÖL-PREISE: Straße, Maß und „Grüße“ … ’s",  # a few cased: one by one
        "ВЛАДИМИР ПУТИН ВСТРЕТИЛСЯ С ИЛОНОМ МАСКОМ В КРЕМЛЕ",  # many: the whole text
        "ΟΔΥΣΣΕΑΣ ΕΛΥΤΗΣ, Σ ΚΑΙ ς",
    ],
)
def test_stream_folds_cased_letters_like_words(text: str) -> None:
    padded, aligned = streams(text)
    assert padded.split() == words(text)
    if aligned is not None:
        assert aligned.split() == words(text)


def test_aligned_form_exists_for_plain_german_text_only_where_folding_keeps_places() -> None:
    assert streams("Müller trifft Musk – „Starlink“ …")[1] is not None
    assert streams("Straße")[1] is None  # ß folds to ss: places move
    assert streams("Star\u00adlink")[1] is None  # the soft hyphen is dropped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\ufe70", ["\u064b"]),  # NFKC: a space before the mark (found by the test below)
        ("a \ufdfa b", ["a", "صلى", "الله", "عليه", "وسلم", "b"]),  # one letter, four words
    ],
)
def test_a_letter_nfkc_makes_into_spaced_words_is_those_words(
    text: str, expected: list[str]
) -> None:
    assert words(text) == expected == streams(text)[0].split()


@settings(max_examples=2000, deadline=None)
@given(st.one_of(_STREAM_TEXT, st.text(alphabet="aZ09 _'\t-ß", max_size=20)))
def test_plain_ascii_words_are_the_stream_words(text: str) -> None:
    """`words` cuts plain ASCII text by `split`, the stream by `bytes.translate`: they must
    agree with each other on every text (and `phrase` is `words` as a tuple)."""
    assert words(text) == streams(text)[0].split()
    assert phrase(text) == tuple(words(text))


@settings(max_examples=2000, deadline=None)
@given(_STREAM_TEXT)
def test_spans_from_the_aligned_form_are_the_words_offsets(text: str) -> None:
    """The engine takes a field's word offsets from its aligned form when it has one."""
    aligned = streams(text)[1]
    if aligned is None:
        return
    expected = spans(text)
    from_aligned = Spans(text, aligned)
    assert [from_aligned[i] for i in range(len(expected))] == expected
    with pytest.raises(IndexError):
        from_aligned[len(expected)]


@needs_corpus
def test_spans_from_the_aligned_form_of_real_feed_texts() -> None:
    checked = 0
    for path in sorted(CORPUS.glob("*.xml")):
        for entry in feedparser.parse(io.BytesIO(path.read_bytes())).entries:
            text = entry.get("summary", "")
            aligned = streams(text)[1]
            if aligned is not None:
                expected = spans(text)
                from_aligned = Spans(text, aligned)
                assert [from_aligned[i] for i in range(len(expected))] == expected, path.name
                checked += 1
    assert checked > 100
