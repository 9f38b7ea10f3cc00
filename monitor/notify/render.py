"""Turn an `AlertMessage` into the title and body one channel receives.

`render` is the single seam between alerts and message text: templates will plug in here.

Feed text is untrusted. A headline can carry `<script>`, Markdown, Slack mentions
(`<!channel>`, `<@here>`) or terminal escape sequences, so every field from a feed is escaped
for the body format it lands in:

- markdown: CommonMark backslash escapes. apprise converts CommonMark per service (Slack
  `mrkdwn`, HTML for email) and turns an escaped `\\<` into `&lt;`, so Slack never sees a
  `<...>` control sequence and HTML never sees a tag;
- html: `html.escape`;
- text: as is.

The title is plain text in every format: apprise escapes it for each service itself (and for
email it is the subject). In every format control characters and bidi overrides are removed and
whitespace is collapsed, so no field can start a new line, block or terminal escape. Only
http(s) links are rendered as links.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from monitor.models import AlertMessage

FORMATS = ("text", "markdown", "html")

_MAX_TITLE = 250
_MAX_FIELD = 2000

# Bidi embeddings, overrides and isolates: they reorder what a reader sees ("Trojan Source").
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_SPACE_RUN = re.compile(r"\s+")
# Everything CommonMark can read as inline markup, plus the Slack anchors "<" and ">".
_MD_INLINE = re.compile(r"([\\`*_\[\]<>~])")
# "&" only where CommonMark would read an entity (&amp; &#64;): elsewhere it is literal text.
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
# What would open a block (list, heading, quote, rule, table) at the start of a line.
_MD_BLOCK_START = re.compile(r"^(\d{0,9})([-+#.)])(?=\s|$)")
# Characters that may not stand in a link destination or would end a Slack <url|label>.
_URL_SAFE = ";/?:@&=+$,-_.!~*'()#%[]"


@dataclass(frozen=True, kw_only=True, slots=True)
class Rendered:
    """A message ready for apprise: `body_format` is an apprise NotifyFormat value."""

    title: str
    body: str
    body_format: str


def render(message: AlertMessage, fmt: str = "markdown") -> Rendered:
    """Render one alert for a channel whose format is `fmt` ("text", "markdown" or "html")."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown message format {fmt!r}: expected one of {', '.join(FORMATS)}")
    headline = _clean(message.title, _MAX_TITLE) or "(untitled)"
    title = _clean(f"[{message.watchlist}] {headline}", _MAX_TITLE)
    link = _http_link(message.link)
    before, hit, after = _split_snippet(message)
    facts = _facts(message)
    if fmt == "html":
        body = _html_body(headline, link, facts, before, hit, after)
    elif fmt == "markdown":
        body = _markdown_body(headline, link, facts, before, hit, after)
    else:
        body = _text_body(headline, link, facts, before + hit + after)
    return Rendered(title=title, body=body, body_format=fmt)


def render_test_message(channel: str, fmt: str = "text") -> Rendered:
    """The message `monitor test-notify` sends, to prove a channel's URLs work end to end."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown message format {fmt!r}: expected one of {', '.join(FORMATS)}")
    name = _clean(channel, _MAX_TITLE)
    sentence = "If you can read this, alerts for this channel will reach you here."
    if fmt == "html":
        body = f"<p>Test notification for channel <b>{html.escape(name)}</b>.</p><p>{sentence}</p>"
    elif fmt == "markdown":
        body = f"Test notification for channel **{_md(name)}**.\n\n{sentence}"
    else:
        body = f"Test notification for channel {name}.\n\n{sentence}"
    return Rendered(title=f"[media-monitor] test: {name}", body=body, body_format=fmt)


def _clean(value: str, limit: int = _MAX_FIELD) -> str:
    """One line of printable text: control characters and bidi overrides gone, spaces collapsed."""
    text = _clean_piece(value).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _clean_piece(value: str) -> str:
    """Like `_clean` for a piece of the snippet: keeps one space at either edge, no cap."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in value.translate(_BIDI))
    return _SPACE_RUN.sub(" ", text)


