"""The one text analyzer: watchlist terms and story text go through the same functions.

Matching is only as good as the agreement between how a term and a story are read, so both
sides use `analyze` (words with offsets) and `fold` (the comparable form of a word):

* **Words** are runs of Unicode letters and digits (with their combining marks), found by one
  regex over the *original* string, so every word has exact `start`/`end` offsets into the
  text the user will see highlighted. Hits are always whole words, so word spans are the
  offset map at the only granularity matching needs; the per-character work (folding)
  happens on the word alone, and is cached because words repeat. The engine asks for
  `words` (no offsets, every loop in C) and for `spans` only in a field that has a hit.
* Inside a word, zero-width characters (U+200B–U+200D, U+2060, U+FEFF) and the soft hyphen
  (U+00AD) are ignored (`Star\\u00adlink` is `starlink`); around a word they are not part of it
  (heise's title ending in U+200B still ends in the word `aktienkurs`).
* An apostrophe between letters (straight or `’ ‘ ´ \\` ʼ`) stays inside the word, straightened:
  `Musk’s` is the one word `musk's`, `O’Brien` is `o'brien`. A trailing one is dropped
  (`Musk'` is `musk`).
* Hyphens, slashes and all other punctuation split words: `Starlink-Terminals` is the two
  tokens `starlink`, `terminals`, and a term `Tesla-Chef` is the phrase `tesla chef`.
* `fold` is NFKC + `str.casefold()` (NFKC again after casefold, so the result is stable):
  `Straße`/`STRASSE` → `strasse`, `Müller`/`MÜLLER` → `müller`, decomposed `u+◌̈` → `ü`,
  full-width and ligature letters → plain ones.

**Diacritics are exact by default**: `Müller` does not match `Muller` or `Mueller`. German
readers treat those as different spellings (and `Mueller` is a different common surname), so
a watchlist must ask for the looser match (issue 3's query option). That option slots in as
one more lookup key per story word (the word with diacritics removed, next to its `stem`;
the term side compiles `muller` and `mueller`) — the index and the engine stay as they are.

**Possessive and genitive endings** are handled by `stem`, asymmetrically: a story word
offers itself and its stem without `'s` or `s` (`musks` → `musks`, `musk`), a term word is
looked up as written. So the term `Musk` hits `Musks`, `Musk's`, `Musk’s` and `Musk'`, never
`Muskeln`; the term `Musks` does not hit `Musk`. A stem must keep at least two characters, so
`us` does not become a hit for the term `U`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

__all__ = ["IGNORABLE", "Token", "analyze", "fold", "loose", "phrase", "spans", "stem", "words"]

IGNORABLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
"""Soft hyphen and zero-width characters: invisible, so they never separate or make words."""

_APOSTROPHES = "'’‘´`ʼ"
_REPLACEMENTS = (
    *((char, "") for char in IGNORABLE),
    *((char, "'") for char in _APOSTROPHES[1:]),
    *((char, '"') for char in "“”„‟«»"),
)
_FOLD_CACHE_SIZE = 1 << 16


_MARKS = (
    "\u0300-\u036f\u0483-\u0489"  # combining diacritics (decomposed ü), Cyrillic
    "\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"  # Hebrew points
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
    "\u0900-\u0963\u0966-\u0dff\u0e00-\u0eff\u1000-\u109f"  # Indic, Thai, Lao, Myanmar
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f"
)
"""Combining marks that `str.isalnum` rejects but that belong inside a word.

