"""The one text analyzer: watchlist terms and story text go through the same functions.

Matching is only as good as the agreement between how a term and a story are read, so both
sides use `words` (the folded words of a text) and `fold` (the comparable form of a word):

* **Words** are runs of Unicode letters and digits (with their combining marks), found by one
  regex over the *original* string, so every word has exact `start`/`end` offsets into the
  text the user will see highlighted. Hits are always whole words, so word spans are the
  offset map at the only granularity matching needs. The engine scans a field's stream —
  its folded words joined by spaces, made without that regex (see `streams`) — and asks
  for word offsets (`Spans`) only in a field that has a hit; the stream and `words` agree
  word for word.
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
a watchlist must ask for the looser match (`fold_diacritics`): such watchlists are compiled
and scanned over `loose` words (`muller` for `Müller`, `Mueller` and `Muller`).

**Possessive and genitive endings** are handled asymmetrically, by `endings`: a term word is
found in a story as itself or with `s` or `'s` added (`musk` as `musk`, `musks`, `musk's`),
never the other way round. So the term `Musk` hits `Musks`, `Musk's`, `Musk’s` and `Musk'`,
never `Muskeln`; the term `Musks` does not hit `Musk`. A one-letter term word takes no
ending, so the term `U` does not hit `us`. In a phrase only the last word takes one, where
English and German put it (`Elon Musk's`, `Elon Musks`, `Bank of America's`): the phrase
`Elon Musk` does not hit `Elons Musk`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from itertools import islice, repeat

import numpy as np

from monitor.normalize import ZERO_WIDTH

__all__ = [
    "IGNORABLE",
    "Spans",
    "endings",
    "fold",
    "loose",
    "loose_stream",
    "offset",
    "phrase",
    "spans",
    "streams",
    "words",
]

IGNORABLE = ZERO_WIDTH
"""Soft hyphen and zero-width characters (the set `normalize` removes from story text):
invisible, so they never separate or make words."""

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
_APOSTROPHE = rf"[{re.escape(_APOSTROPHES)}][{IGNORABLE}]*"
_JOIN = rf"(?:[{IGNORABLE}]+(?:{_APOSTROPHE})?|{_APOSTROPHE})"
"""Between two parts of one word: invisible characters, one apostrophe, or both."""
_WORD = re.compile(rf"{_PART}(?:{_JOIN}{_PART})*")


def fold(text: str) -> str:
    """The comparable form of `text`: invisible characters dropped, quotes straightened,
    NFKC, casefolded. `words` applies it per word; `streams` does the same to a whole
    field, touching only its non-ASCII characters."""
    if text.isascii():
        # NFKC is the identity on ASCII and casefold is lower(); only ` needs mapping.
        return text.replace("`", "'").lower() if "`" in text else text.lower()
    for char, replacement in _REPLACEMENTS:  # a few fast scans beat one slow str.translate
        if char in text:
            text = text.replace(char, replacement)
    text = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", text)


def words(text: str) -> list[str]:
    """The folded words of `text`, without offsets: the hot path, all loops in C.

    `spans(text)` gives the offsets of the same words, index for index, when needed. Text
    of ASCII letters, digits and spaces only (most watchlist terms, category names) is cut
    by `lower().split()`, at a fifth of the regex's cost: a cold compile of 100,000 queries
    cuts ~400,000 distinct terms.
    """
    if text.isascii() and text.replace(" ", "").isalnum():
        return text.lower().split()
    raw = _WORD.findall(_unscore(text))
    folded = list(map(_WORDS.get, raw))  # a plain dict in C: ~5x cheaper than lru_cache
    if None in folded:
        if len(_WORDS) > _FOLD_CACHE_SIZE:
            _WORDS.clear()
        for position, word in enumerate(folded):
            if word is None:
                folded[position] = _WORDS[raw[position]] = fold(raw[position])
    # A word NFKC makes into spaced words (`ﹰ` -> ` ً`, `ﷺ` -> four words) is those words,
    # as in the stream (rare: only characters outside plain text do it).
    return " ".join(folded).split()  # type: ignore[arg-type]  # every None was replaced


_WORDS: dict[str, str] = {}
"""`words`' cache of folded words, cleared when it outgrows `_FOLD_CACHE_SIZE`."""