def _split_snippet(message: AlertMessage) -> tuple[str, str, str]:
    """The snippet as (before, first hit, after), each cleaned; no hit when offsets are off."""
    snippet = message.snippet[:_MAX_FIELD]
    span = message.highlight
    if span is None or not 0 <= span[0] < span[1] <= len(snippet):
        return _clean(snippet), "", ""
    start, end = span
    before = _clean_piece(snippet[:start]).lstrip()
    hit = _clean_piece(snippet[start:end]).strip()
    after = _clean_piece(snippet[end:]).rstrip()
    return before, hit, after


def _http_link(link: str | None) -> str | None:
    """The link when it is http(s) with a host, percent-encoded so it cannot break markup."""
    if not link:
        return None
    link = _clean(link, 4096)
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(link, safe=_URL_SAFE)


def _facts(message: AlertMessage) -> list[tuple[str, str]]:
    """Label/value lines under the headline, plain text (escaped by each format)."""
    facts = [("Source", _clean(message.source) or "?")]
    if message.published is not None:
        facts.append(("Published", _format_time(message.published)))
    facts.append(("Watchlist", _clean(message.watchlist)))
    terms = ", ".join(t for t in (_clean(term) for term in message.terms) if t)
    if terms:
        facts.append(("Terms", terms))
    return facts


def _format_time(moment: datetime) -> str:
    """UTC, minutes: naive datetimes are taken to be UTC already (the model promises UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _md(text: str, *, line_start: bool = False) -> str:
    """Escape plain text so CommonMark (and apprise's Slack conversion) shows it literally.

    Only what is markup where the text lands gets a backslash: Slack shows most escapes as
    typed, so escaping every punctuation character would litter its messages.
    """
    text = _MD_ENTITY.sub(r"\\&", _MD_INLINE.sub(r"\\\1", text))
    if not line_start:
        return text
    # "- x", "# x", "> x" and "1. x" open blocks; a backslash before the marker defuses them.
    match = _MD_BLOCK_START.match(text)
    if match and (match.group(2) in "-+#") != bool(match.group(1)):
        return f"{match.group(1)}\\{match.group(2)}{text[match.end() :]}"
    return text


def _markdown_body(
    headline: str,
    link: str | None,
    facts: list[tuple[str, str]],
    before: str,
    hit: str,
    after: str,
) -> str:
    head = f"**[{_md(headline)}](<{link}>)**" if link else f"**{_md(headline)}**"
    lines = [head, ""]
    lines += [f"{label}: {_md(value)}  " for label, value in facts]
    snippet = _md(before, line_start=True) + (f"**{_md(hit)}**" if hit else "") + _md(after)
    if snippet:
        lines += ["", f"> {snippet}"]
    if link:
        # Spelled out as well: the plain-text part of an email keeps no link targets.
        lines += ["", f"<{link}>"]
    return "\n".join(lines).replace("  \n\n", "\n\n").rstrip()


def _html_body(
    headline: str,
    link: str | None,
    facts: list[tuple[str, str]],
    before: str,
    hit: str,
    after: str,
) -> str:
    esc = html.escape
    head = f'<a href="{esc(link)}">{esc(headline)}</a>' if link else esc(headline)
    parts = [f"<p><b>{head}</b></p>"]
    parts.append("<p>" + "<br>".join(f"{label}: {esc(value)}" for label, value in facts) + "</p>")
    snippet = esc(before) + (f"<b>{esc(hit)}</b>" if hit else "") + esc(after)
    if snippet:
        parts.append(f"<blockquote>{snippet}</blockquote>")
    if link:
        parts.append(f'<p><a href="{esc(link)}">{esc(link)}</a></p>')
    return "\n".join(parts)


def _text_body(headline: str, link: str | None, facts: list[tuple[str, str]], snippet: str) -> str:
    lines = [headline]
    if link:
        lines.append(link)
    lines.append("")
    lines += [f"{label}: {value}" for label, value in facts]
    if snippet:
        lines += ["", snippet]
    return "\n".join(lines)
