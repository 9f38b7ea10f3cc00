"""URLs: the link a reader clicks, and the identity URL dedupe compares.

Two forms, on purpose:

* `canonical_url` is the **display link** stored on a `Story`: tracking parameters and the
  fragment removed, known redirectors unwrapped, but the host, path and the order and spelling
  of the remaining parameters kept, so the link still works when clicked.
* `identity_url` is the **identity** used only as a dedupe key: the display link further folded
  so that every spelling of one article is one string — `http`/`https` alike, `www.`/`m.`/
  `amp.` host variants, AMP paths and parameters, a trailing slash, parameter order.

Everything here is a pure function. The rules are ours rather than a library's: `courlan` and
`url-normalize` either drop all parameters (which merges articles selected by `?id=`) or know
nothing about AMP, redirectors and news-site tracking tags, and they would add dependencies
for a few dozen lines.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import SplitResult, parse_qsl, unquote, unquote_plus, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        # Google Analytics / Ads, Microsoft, Yandex, DoubleClick
        "gclid", "gclsrc", "dclid", "msclkid", "yclid", "_ga", "_gl",
        # Facebook, Instagram, Twitter/X
        "fbclid", "igshid", "twclid",
        # Mailchimp, HubSpot, Marketo
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok",
        # Webtrekk / Mapp (German publishers), AT Internet, comScore
        "wt_mc", "wt_zmc", "wt.mc", "at_medium", "at_campaign", "at_campaign_type",
        "at_creation", "at_format", "at_link", "at_send_date", "ns_mchannel", "ns_source",
        "ns_campaign", "ns_linkname", "ns_fee",
        # Referral / campaign tags of news sites (Twitter, CNN, MSN, AT Internet, NYT,
        # Daily Mail's ito=1490 on every feed link)
        "ref", "ref_src", "cmpid", "ocid", "xtor", "smid", "emc", "ito",
    }
)  # fmt: skip
"""Query parameters that identify how a reader arrived, not what they read (lower-case).

Every parameter starting with `utm_` goes too. To extend the list, add a name here (and a
line to the test that pins it). Only names that mean tracking everywhere belong here: dropping
one that selects the article (`id`, `cid`, `mod` on some CMSs) would merge two stories and lose
an alert, which is worse than a duplicate.
"""

AMP_PARAMS = frozenset({"amp", "outputtype", "output"})
"""Parameters that select the AMP rendering (`?amp=1`, `?outputType=amp`, `?output=amp`):
dropped from the identity URL when their value is empty, `1`, `true` or `amp`."""

HOST_VARIANTS = ("www.", "m.", "mobile.", "amp.")
"""Host prefixes folded in the identity URL: `www.x.de`, `m.x.de`, `amp.x.de` are `x.de`."""

FEEDSPORTAL_CODES = {
    "0A": "0", "0B": ".", "0C": "/", "0D": "?", "0E": "-", "0F": "=", "0G": "&",
    "0H": ",", "0I": "_", "0J": "%", "0K": "+", "0L": "http://", "0M": "https://",
    "0N": ".com", "0O": ".co.uk", "0P": ";", "0Q": "|", "0R": ":", "0S": "www.",
    "0T": "#", "0U": "$", "0V": "~", "0W": "!", "0X": "(", "0Y": ")", "0Z": "Z",
}  # fmt: skip
"""feedsportal.com (dead since 2016, but in archives and old feeds) spelled the target URL
into its own path with these two-character escapes: `0L0Sgolem0Bde` is `http://www.golem.de`."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_FEEDSPORTAL = re.compile(r"/l/([0-9A-Za-z]+)(?:/[^/]*)?$")
_FEEDSPORTAL_CODE = re.compile(r"0[A-Z]")
_EMBEDDED_URL = re.compile(rb"https?://[\x21-\x7e]+")
_AMP_SEGMENT = re.compile(r"/amp(?=/|$)")
_AMP_SUFFIX = re.compile(r"\.amp(?=\.html?$)|/amp\.html?$")


