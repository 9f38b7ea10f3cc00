"""Same event: independent reports of one news event by several outlets (issue #4).

`same_story` (fingerprint.py) finds one text told twice: a wire copy, a lightly edited
headline. Two outlets writing up one event share far less: their leads are different
sentences, their headlines different wordings. What they do share is the *headline words* —
who, where and what happened ("Musk fordert Rücktritt von Scholz", "Trump … Mexico … pay …
wall", "Japan recalls envoy … comfort woman statue") — and each repeats most of them
somewhere in its own headline or lead. Different stories about the same person, place or day
share the who and the where ("Fort Lauderdale airport shooting", "Syrien … Sturz … Assad",
"Musk", "Magdeburg Anschlag") but rarely a fifth word: the what differs.

So the rule (`same_event`): the two headlines share at least `MIN_SHARED_TITLE_WORDS` words,
and at least `MIN_SHARED_WORDS` words of either headline occur in *both* stories (headline or
lead). Words are content words after light stemming (`tokens`): German and English inflection
("Haftstrafe"/"Haftstrafen", "envoy"/"envoys"), hyphenated compounds split
("Magdeburg-Anschlag"), number words as digits ("fünf", "five" -> "5").

Counts, not weights: an IDF weighting (how rare a word is among the day's stories) ranked the
labelled pairs about as well, but needs document frequencies the store does not keep, and
its thresholds would shift with the number of stories stored.

Candidates (`event_keys`): a pair the rule accepts shares at least three headline words, so
two of its shared words are, with high probability, among each headline's `KEY_WORDS`
longest words (long words are the specific ones: names, places, compounds). Every pair of
those words is one key: at most 10 per story (C(5, 2)). Two stories are candidates when they
share a key — an index lookup, like the LSH bands, so sub-linear in the stories kept.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from itertools import combinations

from monitor.dedupe.fingerprint import LEAD_WORDS, STOPWORDS, Folded, fold, folded

MIN_SHARED_WORDS = 5
"""Headline words (of either story) that both stories must contain, in headline or lead."""
MIN_SHARED_TITLE_WORDS = 3
"""Words the two headlines must share: the leads may confirm a story, not make one alone."""
KEY_WORDS = 5
"""Longest headline words whose pairs are a story's retrieval keys (at most 10 keys)."""
MIN_STEM = 4
"""Characters a word keeps when a suffix is stripped: "news" stays, "lauderdale" loses "e"."""

_NUMBERS = (
    ("one", "eins"), ("two", "zwei"), ("three", "drei"), ("four", "vier"), ("five", "fünf"),
    ("six", "sechs"), ("seven", "sieben"), ("eight", "acht"), ("nine", "neun"),
    ("ten", "zehn"), ("eleven", "elf"), ("twelve", "zwölf"),
)  # fmt: skip
NUMBER_WORDS = {word: str(value) for value, words in enumerate(_NUMBERS, 1) for word in words}
"""Number words as digits: one outlet writes "fünf Tote", another "5 dead"."""

_MORE_STOPWORDS = """
    what how why who when where which there here into about more than up out off our your we
    you me my been being do does did can could would should may might must just now then also
    only was wie warum wer wo welche welcher welches ihr ihre ihren sein seine seinen seiner
    man mehr bisher jetzt nun schon sehr kann können soll sollen will wollen muss müssen ab bis
    durch gegen ohne um wegen beim ins dies diese dieser dieses alle alles viele keine kein
"""
EVENT_STOPWORDS = STOPWORDS | frozenset(_MORE_STOPWORDS.split())
"""`STOPWORDS` plus question words, modals and pronouns: headlines of different stories share
"Was ist bekannt?", "How to …", "Wie …" — words that say nothing about which event."""

_MONTHS = """
    januar februar märz april mai juni juli august september oktober november dezember
    january february march june july october december
    jan feb mär mar apr jun jul aug sep sept okt oct nov dez dec
"""
_DATE_WORDS = """
    montag dienstag mittwoch donnerstag freitag samstag sonnabend sonntag
    monday tuesday wednesday thursday friday saturday sunday
    heute gestern morgen vorgestern übermorgen today yesterday tomorrow tonight aktuell
"""
DATE_WORDS = frozenset(_MONTHS.split()) | frozenset(_DATE_WORDS.split())
"""Words that say *when*, not *which* event: every story of a day shares them ("TV-Programm am
Samstag, 21.12.2024" and "Wetter am Samstag, 21.12.2024" are not one event)."""
_M = "|".join(sorted(set(_MONTHS.split()), key=len, reverse=True))
_DATES = re.compile(
    rf"\b\d{{4}}-\d{{1,2}}-\d{{1,2}}\b"  # 2024-12-21
    rf"|\b\d{{1,2}}\.\s?\d{{1,2}}\.(?:\s?\d{{2,4}}\b)?"  # 21.12.2024, 21.12.
    rf"|\b\d{{1,2}}\.?\s+(?:{_M})\b\.?(?:\s+\d{{4}}\b)?"  # 21. Dezember 2024
    rf"|\b(?:{_M})\.?\s+\d{{1,2}}\b(?:,?\s+\d{{4}}\b)?",  # December 21, 2024; Dec. 21
    re.IGNORECASE,
)
"""Dates, removed before words are taken: their day and year numbers would otherwise count as
shared words of every story of the day. A year on its own stays ("to close by 2021")."""

