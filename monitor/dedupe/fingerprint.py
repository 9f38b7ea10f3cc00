"""Content fingerprints: what a story says, reduced to a few comparable numbers.

A story's **title** and **lead** (the first `LEAD_WORDS` words of its text) become token sets —
title words, lead word pairs — after Unicode folding and stop-word removal, and each set a
MinHash signature (`PERMUTATIONS` 16-bit minima). Two stories are near-duplicates
(`same_story`) when their titles are nearly the same words, or their leads nearly the same
text under related titles. Signatures are cut into LSH bands (`bands`): two near-duplicates
share at least one band with high probability, so the store finds candidates by an index
lookup on band hashes — sub-linear in the number of stories kept — and only those candidates
are compared.

Why our own MinHash instead of `datasketch`: datasketch brings scipy (tens of MB) for a few
lines of arithmetic, and its in-memory LSH keeps Python sets per band (the store's index keeps
16 bytes an entry: monitor/store/band_index.py); one BLAKE2b call per token yields all 32
permutations at once.

The values are part of the store's format: band hashes are stored (`stories.bands`) and must
come out the same for the same text in every later version (tests/test_dedupe_pinned.py pins
them).
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from operator import methodcaller

PERMUTATIONS = 32
"""MinHash values per signature: one 64-byte BLAKE2b digest is 32 16-bit hash functions."""
ROWS = 4
"""Signature values per LSH band: 8 bands of 4; a pair with similarity 0.6 shares a band
with probability 0.66, 0.7 with 0.89, 0.8 with 0.985 (title and lead each get their bands)."""
LEAD_WORDS = 40
"""Words of the text that make the lead: enough to tell stories apart, short enough that a
later paragraph added by an edit does not change the fingerprint."""
MIN_TITLE_TOKENS = 3
MIN_LEAD_SHINGLES = 12
TITLE_SAME = 0.6
"""Title token Jaccard at or above which two stories are the same story (titles of different
stories about one person share the name, rarely 60 % of their content words)."""
LEAD_SAME = 0.5
TITLE_WITH_LEAD = 0.2
"""Near-identical leads make the same story when the titles are at least related: a wire copy
under a retitled headline, not two articles that open with the same boilerplate."""

_STOPWORDS_TEXT = """
    a an and are as at be by for from has have in is it its of on or that the to was were
    will with after over after says say said new not but this his her their they he she
    der die das den dem des ein eine einer eines einem einen und oder in im ist sind war
    zu zum zur von vom mit auf aus bei für nach über unter vor am an als auch sich nicht
    es er sie wie was wird werden hat haben noch nur so dass
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
"""Words too common to say what a story is about (English and German, the corpus languages)."""

_WORD = re.compile(r"\w+")
_UNPACK = struct.Struct(f"<{PERMUTATIONS}H").unpack
_EMPTY: tuple[int, ...] = (0xFFFF,) * PERMUTATIONS
_HASH = partial(hashlib.blake2b, digest_size=64)
_DIGEST = methodcaller("digest")