def streams(text: str) -> tuple[str, str | None]:
    """The stream of `text` — `words(text)` as one string, each word with a space before and
    after it (`" elon musk's tesla "`): what the engine's automaton scans, so a key
    `" musk "` is a whole word and `" elon musk "` a phrase — and its *aligned* form when
    there is one: the folded text with every character that is not part of a word made a
    space, of the same length as `text` and character for character in place (so a word's
    offsets in it are its offsets in `text`), or None when folding moved characters (`ß` →
    `ss`, a soft hyphen dropped).

    The same words as `words`, made without a regex over the text — the hot path of
    matching. ASCII is folded and its separators made spaces by one `bytes.translate`;
    everything about the other characters (are they NFKC, what do they casefold to, are
    they separators) is decided on them alone, ASCII deleted (`_fold_sparse`): a German
    article has a few dozen of them in 2,000 characters, and `casefold` and the NFKC
    checks over the whole text were a quarter of the cost of matching it. A text that
    NFKC would change (`™` becomes `tm`, `²` becomes `2`) takes the `words` path: folding a
    whole field could join or split words differently from folding word by word. No-break
    spaces and the ellipsis (`_SPACES`) become plain spaces first, so they do not.
    """
    if text.isascii():
        spaced, ignorable = text.encode().translate(_FOLD_ASCII).decode(), False
    else:
        sparse = _fold_sparse(text)
        if sparse is None:
            return " " + " ".join(words(text)) + " ", None
        spaced, ignorable = sparse
    if "'" in spaced:
        spaced = " " + spaced + " "
        while "''" in spaced:
            spaced = spaced.replace("''", "  ")
        spaced = spaced.replace(" '", "  ").replace("' ", "  ")[1:-1]
    padded = f" {spaced} "
    while "  " in padded:  # a run of n spaces takes log2(n) passes; split/join is 5x slower
        padded = padded.replace("  ", " ")
    return padded, spaced if len(spaced) == len(text) and not ignorable else None


def _fold_sparse(text: str) -> tuple[str, bool] | None:
    """`fold(text)` with its separators made spaces (see `streams`), and whether `text` has
    invisible characters; None when NFKC would change it.

    The non-ASCII characters (`others`: the UTF-8 with ASCII deleted) are checked and
    mapped one distinct character at a time. That equals folding the whole text because
    NFKC leaves ASCII alone and joins an ASCII letter only with a combining mark (texts
    with one are left to `words`), `casefold` maps each character on its own, and two
    non-ASCII characters that meet in the text meet in `others` too (so a composition
    there cannot go unseen: `others` is checked again after mapping).
    """
    data = text.encode()
    others = data.translate(None, _ASCII).decode()
    chars = set(others)
    if not chars.isdisjoint(_SPACES):  # one character each way: places stay
        for space in chars.intersection(_SPACES):
            text = text.replace(space, " ")
            others = others.replace(space, "")
        data = b""
    if not unicodedata.is_normalized("NFKC", others):  # NFKC would change the text
        return None
    replaced = chars.intersection(_REPLACE)
    for char in replaced:
        text = text.replace(char, _REPLACE[char])
        others = others.replace(char, _REPLACE[char])
    cased = [char for char in chars - replaced if char.casefold() != char]
    if len(cased) > _SPARSE_CASES:  # a Cyrillic or Greek text: one pass is cheaper
        text, others = text.casefold(), others.casefold()
    else:
        for char in cased:
            text = text.replace(char, char.casefold())
            others = others.replace(char, char.casefold())
    if replaced or cased:
        data = b""
    if any(map(unicodedata.combining, others)) or not unicodedata.is_normalized("NFKC", others):
        return None  # a combining mark, or characters that folding made compose
    spaced = (data or text.encode()).translate(_FOLD_ASCII).decode()
    others = others.encode().translate(None, _ASCII).decode()  # `ß` is now `ss`
    if not others.isalnum():
        for separator in _COMMON_SEPARATORS:
            if separator in others:
                spaced = spaced.replace(separator, " ")
                others = others.replace(separator, "")
        if others and not others.isalnum():
            spaced = _OTHER_SEPARATORS.sub(_blank, spaced)
    return spaced, not chars.isdisjoint(IGNORABLE)


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group())


def offset(aligned: str, chars: int) -> int:
    """Where, in an aligned form (see `streams`), the text that holds `chars` word
    characters ends: the least offset with that many non-spaces before it. Found by
    counting spaces in C a few times (the offset is `chars` plus the spaces before it)."""
    at = chars
    spaces = aligned.count(" ", 0, at)
    while chars + spaces != at:  # the spaces in what the last step added count too
        then = chars + spaces
        spaces += aligned.count(" ", at, then)
        at = then
    return at