Python's `re` has no `\\p{M}`, and without these a decomposed `u◌̈` or a Devanagari vowel
sign would split a word. A class of every mark in Unicode (~130 ranges) makes the word regex
~3x slower, so this lists the blocks where marks occur in running text; whole Indic and
Southeast Asian blocks are included (their letters are word characters anyway), minus the
danda punctuation.
"""
_PART = rf"[\w{_MARKS}]+"
_JOIN = rf"(?:[{IGNORABLE}]+|[{re.escape(_APOSTROPHES)}])"
_WORD = re.compile(rf"{_PART}(?:{_JOIN}{_PART})*")


class Token(NamedTuple):
    """One word: its folded form and where it stands in the original string."""

    word: str
    start: int
    end: int


def fold(text: str) -> str:
    """The comparable form of `text`: invisible characters dropped, quotes straightened,
    NFKC, casefolded. `words` applies it per word; the engine's pre-filter to whole fields."""
    if text.isascii():
        # NFKC is the identity on ASCII and casefold is lower(); only ` needs mapping.
        return text.replace("`", "'").lower() if "`" in text else text.lower()
    for char, replacement in _REPLACEMENTS:  # a few fast scans beat one slow str.translate
        if char in text:
            text = text.replace(char, replacement)
    text = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", text)


_fold_word = functools.lru_cache(maxsize=_FOLD_CACHE_SIZE)(fold)
"""`fold` for single words, cached: a story's words are mostly ones seen before."""


def words(text: str) -> list[str]:
    """The folded words of `text`, without offsets: the hot path, all loops in C.

    `spans(text)` gives the offsets of the same words, index for index, when needed.
    """
    raw = _WORD.findall(_unscore(text))
    folded = list(map(_WORDS.get, raw))  # a plain dict in C: ~5x cheaper than lru_cache
    if None in folded:
        if len(_WORDS) > _FOLD_CACHE_SIZE:
            _WORDS.clear()
        for position, word in enumerate(folded):
            if word is None:
                folded[position] = _WORDS[raw[position]] = fold(raw[position])
    return folded  # type: ignore[return-value]  # every None was replaced


_WORDS: dict[str, str] = {}
"""`words`' cache of folded words, cleared when it outgrows `_FOLD_CACHE_SIZE`."""


def spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets into `text` of each of `words(text)`."""
    return [match.span() for match in _WORD.finditer(_unscore(text))]


def analyze(text: str) -> list[Token]:
    """The words of `text` in order, folded, with offsets into `text` itself."""
    return [
        Token(_fold_word(m.group()), m.start(), m.end()) for m in _WORD.finditer(_unscore(text))
    ]


def phrase(text: str) -> tuple[str, ...]:
    """The folded words of a term: what a story must contain, consecutively, to hit it."""
    return tuple(words(text))


@functools.lru_cache(maxsize=_FOLD_CACHE_SIZE)
def stem(word: str) -> str:
    """A folded story word without its possessive/genitive ending (`musk's`, `musks` →
    `musk`), or "" when it has none. See the module docstring."""
    if word.endswith("'s") and len(word) >= 4:
        return word[:-2]
    if word.endswith("s") and len(word) >= 3 and word[-2] != "'":
        return word[:-1]
    return ""


def _unscore(text: str) -> str:
    """`\\w` counts `_` as a letter; a space of the same length keeps offsets intact and
    makes `@elon_musk` the words `elon musk`."""
    return text.replace("_", " ") if "_" in text else text


_UMLAUT_SPELLING = re.compile(r"([aou])e")


@functools.lru_cache(maxsize=_FOLD_CACHE_SIZE)
def loose(word: str) -> str:
    """A folded word with diacritics removed and German umlaut spellings merged, for
    watchlists with `fold_diacritics`: `müller`, `mueller` and `muller` are all `muller`.

    Marks are removed after NFD (`é` → `e`, `ø` stays: it has no decomposition), then `ae`,
    `oe`, `ue` become `a`, `o`, `u`. Both sides go through this, so the only
    cost of the merge is that a few unrelated words collide (`blue` and `blu`), which is the
    looseness such a watchlist asked for.
    """
    if word.isascii():
        return _UMLAUT_SPELLING.sub(r"\1", word) if "e" in word else word
    bare = "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
    return _UMLAUT_SPELLING.sub(r"\1", unicodedata.normalize("NFC", bare))
