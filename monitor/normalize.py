"""Feed entries become `Story` values: clean titles, plain text, canonical links, UTC dates.

Everything here is a pure function of its input: no I/O, no clock. Publishers disagree about
everything (HTML in titles, padded whitespace, invisible characters, tracking parameters,
ad markers in the text); the later stages — dedupe and matching — see one tidy shape.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from monitor.models import Story
from monitor.urls import TRACKING_PARAMS, canonical_url

__all__ = ["TRACKING_PARAMS", "canonical_url", "clean_title", "html_to_text", "story_from_entry"]

MAX_TEXT_CHARS = 100_000
"""Plain text kept per story: a long article is ~30k; a hostile entry must not blow memory."""
MAX_HTML_CHARS = 1_000_000
"""HTML looked at per field, before conversion, for the same reason."""
MAX_TITLE_CHARS = 1_000
MAX_CATEGORIES = 50

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
"""Invisible characters that split words for matching: zero-width space/non-joiner/joiner,
word joiner, BOM (zero-width no-break space) and the soft hyphen."""

AD_MARKERS = (
    r"(?:-{2,}|[–—]|\[)\s*(?:anzeige|werbung|advertisement|sponsored)\s*(?:-{2,}|[–—]|\])",
)
"""Ad labels removed wherever they occur: only delimited forms (`-- Anzeige --`, `– Anzeige –`,
`[Anzeige]`), so the word in a sentence ("eine Anzeige erstatten") stays."""

AD_LINES = (
    r"anzeigen?|werbung|advertisement|advertising|sponsored|"
    r"gesponserte[rs]? (?:inhalt|beitrag|link)|sponsored content|"
    r"(?:story|article) continues below(?: this)? advertisement|"
    r"advertisement - scroll to continue|(?:lesen sie )?weiter nach der anzeige"
)
"""Lines removed when they consist of nothing but one of these labels (case-insensitive)."""

_AD_MARKER = re.compile("|".join(AD_MARKERS), re.IGNORECASE)
_AD_LINE = re.compile(rf"(?:{AD_LINES})\s*[:.]?", re.IGNORECASE)
_INVISIBLE = str.maketrans(dict.fromkeys(ZERO_WIDTH))
_WHITESPACE = re.compile(r"\s+")
_LOOKS_LIKE_HTML = re.compile(r"<[a-z/!]|&(?:#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);", re.IGNORECASE)
_LANGUAGE = re.compile(r"[a-z]{2,3}")

# Elements whose content is not text a reader sees.
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "svg", "head"})
# Elements that end a line; table cells only separate words.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr",
        "ul", "caption", "tbody", "thead", "tfoot",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})


def story_from_entry(
    entry: Mapping[str, Any], *, feed_name: str, base_url: str, language: str | None = None
) -> Story | None:
    """A `Story` from one feedparser entry, or None when it has no title, link or text.

    `base_url` is the feed's URL (relative links resolve against it); `language` is the
    feed's language, used when the entry does not say.
    """
    title = _title(entry)
    link = _link(entry, base_url)
    text = _text(entry)
    if not (title or link or text):
        return None
    guid = entry.get("id")
    return Story(
        feed=feed_name,
        title=title,
        link=link,
        guid=(guid.strip() or None) if isinstance(guid, str) else None,
        text=text,
        categories=_categories(entry.get("tags") or ()),
        published=_published(entry),
        language=_language(_detail(entry, "title").get("language") or language),
    )


def html_to_text(html: str) -> str:
    """Plain text from an HTML fragment: what a reader sees, one paragraph per line.

    Scripts, styles and images go; block elements end lines; entities are decoded; runs of
    whitespace become one space; invisible characters go (`ZERO_WIDTH`), as do ad labels
    (`AD_MARKERS`, `AD_LINES`); the result is NFC so matching compares like with like.
    """
    parser = _TextExtractor()
    parser.feed(html[:MAX_HTML_CHARS])
    parser.close()
    return _clean_lines(parser.text().split("\n"))


def clean_title(title: str, *, is_html: bool = False) -> str:
    """A title on one line: HTML removed if `is_html`, whitespace collapsed, invisibles gone.

    Whether a title is HTML is feedparser's call (`title_detail.type`): it looks for real
    HTML elements and entities, so "Why <canvas> matters" stays text while a double-escaped
    "Fish &amp;amp; chips" is decoded.
    """
    title = title[:MAX_HTML_CHARS]
    if is_html:
        title = html_to_text(title)
    return _clean_line(title)[:MAX_TITLE_CHARS].strip()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._boundary(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP_TAGS:  # <svg/> opens nothing
            self._boundary(tag, opening=False)

    def handle_endtag(self, tag: str) -> None:
        self._boundary(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            # Newlines in HTML source are spaces; only elements make lines.
            self._parts.append(_WHITESPACE.sub(" ", data))

    def _boundary(self, tag: str, *, opening: bool) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = self._skipping + 1 if opening else max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")
        elif tag in _CELL_TAGS:
            self._parts.append(" ")

    def text(self) -> str:
        return "".join(self._parts)


def _clean_line(line: str) -> str:
    line = unicodedata.normalize("NFC", line.translate(_INVISIBLE))
    return _WHITESPACE.sub(" ", _AD_MARKER.sub(" ", line)).strip()


def _clean_lines(lines: Iterable[str]) -> str:
    kept: list[str] = []
    size = 0
    for raw in lines:
        line = _clean_line(raw)
        if not line or _AD_LINE.fullmatch(line):
            continue
        kept.append(line)
        size += len(line) + 1
        if size > MAX_TEXT_CHARS:
            break
    return "\n".join(kept)[:MAX_TEXT_CHARS]


def _detail(entry: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    detail = entry.get(f"{name}_detail")
    return detail if isinstance(detail, Mapping) else {}


def _title(entry: Mapping[str, Any]) -> str:
    title = entry.get("title")
    if not isinstance(title, str):
        return ""
    is_html = "html" in str(_detail(entry, "title").get("type", ""))
    return clean_title(title, is_html=is_html)


def _link(entry: Mapping[str, Any], base_url: str) -> str | None:
    raw = entry.get("link")
    if not isinstance(raw, str) or not raw.strip():
        alternates = [
            link.get("href")
            for link in entry.get("links") or ()
            if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate"
        ]
        raw = next((href for href in alternates if isinstance(href, str) and href), None)
    if raw is None:
        return None
    try:
        return canonical_url(urljoin(base_url, raw.strip()))
    except ValueError:  # javascript:, mailto:, a broken port: not a link we can offer
        return None


def _text(entry: Mapping[str, Any]) -> str:
    """The most complete body: the longest of the contents and the summary, as plain text."""
    candidates = [c for c in entry.get("content") or () if isinstance(c, Mapping)]
    summary = entry.get("summary")
    if isinstance(summary, str):
        candidates.append({"value": summary, "type": _detail(entry, "summary").get("type")})
    best = ""
    for candidate in candidates:
        value = candidate.get("value")
        if not isinstance(value, str) or not value.strip():
            continue
        # feedparser sometimes labels HTML as text/plain (LA Times: a media:description
        # overrides summary_detail), so markup in the value counts as much as the label.
        if "html" in str(candidate.get("type") or "text/html") or _LOOKS_LIKE_HTML.search(value):
            text = html_to_text(value)
        else:
            text = _clean_lines(value[:MAX_HTML_CHARS].splitlines())
        if len(text) > len(best):
            best = text
    return best


def _categories(tags: Iterable[Any]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for tag in tags:
        term = tag.get("term") if isinstance(tag, Mapping) else None
        if isinstance(term, str) and (cleaned := clean_title(term)):
            seen.setdefault(cleaned.casefold(), cleaned)
            if len(seen) >= MAX_CATEGORIES:
                break
    return tuple(seen.values())


def _published(entry: Mapping[str, Any]) -> datetime | None:
    """The entry's date as aware UTC (feedparser's *_parsed are UTC struct_times), or None."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed is None:
            continue
        try:
            year, month, day, hour, minute, second = parsed[:6]
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except (TypeError, ValueError, OverflowError):
            continue
    return None


def _language(tag: object) -> str | None:
    """The primary language subtag, lower-case ("de-AT" -> "de"): what text analysis needs."""
    if not isinstance(tag, str):
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if _LANGUAGE.fullmatch(primary) else None
