"""Short plain-text excerpts around a hit, for notifications and `monitor match`.

Feeds pad titles with newlines and tabs (Daily Mail) and hide zero-width characters in them
(heise), so the excerpt collapses whitespace and drops invisible characters; the hit's place
inside the excerpt is returned so a channel that can mark text (Slack, HTML mail) does so.
"""

from __future__ import annotations

import re

from monitor.match.analysis import IGNORABLE
from monitor.models import Hit, Story

__all__ = ["ELLIPSIS", "snippet"]

ELLIPSIS = "…"
_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile(f"[{IGNORABLE}]+")


def snippet(story: Story, hit: Hit, *, width: int = 200) -> tuple[str, tuple[int, int]]:
    """An excerpt of at most about `width` characters around `hit`, cut at word boundaries
    with "…" where cut, and the hit's (start, end) inside it.

    A category hit has no surrounding prose, so its excerpt is the category in brackets
    (the hit marked inside it) followed by the start of the story text, or of the title when
    the story has no text: `[Elon Musk] Der Tesla-Chef hat …`. A hit longer than `width` is
    returned whole.
    """
    if hit.field == "category":
        return _category_snippet(story, hit, width)
    source = story.title if hit.field == "title" else story.text
    left = _squash(source[: hit.start]).lstrip()
    middle = _squash(source[hit.start : hit.end])
    right = _squash(source[hit.end :]).rstrip()
    return _window(left, middle, right, width)


def _category_snippet(story: Story, hit: Hit, width: int) -> tuple[str, tuple[int, int]]:
    category = story.categories[hit.index]
    left = "[" + _squash(category[: hit.start]).lstrip()
    middle = _squash(category[hit.start : hit.end])
    right = _squash(category[hit.end :]).rstrip() + "]"
    head = left + middle + right
    lead = _squash(story.text or story.title).strip()
    if len(head) >= width or not lead:
        return _window(left, middle, right, width)
    excerpt = head + " " + _cut_right(lead, width - len(head) - 1)
    return excerpt.rstrip(), (len(left), len(left) + len(middle))


def _window(left: str, middle: str, right: str, width: int) -> tuple[str, tuple[int, int]]:
    """`middle` with as much of `left` and `right` as fits in `width`, shared evenly."""
    room = width - len(middle)
    if room <= 0:
        return middle, (0, len(middle))
    left_room = min(len(left), room // 2)
    right_room = min(len(right), room - left_room)
    left_room = min(len(left), room - right_room)
    before = _cut_left(left, left_room)
    after = _cut_right(right, right_room)
    return before + middle + after, (len(before), len(before) + len(middle))


def _cut_left(text: str, room: int) -> str:
    """The end of `text` in at most `room` characters, starting at a word, "…" if cut."""
    if len(text) <= room:
        return text
    piece = text[len(text) - max(room - 1, 0) :]
    cut_inside_word = piece and not text[len(text) - len(piece) - 1].isspace()
    if cut_inside_word:
        space = piece.find(" ")
        piece = piece[space + 1 :] if space >= 0 else ""
    return ELLIPSIS + piece.lstrip()


def _cut_right(text: str, room: int) -> str:
    """The start of `text` in at most `room` characters, ending at a word, "…" if cut."""
    if len(text) <= room:
        return text
    piece = text[: max(room - 1, 0)]
    if piece and not text[len(piece)].isspace():
        piece = piece[: piece.rfind(" ") + 1]
    return piece.rstrip() + ELLIPSIS


def _squash(text: str) -> str:
    """Runs of whitespace as one space, invisible characters gone."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", text))
