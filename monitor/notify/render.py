"""Turn alerts into the title and body one channel receives, through Jinja2 templates.

`render` is the single seam between alerts and message text. It takes one `AlertMessage`, or a
`Batch` of them (a digest, the end of quiet hours, a burst), and a channel's format; a channel
may bring its own templates (`Templates`), else the package's `templates/*.j2` are used.

Feed text is untrusted. A headline can carry `<script>`, Markdown, Slack mentions
(`<!channel>`, `<@here>`) or terminal escape sequences, so the template environment escapes
every `{{ value }}` for the body format it lands in, in our templates and in users' alike:

- markdown: CommonMark backslash escapes. apprise converts CommonMark per service (Slack
  `mrkdwn`, HTML for email) and turns an escaped `\\<` into `&lt;`, so Slack never sees a
  `<...>` control sequence and HTML never sees a tag. `|line_start` also defuses block markers
  ("- ", "# ", "1. ") for a value that starts a line;
- html: Jinja's autoescape;
- text: as is, control characters removed.

Every field is cleaned before it reaches a template: control characters and bidi overrides
removed, whitespace collapsed, so no field can start a new line, block or terminal escape. Only
http(s) links are given to templates as links. The title is plain text in every format and not
templated: apprise escapes it for each service itself (for email it is the subject).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import PackageLoader, StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from monitor.models import AlertMessage

FORMATS = ("text", "markdown", "html")
KINDS = ("alert", "batch")

_MAX_TITLE = 250
_MAX_FIELD = 2000

# Bidi embeddings, overrides and isolates: they reorder what a reader sees ("Trojan Source").
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_SPACE_RUN = re.compile(r"\s+")
_BLANK_RUN = re.compile(r"\n{3,}")
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


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """Several alerts for one target sent as one message, listed by watchlist."""

    heading: str
    """What the message is: "Daily digest", "Held during quiet hours", "12 new alerts"."""
    messages: tuple[AlertMessage, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Templates:
    """A channel's own template sources (Jinja2 text); None keeps the default."""

    alert: str | None = None
    batch: str | None = None


DEFAULT_TEMPLATES = Templates()


def render(
    item: AlertMessage | Batch, fmt: str = "markdown", templates: Templates = DEFAULT_TEMPLATES
) -> Rendered:
    """Render one alert, or a batch of them, for a channel whose format is `fmt`."""
    _check_format(fmt)
    if isinstance(item, Batch):
        template = _template(fmt, "batch", templates.batch)
        context = _batch_context(item, fmt)
        title = _batch_title(item)
    else:
        template = _template(fmt, "alert", templates.alert)
        context = _alert_context(item, fmt)
        title = _clean(f"[{item.watchlist}] {context['headline']}", _MAX_TITLE)
    body = template.render(context)
    if fmt == "markdown":
        body = body.replace("  \n\n", "\n\n")  # a hard break before a blank line is noise
    body = _BLANK_RUN.sub("\n\n", body).strip("\n").rstrip()
    return Rendered(title=title, body=body, body_format=fmt)


def check_template(source: str, fmt: str, kind: str) -> None:
    """Compile a user's template and render a sample through it; raise ValueError if it fails.

    `StrictUndefined` makes a misspelt variable an error here, at config load, rather than a
    dead delivery later.
    """
    _check_format(fmt)
    sample = AlertMessage(
        alert_id=0,
        watchlist="sample",
        title="Sample",
        link="https://example.org/",
        source="feed",
        terms=("term",),
        snippet="a term here",
        highlight=(2, 6),
        published=datetime(2026, 1, 1, tzinfo=UTC),
        also_in=("other",),
    )
    item: AlertMessage | Batch = sample
    if kind == "batch":
        item = Batch(heading="Digest", messages=(sample,))
    try:
        render(item, fmt, Templates(**{kind: source}))
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ValueError(f"template error{where}: {exc.message or type(exc).__name__}") from None


