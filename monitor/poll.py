"""One poll of one feed: fetch, parse, skip what was seen, match, store alerts.

A poll is idempotent: running it twice (at-least-once scheduling, a restart, a second process)
never alerts twice, because each story is stored with its alerts in one transaction keyed by the
story's identity, and the feed's cache validators are saved only after its stories are stored.

A story whose matching raises (an engine bug on some input) is logged and left unstored, and the
feed's validators are cleared, so every later poll fetches the whole feed and tries it again; the
rest of the batch is stored and alerts as usual. Storing it would mark it seen without its alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import httpx

from monitor.dedupe import identify
from monitor.errors import FeedError
from monitor.fetch import NotModified, fetch_feed
from monitor.match import Engine, snippet
from monitor.models import Feed, Match, Story, Validators
from monitor.parse import parse_feed
from monitor.store import NewAlert, Store
from monitor.store.ingest import Status, ToIngest

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class PollResult:
    """What one poll did, for logs and the `once` summary."""

    feed: str
    error: str | None = None
    not_modified: bool = False
    stories: int = 0
    new_stories: int = 0
    alerts: int = 0
    failed: int = 0
    """Stories that could not be matched: not stored, tried again by the next poll."""


class Ingested(NamedTuple):
    """What `ingest_stories` did with one poll's stories."""

    new_stories: int
    alerts: int
    failed: int
    """Stories whose matching raised: logged, not stored."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PollContext:
    """Everything a poll needs, passed in (no globals): easy to build in tests."""

    client: httpx.AsyncClient
    store: Store
    engine: Engine
    routes: Mapping[str, tuple[tuple[str, str], ...]]
    """watchlist name -> (channel, target key) pairs its alerts are delivered to."""
    max_bytes: int
    clock: Clock = utcnow


async def poll_feed(feed: Feed, ctx: PollContext) -> PollResult:
    """Poll `feed` once. Never raises for a feed problem: it is recorded and returned."""
    validators = ctx.store.feeds.validators(feed.name, feed.url)
    try:
        result = await fetch_feed(
            ctx.client, feed.url, validators=validators, max_bytes=ctx.max_bytes
        )
        if isinstance(result, NotModified):
            ctx.store.feeds.record_ok(feed.name, feed.url, None, ctx.clock())
            return PollResult(feed=feed.name, not_modified=True)
        stories = parse_feed(result.body, result.headers, feed_name=feed.name, url=result.url)
    except FeedError as exc:
        message = str(exc) or type(exc).__name__
        log.warning("feed %r failed: %s", feed.name, message)
        ctx.store.feeds.record_error(feed.name, feed.url, message, ctx.clock())
        return PollResult(feed=feed.name, error=message)
    except Exception as exc:  # a parser bug on hostile input must not stop the other feeds
        message = f"unexpected error reading the feed: {type(exc).__name__}: {exc}"
        log.exception("feed %r failed", feed.name)
        ctx.store.feeds.record_error(feed.name, feed.url, message, ctx.clock())
        return PollResult(feed=feed.name, error=message)

    new_stories, alerts, failed = ingest_stories(stories, ctx)
    # After a failure, forget the validators: with them the next poll could get 304 Not
    # Modified (None would keep the old ones) and never see the unstored story again.
    validators = Validators() if failed else result.validators
    ctx.store.feeds.record_ok(feed.name, feed.url, validators, ctx.clock())
    counts = (feed.name, len(stories), new_stories, alerts)
    if failed:
        log.warning("feed %r: %d stories, %d new, %d alerts, %d failed to match", *counts, failed)
    else:
        log.info("feed %r: %d stories, %d new, %d alerts", *counts)
    return PollResult(
        feed=feed.name,
        stories=len(stories),
        new_stories=new_stories,
        alerts=alerts,
        failed=failed,
    )


def ingest_stories(stories: Sequence[Story], ctx: PollContext) -> Ingested:
    """Match the stories that are new or changed and store them with their alerts.

    Seen stories cost one batched key lookup and no matching; the others are stored together
    (`Stories.ingest_many`: one transaction), and the store decides atomically which matches
    alert (once per watchlist and story cluster, and for a changed story only watchlists that
    did not match it before).

    A story whose matching raises is logged with its traceback and left out: one bad story
    costs neither the rest of the batch nor its own alerts (it stays new, and the next poll
    tries it again). Storing it would mark it seen with no alerts, for good.
    """
    identities = [identify(story) for story in stories]
    statuses = ctx.store.stories.status(identities)
    todo: list[tuple[Story, Status, list[Match]]] = []
    items: list[ToIngest] = []
    failed = 0
    for story, ident, status in zip(stories, identities, statuses, strict=True):
        if status is Status.SEEN:
            continue
        try:  # the snippet is cut by matching code too (`monitor.match.highlight`)
            matches = ctx.engine.match(story)
            new_alerts = [_new_alert(story, match, ctx.routes) for match in matches]
        except Exception:  # a matching bug on one story must not lose the others
            log.exception(
                "feed %r: matching story %r (%s) failed: not stored, tried again next poll",
                story.feed,
                story.title,
                story.link,
            )
            failed += 1
            continue
        todo.append((story, status, matches))
        items.append(ToIngest(story=story, ident=ident, alerts=new_alerts))
    results = ctx.store.stories.ingest_many(items, ctx.clock())
    new_stories = alerts = 0
    for (story, status, matches), result in zip(todo, results, strict=True):
        if not result:
            continue
        new_stories += status is Status.NEW
        alerts += result.alerts
        if result.joined and status is Status.NEW:
            log.info("story %r joins cluster %s (near-duplicate)", story.title, result.cluster_id)
        for match in matches:
            log.info(
                "match: watchlist %r matched %r (%s)%s",
                match.watchlist,
                story.title,
                ", ".join(match.terms),
                "" if result.alerts else " - already alerted for this story",
            )
    return Ingested(new_stories, alerts, failed)


def _new_alert(
    story: Story, match: Match, routes: Mapping[str, tuple[tuple[str, str], ...]]
) -> NewAlert:
    # The title is in the message already: show the first hit in the text when there is one.
    first = next((hit for hit in match.hits if hit.field == "text"), match.hits[0])
    text, highlight = snippet(story, first)
    return NewAlert(
        watchlist=match.watchlist,
        terms=match.terms,
        snippet=text,
        highlight=highlight,
        targets=routes.get(match.watchlist, ()),
    )