def canonical_url(url: str) -> str:
    """The display link: one spelling per article that still works when clicked.

    Lower-case scheme and host, no default port, no credentials, an empty path becomes `/`,
    tracking parameters (`TRACKING_PARAMS`, `utm_*`) dropped, known redirectors (feedsportal,
    Google News, `google.com/url`) replaced by their target when the target is in the URL.
    The remaining parameters keep their order and exact spelling: some servers care. The
    fragment goes (it never selects another article), except a `#!` hash-bang, which is a
    route in single-page sites.

    Raises ValueError for anything but an absolute http(s) URL.
    """
    scheme, host, port, parts = _split(url)
    target = _unwrap(host, parts.path, parts.query)
    if target is not None and target != url:
        try:
            return canonical_url(target)
        except ValueError:
            pass  # an unusable target: keep the redirector link, it may still work
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = "&".join(param for param in parts.query.split("&") if param and not _is_tracking(param))
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, parts.path or "/", query, fragment))


def identity_url(url: str) -> str:
    """The form two links are compared in: `canonical_url`, then every harmless variant folded.

    `http` is `https`; `HOST_VARIANTS` prefixes go; AMP renderings (`/amp/` segments, a
    trailing `/amp`, `.amp.html`, `AMP_PARAMS`) are the article; a trailing slash goes;
    parameters are sorted; a `#!` route is kept. Raises ValueError like `canonical_url`.
    """
    display = canonical_url(url)
    _scheme, host, port, parts = _split(display)
    for prefix in HOST_VARIANTS:
        if host.startswith(prefix) and "." in host[len(prefix) :]:
            host = host[len(prefix) :]
            break
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port not in _DEFAULT_PORTS.values():
        netloc = f"{netloc}:{port}"
    path = _AMP_SUFFIX.sub(lambda m: "" if m.group(0).startswith(".") else ".html", parts.path)
    path = _AMP_SEGMENT.sub("", path).rstrip("/") or "/"
    params = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_amp(name, value)
    )
    query = "&".join(f"{name}={value}" if value else name for name, value in params)
    return urlunsplit(("https", netloc, path, query, parts.fragment))


def _split(url: str) -> tuple[str, str, int | None, SplitResult]:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return scheme, host, parts.port, parts  # .port raises ValueError for a bad port


def _unwrap(host: str, path: str, query: str) -> str | None:
    """The target of a known redirector link, when it is spelled in the link; else None."""
    if host.endswith("feedsportal.com"):
        found = _FEEDSPORTAL.search(path)
        if found:
            return _decode_feedsportal(found.group(1))
    if host == "news.google.com" and path.startswith(("/rss/articles/", "/articles/")):
        return _decode_google_news(path.rsplit("/", 1)[-1])
    if host in {"news.google.com", "www.google.com", "google.com"} and path == "/url":
        params = dict(parse_qsl(query))
        return params.get("url") or params.get("q")
    return None


def _decode_feedsportal(code: str) -> str | None:
    decoded = _FEEDSPORTAL_CODE.sub(lambda m: FEEDSPORTAL_CODES.get(m.group(0), "\x00"), code)
    if "\x00" in decoded or not decoded.startswith(("http://", "https://")):
        return None
    return decoded


def _decode_google_news(article_id: str) -> str | None:
    """Older Google News ids (`CBMi…`) are base64 of a small protobuf holding the URL.

    Newer ids (since 2024) hold only an opaque token: the target cannot be recovered without
    asking Google, so those links stay as they are (their own identity is still stable).
    """
    try:
        raw = base64.urlsafe_b64decode(article_id + "=" * (-len(article_id) % 4))
    except (binascii.Error, ValueError):
        return None
    found = _EMBEDDED_URL.search(raw)
    return unquote(found.group(0).decode("ascii")) if found else None


def _is_tracking(param: str) -> bool:
    name = unquote_plus(param.split("=", 1)[0]).strip().lower()
    return name in TRACKING_PARAMS or name.startswith("utm_")


def _is_amp(name: str, value: str) -> bool:
    return name.lower() in AMP_PARAMS and value.lower() in {"", "1", "true", "amp"}
