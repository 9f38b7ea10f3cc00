"""Turn a fetched feed body into `Story` values, safely.

feedparser does the hard part (RSS 0.9x/1.0/2.0, Atom, broken markup, encodings). This module
makes it safe to run on bytes from any server, and decides what counts as "not a feed":

* feedparser only ever sees bytes (`io.BytesIO`), never a `str`: given a string it may treat
  it as a URL or a file path and open it.
* Document type declarations are removed before feedparser runs (see `neutralise_dtd`).
* At most `MAX_ENTRIES` entries are taken from one feed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import ThingsNobodyCaresAboutButMe

from monitor.errors import ParseError
from monitor.models import Story
from monitor.normalize import story_from_entry

MAX_ENTRIES = 500
"""Entries taken per feed; real feeds carry 10-300, a hostile one must not flood the pipeline."""

MAX_DOCTYPES = 8
"""A real feed has at most one DOCTYPE; more is an attempt to wear out `neutralise_dtd`."""

_DOCTYPE = re.compile(rb"<!doctype", re.IGNORECASE)
# feedparser's own idea of where the document head ends (sanitizer.replace_doctype).
_FIRST_TAG = re.compile(rb"<\w")
# What may precede the root element: comments and processing instructions; then a tag.
_PROLOG_TOKEN = re.compile(rb"<!--|<\?|<[\w:\x80-\xff]")
# What matters for finding the end of a DOCTYPE: quotes, the internal subset, comments.
_DTD_TOKEN = re.compile(rb"[\"'\[\]>]|<!--")


def parse_feed(body: bytes, headers: Mapping[str, str], *, feed_name: str, url: str) -> list[Story]:
    """The stories in `body`, a feed fetched from `url` with response `headers`.

    A well-formed feed without items gives `[]`. A body that is not a feed at all (garbage, an
    HTML page, a feed truncated before its first item) raises `ParseError` with feedparser's
    reason, so the failure is recorded on the feed instead of looking like a quiet day. A feed
    that is broken but still yields stories gives those: a stray newline before `<?xml` must
    not cost us the news.
    """
    data, response_headers = _prepare(body, headers, url)
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=response_headers)
    except Exception as exc:  # feedparser bugs on hostile input must not crash the poll
        raise ParseError(f"feedparser failed: {type(exc).__name__}: {exc}") from None

    feed_language = parsed.get("feed", {}).get("language")
    stories = []
    for entry in (parsed.get("entries") or [])[:MAX_ENTRIES]:
        story = story_from_entry(entry, feed_name=feed_name, base_url=url, language=feed_language)
        if story is not None:
            stories.append(story)
    if stories:
        return stories
    problem = _malformed(parsed)
    if parsed.get("version") and problem is None:
        return []
    raise ParseError(f"not a feed: {problem or 'no RSS, Atom or RDF feed element found'}")


def neutralise_dtd(data: bytes) -> bytes:
    """`data` without any DOCTYPE declaration before its root element.

    Why: a DOCTYPE's internal subset can declare entities. A 159 KiB feed declaring one large
    entity and referencing it 20,000 times makes feedparser build ~2 GB of text — expat's
    amplification limit does not save us, because feedparser then re-parses with its loose
    parser and expands the "safe" entities itself. Feeds have no legitimate use for a DTD, so
    it goes entirely (the five predefined XML entities and character references still work).

    `data` must be in an ASCII-compatible encoding (feedparser's UTF-8 output). Every DOCTYPE
    that starts before the root element goes — by feedparser's definition of the head (the
    first `<` + word character) and by XML's (the first tag outside comments and processing
    instructions), whichever is later — including its internal subset. An unterminated one
    takes the rest of the document with it, which then fails to parse: that is the safe side.
    """
    for _ in range(MAX_DOCTYPES + 1):
        found = _DOCTYPE.search(data, 0, _head_end(data))
        if found is None:
            return data
        data = data[: found.start()] + data[_doctype_end(data, found.end()) :]
    raise ParseError(f"more than {MAX_DOCTYPES} DOCTYPE declarations")


def _prepare(body: bytes, headers: Mapping[str, str], url: str) -> tuple[bytes, dict[str, str]]:
    """Decode like feedparser would, to UTF-8; drop DTDs; headers that say UTF-8 from now on.

    The DTD must be found in the text feedparser will actually see: a UTF-16, UTF-7 or EBCDIC
    body hides `<!DOCTYPE` from a byte search. So feedparser's own decoder (the HTTP charset,
    the BOM, the XML declaration, its fallbacks) turns the body into UTF-8 first; the result
    is handed back to feedparser labelled as UTF-8, so it decodes it exactly once more.
    """
    response_headers = {name.lower(): value for name, value in headers.items()}
    # Relative links resolve against the URL we fetched (or what the server says it is).
    location = response_headers.get("content-location", "")
    response_headers["content-location"] = urljoin(url, location) if location else url

    scratch: dict[str, Any] = {}
    try:
        data = convert_to_utf8(dict(response_headers), body, scratch)
    except Exception:  # an unexpected codec failure: parse the raw bytes instead
        data, scratch = body, {}
    if scratch.get("encoding") and "content-type" in response_headers:
        media_type = response_headers["content-type"].split(";", 1)[0].strip()
        response_headers["content-type"] = f"{media_type}; charset=utf-8"
    elif not scratch.get("encoding"):
        data = body  # undecodable: feedparser will see (and fail on) the same raw bytes
    return neutralise_dtd(data), response_headers


def _head_end(data: bytes) -> int:
    first_tag = _FIRST_TAG.search(data)
    feedparser_end = first_tag.start() if first_tag else len(data)
    pos = 0
    while (token := _PROLOG_TOKEN.search(data, pos)) is not None:
        if token.group() == b"<!--":
            close, width = data.find(b"-->", token.end()), 3
        elif token.group() == b"<?":
            close, width = data.find(b"?>", token.end()), 2
        else:
            return max(feedparser_end, token.start())
        if close < 0:
            return len(data)
        pos = close + width
    return len(data)


def _doctype_end(data: bytes, pos: int) -> int:
    """Where the DOCTYPE whose keyword ends at `pos` ends: the first `>` outside quotes,
    comments and the `[...]` internal subset (or the end of `data`)."""
    depth = 0
    while (token := _DTD_TOKEN.search(data, pos)) is not None:
        text = token.group()
        if text in (b'"', b"'", b"<!--"):
            closing = b"-->" if text == b"<!--" else text
            close = data.find(closing, token.end())
            if close < 0:
                return len(data)
            pos = close + len(closing)
            continue
        pos = token.end()
        if text == b"[":
            depth += 1
        elif text == b"]":
            depth = max(0, depth - 1)
        elif depth == 0:
            return pos
    return len(data)


def _malformed(parsed: Any) -> str | None:
    """Why feedparser found the body malformed, or None if it did not (or does not care)."""
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if isinstance(exc, ThingsNobodyCaresAboutButMe):  # charset mismatch, odd content type
        return None
    return str(exc) or type(exc).__name__
