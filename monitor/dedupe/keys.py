"""Exact identity of a story: the keys under which the store remembers it as seen.

A story is "seen" when any of its keys is already stored. Keys accumulate: a story first seen
under guid G with link L, and later re-served with a new guid but the same link, is caught by L
and teaches the store its new guid too.

Three kinds of key:

* the **guid**: a guid that is an absolute URL is compared as a URL (publishers use permalinks,
  and the Golem RSS feed's guid is its Atom feed's link); any other guid is only unique within
  its feed, so it is scoped by the feed name;
* the **identity URL** of the link (`monitor.urls.identity_url`): global, so the same article in
  three feeds of one publisher is one story;
* the **content key**: a hash of the folded title and lead, global too, so the same item
  re-served under a new guid *and* a new link is still one story. It is left out when the title
  and lead are too short to identify anything ("Live", "Nachrichten").

When a story's guid or link is known but its content key is not, its text changed: it is
matched again, and alerts only watchlists that did not match it before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from monitor.dedupe.event import EventPrint, event_print_of
from monitor.dedupe.fingerprint import (
    LEAD_WORDS,
    Fingerprint,
    Folded,
    content_words,
    fingerprint_of,
    folded,
)
from monitor.models import Story
from monitor.urls import identity_url

MIN_CONTENT_TOKENS = 6
"""Title+lead content words needed before the text alone may identify a story."""


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Everything dedupe knows about one story: exact keys, the near-duplicate fingerprint and
    the event print."""

    ids: tuple[str, ...]
    """Guid and link keys."""
    content: str | None
    """The content key, or None when the text is too short to identify the story."""
    words: Folded = field(repr=False, compare=False)
    """The folded headline and lead: what the content key, the fingerprint and the event
    print are made of (folded once for the three)."""

    @cached_property
    def fingerprint(self) -> Fingerprint:
        """Made on first use: a poll checks every story's keys, but only stories it has not
        seen need a fingerprint (one hash per word: most of what identifying costs)."""
        return fingerprint_of(self.words)

    @cached_property
    def event(self) -> EventPrint:
        """The same-event print (`monitor.dedupe.event`), made on first use like the
        fingerprint: only stories the store has not seen need it."""
        return event_print_of(self.words)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every exact key: ids then the content key."""
        return (*self.ids, self.content) if self.content else self.ids


def identify(story: Story) -> Identity:
    """The identity of `story`: pure, cheap (a few hashes), no store access; the fingerprint
    is made when first asked for."""
    ids: list[str] = []
    if story.guid:
        guid = story.guid.strip()
        if guid.startswith(("http://", "https://")):
            ids.append(_url_key(guid))
        else:
            ids.append(_digest("guid", story.feed, guid))
    if story.link:
        key = _url_key(story.link)
        if key not in ids:
            ids.append(key)
    # Every word counts here (unlike the fingerprint): exact identity must not lose a "b" or
    # a "not" that tells two items apart.
    words = folded(story.title, story.text)
    enough = (
        len(content_words(words.title_words)) + len(content_words(words.lead_words))
        >= MIN_CONTENT_TOKENS
    )
    text = " ".join(words.title_words + words.lead_words[:LEAD_WORDS])
    content = _digest("content", text) if enough else None
    if not ids and content is None:
        # Neither guid, link nor enough text: the title within its feed is all there is.
        ids.append(_digest("title", story.feed, story.title.casefold()))
    return Identity(ids=tuple(ids), content=content, words=words)


def _url_key(url: str) -> str:
    try:
        return _digest("url", identity_url(url))
    except ValueError:
        return _digest("url", url.strip())


def _digest(*parts: str) -> str:
    text = "\x1f".join(parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]