_SUFFIXES = ("ungen", "innen", "ern", "en", "er", "es", "e", "s", "n")
"""German and English inflection endings, longest first; one is stripped per word."""


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A folded word without its inflection ending (crude, but the same on both sides).

    Cached: stories share most of their words, and a cache hit costs a tenth of trying
    each ending (the stemming was the largest part of an event print)."""
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    if word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")


def tokens(text: str) -> list[str]:
    """Stemmed content words of `text`, in order (digits kept even when one character;
    dates and `DATE_WORDS` dropped)."""
    return folded_tokens(fold(text))


def folded_tokens(text: str) -> list[str]:
    """`tokens` of a text `fold`ed already (dates are found in it as in the original: the
    pattern ignores case)."""
    if _DIGIT.search(text):  # every date has one; 3 texts in 4 have none, and skip `_DATES`
        text = _DATES.sub(" ", text)
    return [
        stem(w)
        for w in _WORD.findall(text)
        if (len(w) > 1 or w.isdigit()) and w not in EVENT_STOPWORDS and w not in DATE_WORDS
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class EventPrint:
    """What same-event detection knows about one story: its headline and lead words."""

    title: frozenset[str]
    """Stemmed content words of the headline."""
    lead: frozenset[str]
    """Stemmed content words among the first `LEAD_WORDS` of the text."""
    _keys: tuple[int, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def keys(self) -> tuple[int, ...]:
        """Its `event_keys`, made on first use and kept (a new story's are asked for by its
        lookup and its insert; a stored candidate's never)."""
        if self._keys is None:
            object.__setattr__(self, "_keys", event_keys(self))
        assert self._keys is not None
        return self._keys

    def encode(self) -> str:
        """A compact text form for the store (`decode` reverses it): two lines of words."""
        return " ".join(sorted(self.title)) + "\n" + " ".join(sorted(self.lead))

    @classmethod
    def decode(cls, text: str) -> EventPrint:
        title, _, lead = text.partition("\n")
        return cls(title=frozenset(title.split()), lead=frozenset(lead.split()))


def event_print(title: str, text: str) -> EventPrint:
    """The event print of a story's title and text (the lead as `fingerprint` takes it)."""
    return event_print_of(folded(title, text))


def event_print_of(words: Folded) -> EventPrint:
    """The event print of a story's `folded` headline and lead."""
    lead = folded_tokens(words.lead)[:LEAD_WORDS]
    return EventPrint(title=frozenset(folded_tokens(words.title)), lead=frozenset(lead))


def shared_words(a: EventPrint, b: EventPrint) -> frozenset[str]:
    """Headline words of either story that occur in both stories (headline or lead)."""
    return (a.title | b.title) & (a.title | a.lead) & (b.title | b.lead)


def same_event(a: EventPrint, b: EventPrint) -> bool:
    """Whether two stories report the same news event (see the module docstring)."""
    return (
        len(a.title & b.title) >= MIN_SHARED_TITLE_WORDS
        and len(shared_words(a, b)) >= MIN_SHARED_WORDS
    )


def key_words(title: frozenset[str], count: int = KEY_WORDS) -> list[str]:
    """The `count` longest headline words (ties in alphabetical order: the same everywhere)."""
    return sorted(title, key=lambda w: (-len(w), w))[:count]


def event_keys(p: EventPrint, count: int = KEY_WORDS) -> tuple[int, ...]:
    """Retrieval keys: one signed 64-bit hash (a BIGINT, like the LSH bands) per pair of
    `key_words`. Empty when the headline has fewer than `MIN_SHARED_TITLE_WORDS` words: such
    a story can never be the same event as another."""
    if len(p.title) < MIN_SHARED_TITLE_WORDS:
        return ()
    words = sorted(key_words(p.title, count))
    return tuple(_key(a, b) for a, b in combinations(words, 2))


def _key(a: str, b: str) -> int:
    digest = hashlib.blake2b(f"event\x1f{a}\x1f{b}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, signed=True)