@dataclass(frozen=True, kw_only=True, slots=True)
class Fingerprint:
    """What near-duplicate detection knows about one story's content."""

    title: frozenset[str]
    """Title content words, folded."""
    lead: tuple[int, ...]
    """MinHash signature of the lead's word pairs (empty when the lead is too short)."""

    _bands: tuple[int, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def bands(self) -> tuple[int, ...]:
        """LSH band hashes (signed 64-bit ints: a BIGINT column), title bands then lead bands.

        Made on first use, then kept: the store decodes every candidate's fingerprint to
        compare it and never needs a candidate's bands (a MinHash of its title: they cost
        more than the decoding)."""
        if self._bands is None:
            bands: list[int] = []
            if len(self.title) >= MIN_TITLE_TOKENS:
                bands += _band_hashes("t", minhash(self.title))
            if self.lead:
                bands += _band_hashes("l", self.lead)
            object.__setattr__(self, "_bands", tuple(bands))
        assert self._bands is not None
        return self._bands

    def encode(self) -> str:
        """A compact text form for the store (`decode` reverses it)."""
        lead = ",".join(map(str, self.lead))
        return " ".join(sorted(self.title)) + "\n" + lead

    @classmethod
    def decode(cls, text: str) -> Fingerprint:
        title_line, _, lead_line = text.partition("\n")
        title = frozenset(title_line.split())
        lead = tuple(map(int, lead_line.split(","))) if lead_line else ()
        return cls(title=title, lead=lead)


@dataclass(frozen=True, slots=True)
class Folded:
    """A story's headline and lead, folded once for every use: the identity key, the
    fingerprint and the event print each took its own words of the same two texts (Unicode
    normalization and a regex per text, four times over: a fifth of what identifying cost)."""

    title: str
    """The headline, `fold`ed."""
    lead: str
    """The first `LEAD_WORDS` x 30 characters of the text, `fold`ed: room for the lead."""
    title_words: list[str]
    """Every word of `title`."""
    lead_words: list[str]
    """Every word of `lead` (more than `LEAD_WORDS`; who takes them cuts)."""


def folded(title: str, text: str) -> Folded:
    """A story's `Folded` headline and lead."""
    title, lead = fold(title), fold(text[: LEAD_WORDS * 30])
    return Folded(title, lead, _WORD.findall(title), _WORD.findall(lead))


def fingerprint(title: str, text: str) -> Fingerprint:
    """The fingerprint of a story's title and text."""
    return fingerprint_of(folded(title, text))


def fingerprint_of(words: Folded) -> Fingerprint:
    """The fingerprint of a story's `folded` headline and lead."""
    title_tokens = frozenset(content_words(words.title_words))
    lead_tokens = content_words(words.lead_words)[:LEAD_WORDS]
    shingles = {f"{a} {b}" for a, b in pairwise(lead_tokens)}
    lead = minhash(shingles) if len(shingles) >= MIN_LEAD_SHINGLES else ()
    return Fingerprint(title=title_tokens, lead=lead)


def fold(text: str) -> str:
    """`text` NFKC-normalized and case-folded: how every word is compared."""
    return unicodedata.normalize("NFKC", text).casefold()


def content_words(words: list[str]) -> list[str]:
    """Folded words without stop words and single characters."""
    return [w for w in words if len(w) > 1 and w not in STOPWORDS]


def minhash(items: Iterable[str]) -> tuple[int, ...]:
    """The MinHash signature of a set of strings: per hash function, the least value."""
    # One C call chain per item (no Python frame): the hashing is most of a fingerprint.
    rows = list(map(_UNPACK, map(_DIGEST, map(_HASH, map(str.encode, items)))))
    if not rows:
        return _EMPTY
    return tuple(map(min, zip(*rows, strict=True)))


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two signatures (0.0 when either is empty)."""
    if not a or not b:
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def same_story(a: Fingerprint, b: Fingerprint) -> bool:
    """Whether two fingerprints are one story told twice (wire copy, a light edit)."""
    title = jaccard(a.title, b.title)
    if title >= TITLE_SAME and min(len(a.title), len(b.title)) >= MIN_TITLE_TOKENS:
        return True
    return title >= TITLE_WITH_LEAD and similarity(a.lead, b.lead) >= LEAD_SAME


_MASK = (1 << 64) - 1
# Odd 64-bit multipliers, one per band and kind: multiplying by an odd number is a bijection
# mod 2**64, so a band's four 16-bit values map to a distinct, well-spread 64-bit key. Fixed
# constants (not Python's hash()) so keys are the same in every process and version.
_MULTIPLIERS = {
    kind: [
        int.from_bytes(hashlib.blake2b(f"{kind}{band}".encode(), digest_size=8).digest()) | 1
        for band in range(PERMUTATIONS // ROWS)
    ]
    for kind in ("t", "l")
}


_PACKED = struct.Struct(f">{PERMUTATIONS}H").pack
"""A signature as big-endian 16-bit values: each band's 4 values read as one 64-bit int."""
_BANDS_OF = struct.Struct(f">{PERMUTATIONS // ROWS}Q").unpack
_UNSIGNED = struct.Struct(f"<{PERMUTATIONS // ROWS}Q").pack
_SIGNED = struct.Struct(f"<{PERMUTATIONS // ROWS}q").unpack


def _band_hashes(kind: str, signature: Sequence[int]) -> list[int]:
    # Band b packs its values as v0 << 48 | v1 << 32 | v2 << 16 | v3: the big-endian bytes
    # of the signature read 8 at a time. The product, mod 2**64, as a signed BIGINT.
    packed = _BANDS_OF(_PACKED(*signature))
    keys = [(value * m) & _MASK for value, m in zip(packed, _MULTIPLIERS[kind], strict=True)]
    return list(_SIGNED(_UNSIGNED(*keys)))