def render_test_message(channel: str, fmt: str = "text") -> Rendered:
    """The message `monitor test-notify` sends, to prove a channel's URLs work end to end."""
    _check_format(fmt)
    name = _clean(channel, _MAX_TITLE)
    sentence = "If you can read this, alerts for this channel will reach you here."
    if fmt == "html":
        body = f"<p>Test notification for channel <b>{html.escape(name)}</b>.</p><p>{sentence}</p>"
    elif fmt == "markdown":
        body = f"Test notification for channel **{_md(name)}**.\n\n{sentence}"
    else:
        body = f"Test notification for channel {name}.\n\n{sentence}"
    return Rendered(title=f"[media-monitor] test: {name}", body=body, body_format=fmt)


# -- template environments ---------------------------------------------------------------------


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown message format {fmt!r}: expected one of {', '.join(FORMATS)}")


def _finalizer(escape: Callable[[str], str]) -> Callable[[Any], Any]:
    """Escape every printed value that is not already markup we built (`Markup`)."""

    def finalize(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, Markup):
            return value
        return escape(_clean_piece(str(value)))

    return finalize


@cache
def _environment(fmt: str) -> SandboxedEnvironment:
    """One sandboxed environment per format: user templates get the same escaping as ours."""
    options: dict[str, Any] = {
        "loader": PackageLoader("monitor.notify", "templates"),
        "trim_blocks": True,
        "lstrip_blocks": True,
        "undefined": StrictUndefined,
        "autoescape": fmt == "html",
    }
    if fmt == "markdown":
        options["finalize"] = _finalizer(_md)
    elif fmt == "text":
        options["finalize"] = _finalizer(lambda text: text)
    env = SandboxedEnvironment(**options)
    env.filters["line_start"] = (
        (lambda text: Markup(_md(_clean_piece(str(text)), line_start=True)))
        if fmt == "markdown"
        else (lambda text: text)
    )
    return env


@lru_cache(maxsize=256)
def _template(fmt: str, kind: str, source: str | None) -> Template:
    env = _environment(fmt)
    if source is None:
        return env.get_template(f"{kind}.{fmt}.j2")
    return env.from_string(source)


def _alert_context(message: AlertMessage, fmt: str) -> dict[str, Any]:
    headline = _clean(message.title, _MAX_TITLE) or "(untitled)"
    link = _http_link(message.link)
    before, hit, after = _split_snippet(message)
    return {
        "headline": headline,
        # Ours, percent-encoded: printed as is in markdown and text; html escapes its "&".
        "link": None if link is None else (link if fmt == "html" else Markup(link)),
        "source": _clean(message.source) or "?",
        "published": None if message.published is None else _format_time(message.published),
        "watchlist": _clean(message.watchlist),
        "terms": [t for t in (_clean(term) for term in message.terms) if t],
        "also_in": [o for o in (_clean(outlet) for outlet in message.also_in) if o],
        "snippet": before + hit + after,
        "before": before,
        "hit": hit,
        "after": after,
    }


def _batch_context(batch: Batch, fmt: str) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for message in batch.messages:
        context = _alert_context(message, fmt)
        groups.setdefault(context["watchlist"], []).append(context)
    return {
        "heading": _clean(batch.heading),
        "count": len(batch.messages),
        "groups": [{"watchlist": name, "alerts": alerts} for name, alerts in groups.items()],
    }


def _batch_title(batch: Batch) -> str:
    count = len(batch.messages)
    watchlists = ", ".join(dict.fromkeys(_clean(m.watchlist) for m in batch.messages))
    noun = "alert" if count == 1 else "alerts"
    return _clean(f"{batch.heading}: {count} {noun} [{watchlists}]", _MAX_TITLE)


# -- cleaning and escaping -----------------------------------------------------------------------


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


__all__ = ["Batch", "Rendered", "Templates", "check_template", "render", "render_test_message"]
