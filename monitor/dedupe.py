"""Exact identity of a story: the keys under which the store remembers it as seen.

A story is "seen" when any of its keys is already stored. Keys accumulate: a story first seen
under guid G with link L, and later re-served with a new guid but the same link, is caught by L
and teaches the store its new guid too. (The dedupe issue adds content fingerprints and
near-duplicate clusters on top of these exact keys.)
"""

from __future__ import annotations

import hashlib

from monitor.models import Story


def identity_keys(story: Story) -> list[str]:
    """Stable, fixed-length keys for `story` (hashed so the unique index stays small).

    A guid that is an absolute URL is global (publishers use permalinks); any other guid is
    only unique within its feed, so it is scoped by the feed name. The canonical link is global:
    the same article in three feeds of one publisher is one story.
    """
    keys: list[str] = []
    if story.guid:
        guid = story.guid.strip()
        if guid.startswith(("http://", "https://")):
            keys.append(_digest("guid-url", guid))
        else:
            keys.append(_digest("guid", story.feed, guid))
    if story.link:
        keys.append(_digest("url", story.link))
    if not keys:
        # Neither guid nor link: the title within its feed is all there is to go on.
        keys.append(_digest("title", story.feed, story.title.casefold()))
    return keys


def _digest(*parts: str) -> str:
    text = "\x1f".join(parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]
