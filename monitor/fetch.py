"""Download one feed: conditional GET, redirects through the URL gate, a body-size cap.

This is the only stage that talks HTTP. It returns values (`Fetched`, `NotModified`) and raises
only our own errors (`FetchError` and its subclasses): an httpx exception never escapes, so the
poll loop can record any failure on the feed with one `except FeedError`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from monitor.errors import BlockedURLError, FetchError, HTTPStatusError, ResponseTooLargeError
from monitor.models import Validators

USER_AGENT = "media-monitor/0.1 (+https://github.com/media-monitor)"
MAX_REDIRECTS = 5
ALLOWED_SCHEMES = frozenset({"http", "https"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Fetched:
    """A feed body as downloaded (content-encoding already undone)."""

    url: str
    """The final URL after redirects: relative links in the feed resolve against it."""
    body: bytes
    headers: dict[str, str]
    """Response headers, names lower-cased (repeated headers joined with ", ")."""
    validators: Validators
    """What to send next time for a conditional GET (empty when the server gave none)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class NotModified:
    """The server answered 304: nothing new since the validators we sent."""

    url: str
    validators: Validators
    """The validators to keep: the 304's own if it sent new ones, else the ones we sent."""


def make_client(*, timeout: float = 20.0, user_agent: str = USER_AGENT) -> httpx.AsyncClient:
    """The one HTTP client shared by all polls (connection pooling, one set of limits).

    Redirects are off here because `fetch_feed` follows them itself, putting every hop
    through `check_url`. `timeout` bounds each phase (connect, each read, ...); `fetch_feed`
    adds a deadline for the whole download on top.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        headers={"User-Agent": user_agent, "Accept": _ACCEPT},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


def check_url(url: str) -> None:
    """THE gate: raise `BlockedURLError` unless `url` may be fetched at all.

    Every request `fetch_feed` makes passes here first, the configured URL and every redirect
    target alike, so there is exactly one place that decides what the daemon may touch. Without
    it a feed (or a server it redirects to) could point us at `file://`, `ftp://` or some
    scheme a future transport happens to understand.

    The rules are deliberately few:

    * only `http` and `https`;
    * there must be a host;
    * no credentials in the URL (`https://user:pass@host/`): URLs end up in logs, in the store
      and in error messages, and a password must never travel there;
    * no whitespace or control characters, which browsers and servers disagree about.

    Loopback and private addresses are allowed: feed URLs come from the operator's own config
    (and the tests serve feeds on 127.0.0.1). The message never repeats credentials.
    """
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise BlockedURLError(f"URL contains whitespace or control characters: {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port  # validates the port number
    except ValueError as exc:
        raise BlockedURLError(f"not a valid URL ({exc}): {redact(url)}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        what = f"scheme {scheme!r}" if scheme else "no scheme"
        raise BlockedURLError(f"only http and https URLs may be fetched, not {what}: {redact(url)}")
    if not parts.hostname:
        raise BlockedURLError(f"URL has no host: {redact(url)}")
    if "@" in parts.netloc:
        raise BlockedURLError(f"credentials in URLs are not allowed: {redact(url)}")
    if port == 0:
        raise BlockedURLError(f"port 0 is not a valid port: {redact(url)}")


def redact(url: str) -> str:
    """`url` with any user:password replaced by `***`, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    validators: Validators,
    max_bytes: int = 10 * 1024 * 1024,
    deadline: float | None = None,
) -> Fetched | NotModified:
    """Conditionally GET `url`, following at most `MAX_REDIRECTS` redirects through the gate.

    `deadline` bounds the whole download in seconds (default: three times the client's read
    timeout): the client's timeouts are per phase, so a server trickling one byte per read
    would otherwise hold a connection forever. Raises `FetchError` (or a subclass) only.
    """
    total = deadline if deadline is not None else 3 * (client.timeout.read or 20.0)
    try:
        async with asyncio.timeout(total):
            return await _fetch(client, url, validators=validators, max_bytes=max_bytes)
    except TimeoutError:
        raise FetchError(f"timed out after {total:g}s fetching {redact(url)}") from None
    except httpx.TimeoutException as exc:
        seconds = _phase_timeout(client, exc)
        raise FetchError(f"timed out after {seconds:g}s fetching {redact(url)}") from None
    except httpx.InvalidURL as exc:
        raise BlockedURLError(f"not a valid URL ({exc}): {redact(url)}") from None
    except (httpx.HTTPError, httpx.StreamError) as exc:
        reason = str(exc) or type(exc).__name__
        raise FetchError(f"cannot fetch {redact(url)}: {reason}") from None


async def _fetch(
    client: httpx.AsyncClient, url: str, *, validators: Validators, max_bytes: int
) -> Fetched | NotModified:
    headers: dict[str, str] = {}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified

    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(current)
        request = client.build_request("GET", current, headers=headers)
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            location = response.headers.get("location")
            if response.status_code in _REDIRECT_STATUSES and location:
                current = str(response.url.join(location))
                continue
            if response.status_code == 304:
                return NotModified(url=current, validators=_merge(validators, response))
            if not 200 <= response.status_code < 300:
                raise HTTPStatusError(
                    f"HTTP {response.status_code} {response.reason_phrase} from {redact(current)}",
                    status_code=response.status_code,
                )
            body = await _read_capped(response, max_bytes, current)
            return Fetched(
                url=current,
                body=body,
                headers={name.lower(): value for name, value in response.headers.items()},
                validators=_validators(response),
            )
        finally:
            await response.aclose()
    raise FetchError(f"more than {MAX_REDIRECTS} redirects fetching {redact(url)}")


async def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    """The body, refusing to hold more than `max_bytes` (decoded) bytes in memory.

    Content-Length is checked first so an honest large response is refused without reading it;
    the running count catches chunked or lying responses, and compressed ones (the cap applies
    to what we would keep, after gzip).
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLargeError(
            f"{redact(url)} declares {int(declared)} bytes, more than the cap of {max_bytes}"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLargeError(
                f"{redact(url)} sent more than the cap of {max_bytes} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _validators(response: httpx.Response) -> Validators:
    return Validators(
        etag=response.headers.get("etag") or None,
        last_modified=response.headers.get("last-modified") or None,
    )


def _merge(sent: Validators, response: httpx.Response) -> Validators:
    fresh = _validators(response)
    return Validators(
        etag=fresh.etag or sent.etag, last_modified=fresh.last_modified or sent.last_modified
    )


def _phase_timeout(client: httpx.AsyncClient, exc: httpx.TimeoutException) -> float:
    """The configured timeout of the phase that ran out, for a message that says what happened."""
    timeout = client.timeout
    phase = {
        httpx.ConnectTimeout: timeout.connect,
        httpx.ReadTimeout: timeout.read,
        httpx.WriteTimeout: timeout.write,
        httpx.PoolTimeout: timeout.pool,
    }.get(type(exc))
    return phase if phase is not None else (timeout.read or 0.0)
