"""`monitor match`: try watchlists or a query on stories before they go live.

    monitor match --config FILE FEED_FILE_OR_URL...               every configured watchlist
    monitor match --config FILE --watchlist NAME FILE...          one of them
    monitor match --config FILE --query '"Musk Putin"~10' FILE... an ad-hoc query
    monitor match ... --json                                      one JSON object per story

A source is a feed URL (fetched through `monitor.fetch`, so the URL gate applies), a feed
file, or any other text file, read as one story: the first line is the title, the rest the
text. Entities come from the config, so `#Name` in `--query` means what it will in a
watchlist. Text output lists matching stories only, each hit as a snippet with the hit
between »«; `--json` prints every story, matched or not, so scripts can count both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from monitor.errors import ConfigError, ParseError
from monitor.fetch import Fetched, fetch_feed, make_client
from monitor.match import compile_engine, snippet
from monitor.models import Story, Validators, Watchlist
from monitor.parse import parse_feed
from monitor.settings import Settings

__all__ = ["add_parser", "read_stories", "run"]


def add_parser(
    sub: Any, common: argparse.ArgumentParser, load: Callable[[argparse.Namespace], Settings]
) -> None:
    """Register `match` on the CLI's subparsers; `load` reads the config as the CLI does."""
    parser = sub.add_parser(
        "match", parents=[common], help="show which watchlists match stories in feeds or files"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--watchlist", metavar="NAME", help="only this watchlist")
    which.add_argument("--query", metavar="QUERY", help="an ad-hoc query instead")
    parser.add_argument(
        "--fold-diacritics", action="store_true", help="with --query: Müller = Mueller = Muller"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per story")
    parser.add_argument("sources", nargs="+", metavar="FILE_OR_URL")
    parser.set_defaults(handler=lambda args: run(args, load(args)))


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """Match every story of every source; returns the exit code (0)."""
    out = out or sys.stdout
    watchlists = _watchlists(args, settings)
    engine = compile_engine(watchlists, settings.entity_models())
    for source in args.sources:
        for story in read_stories(source, max_bytes=settings.fetch.max_bytes):
            matches = engine.match(story)
            if args.json:
                record = {
                    "source": source,
                    "link": story.link,
                    "title": story.title,
                    "watchlists": [m.watchlist for m in matches],
                    "hits": [
                        {
                            "watchlist": m.watchlist,
                            "term": hit.term,
                            "field": hit.field,
                            "index": hit.index,
                            "start": hit.start,
                            "end": hit.end,
                        }
                        for m in matches
                        for hit in m.hits
                    ],
                }
                print(json.dumps(record, ensure_ascii=False), file=out)
            elif matches:
                print(f"{story.title.strip()}\n  {story.link or source}", file=out)
                for match in matches:
                    print(f"  {match.watchlist}: {', '.join(match.terms)}", file=out)
                    for hit in match.hits:
                        text, (start, end) = snippet(story, hit, width=160)
                        marked = f"{text[:start]}»{text[start:end]}«{text[end:]}"
                        print(f"    [{hit.field}] {marked}", file=out)
    return 0


def read_stories(source: str, *, max_bytes: int = 10 * 1024 * 1024) -> list[Story]:
    """The stories of a feed URL, a feed file, or a plain text file (one story)."""
    if source.startswith(("http://", "https://")):
        fetched = asyncio.run(_fetch(source, max_bytes))
        return parse_feed(fetched.body, fetched.headers, feed_name=source, url=fetched.url)
    path = Path(source)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        return parse_feed(body, {}, feed_name=path.name, url=path.resolve().as_uri())
    except ParseError:
        title, _, text = body.decode("utf-8", errors="replace").partition("\n")
        return [Story(feed=path.name, title=title, link=None, text=text.strip())]


async def _fetch(url: str, max_bytes: int) -> Fetched:
    async with make_client() as client:
        result = await fetch_feed(client, url, validators=Validators(), max_bytes=max_bytes)
    assert isinstance(result, Fetched)  # no validators sent, so never "not modified"
    return result


def _watchlists(args: argparse.Namespace, settings: Settings) -> list[Watchlist]:
    if args.query:
        return [Watchlist(name="query", query=args.query, fold_diacritics=args.fold_diacritics)]
    watchlists = settings.watchlist_models()
    if args.watchlist:
        chosen = [w for w in watchlists if w.name == args.watchlist]
        if not chosen:
            known = ", ".join(w.name for w in watchlists) or "none"
            raise ConfigError(f"no watchlist named {args.watchlist!r} (watchlists: {known})")
        return chosen
    return watchlists