def loose_stream(padded: str) -> str:
    """A stream (see `streams`) with every word made `loose`, for `fold_diacritics`
    watchlists."""
    return " " + " ".join(map(loose, padded.split())) + " "


_FOLD_ASCII = bytes(
    byte + 32 if 0x41 <= byte <= 0x5A  # A-Z: lowercase, as casefold does
    else 0x27 if byte == 0x60  # ` is an apostrophe (see `fold`)
    else byte if byte >= 0x80 or chr(byte).isalnum() or byte == 0x27
    else 0x20
    for byte in range(256)
)  # fmt: skip
"""A `bytes.translate` table that folds ASCII as `fold` does and makes what is not a letter,
digit or apostrophe (`_` included, as `_unscore` does) a space; UTF-8 bytes of other
characters pass unchanged."""
_REPLACE = dict(_REPLACEMENTS)
_SPARSE_CASES = 8
"""Distinct characters to casefold one `str.replace` each (`Ä`, `Ö`, `Ü`, `ß`…); with more,
the whole text is casefolded at once."""
_ASCII = bytes(range(0x80))
_OTHER_SEPARATORS = re.compile(rf"[^\x00-\x7f\w{_MARKS}]+")
_COMMON_SEPARATORS = "–—•·‚‹›°§×€"
"""Non-ASCII punctuation frequent in news text (after `fold`, which already made the curly
quotes ASCII): replaced one by one, they spare most texts the `_OTHER_SEPARATORS` regex."""
_SPACES = "\u00a0\u2007\u2009\u202f…"
"""Characters NFKC would change that separate words whichever way a text is folded: the
no-break, figure, thin and narrow no-break spaces of German typesetting (`5\u00a0000`,
`Nr.\u00a05`) and the ellipsis of every teaser. Made spaces before the NFKC check, they do
not send a text down the slow path."""


class Spans:
    """`spans(text)` computed only as far as it is read: a hit in the first paragraph does
    not pay for the offsets of every word after it. Given the text's aligned form
    (`streams`), all at once from that instead: its words are its runs of non-spaces, and
    numpy finds them in a few passes in C (~20 against ~200 µs for the regex over 2,000
    characters, the field of a story that matched many watchlists)."""

    __slots__ = ("_done", "_rest")

    def __init__(self, text: str, aligned: str | None = None) -> None:
        if aligned is None:
            self._rest = _word_spans(text)
            self._done: list[tuple[int, int]] = []
        else:  # every character of a word is one byte here, every space stays a space
            spaces = np.frombuffer(f" {aligned} ".encode("latin-1", "replace"), np.uint8) == 32
            edges = np.flatnonzero(spaces[1:] != spaces[:-1]).tolist()  # a word's start, end
            self._rest = iter(())
            self._done = list(zip(edges[::2], edges[1::2], strict=True))

    def __getitem__(self, index: int) -> tuple[int, int]:
        done = self._done
        if index >= len(done):
            done.extend(islice(self._rest, index + 1 - len(done)))
        return done[index]


def spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets into `text` of each of `words(text)`."""
    return list(_word_spans(text))


def _word_spans(text: str) -> Iterator[tuple[int, int]]:
    """`spans`, one by one. A word NFKC makes into several (`ﷺ`, four Arabic words) has its
    span once for each of them: `words` and the stream count them apart, so a hit's word
    position after it must find its span (one regex word, one span, used to point past
    the end)."""
    for found in _WORD.finditer(_unscore(text)):
        word = found.group()
        if word.isascii():
            yield found.span()
        else:
            yield from repeat(found.span(), len(words(word)))


def phrase(text: str) -> tuple[str, ...]:
    """The folded words of a term: what a story must contain, consecutively, to hit it."""
    return tuple(words(text))


def endings(word: str) -> tuple[str, ...]:
    """The story words that hit the folded term word `word`: itself, and with a possessive
    or genitive ending when it has two characters or more. See the module docstring."""
    return (word, word + "s", word + "'s") if len(word) >= 2 else (word,)


def _unscore(text: str) -> str:
    """`\\w` counts `_` as a letter; a space of the same length keeps offsets intact and
    makes `@elon_musk` the words `elon musk`. `ʼ` is a letter to `\\w` too, but an apostrophe
    to a reader: it joins words like `'` does (and is no word on its own)."""
    if "_" in text:
        text = text.replace("_", " ")
    return text.replace("ʼ", "'") if "ʼ" in text else text


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
