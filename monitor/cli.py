"""The `monitor` command. Subcommands mirror what users do:

    monitor run          run the daemon
    monitor once         poll every feed once, deliver, exit (cron, tests)
    monitor check        validate the config and summarise it
    monitor test-notify  send a test message to one channel
    monitor match        try watchlists or a query on feed files, URLs or text files
    monitor deliveries   list pending/failing/dead deliveries; `retry` requeues them

Exit codes: 0 it ran (feeds that failed are reported, not fatal); 1 a test notification
failed; 2 the config is invalid; 3 the store cannot be opened.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.errors import ConfigError, MonitorError, NotifyError, StoreError
from monitor.log import register_secret, setup_logging
from monitor.settings import Settings, config_path, load_settings, secret_values

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_STORE = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"store error: {exc}", file=sys.stderr)
        return EXIT_STORE
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `monitor match … | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: $MONITOR_CONFIG, then config/monitor.toml)",
    )
    common.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override log_level"
    )
    parser = argparse.ArgumentParser(prog="monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"media-monitor {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the daemon")
    run.set_defaults(handler=_cmd_run)
    once = sub.add_parser("once", parents=[common], help="poll every feed once, deliver, exit")
    once.set_defaults(handler=_cmd_once)
    check = sub.add_parser("check", parents=[common], help="validate the config")
    check.set_defaults(handler=_cmd_check)
    test = sub.add_parser("test-notify", parents=[common], help="send a test message")
    test.add_argument("channel", metavar="CHANNEL", help="a channel name from [channels]")
    test.set_defaults(handler=_cmd_test_notify)
    from monitor.deliveries import add_parser as add_deliveries

    add_deliveries(sub, common, _cmd_deliveries)
    from monitor.trymatch import add_parser as add_match

    add_match(sub, common, _load)
    return parser


def _load(args: argparse.Namespace) -> Settings:
    """Load the config, set up logging, and teach the log filter every secret it holds."""
    path = config_path(args.config, os.environ)
    settings = load_settings(path)
    setup_logging(args.log_level or settings.log_level)
    for value in secret_values(os.environ, path):
        register_secret(value)
    return settings


def _cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import run_daemon
    from monitor.runtime import Runtime

    runtime = Runtime.build(_load(args))
    try:
        asyncio.run(run_daemon(runtime, reload=lambda: _load(args)))
    finally:
        runtime.close()
    return EXIT_OK


def _cmd_once(args: argparse.Namespace) -> int:
    from monitor.runtime import Runtime, run_once

    runtime = Runtime.build(_load(args))
    try:
        report = asyncio.run(run_once(runtime))
    finally:
        runtime.close()
    polls = report.polls
    for poll in report.failed_feeds:
        print(f"feed {poll.feed!r} failed: {poll.error}")
    for poll in polls:
        if poll.failed:
            print(f"feed {poll.feed!r}: {poll.failed} stories failed to match (see the log)")
    print(
        f"polled {len(polls)} feeds ({len(report.failed_feeds)} failed): "
        f"{sum(p.new_stories for p in polls)} new stories, {sum(p.alerts for p in polls)} alerts"
    )
    delivery = report.delivery
    line = f"deliveries: {delivery.sent} sent, {delivery.failed} failed"
    if delivery.dead:
        line += f", {delivery.dead} dead"
    if delivery.held:
        line += f", {delivery.held} held for a digest or quiet hours"
    if report.pending:
        line += f"; {report.pending} pending (retried by the next run)"
    print(line)
    return EXIT_OK


def _cmd_deliveries(args: argparse.Namespace) -> int:
    from monitor.deliveries import run

    return run(args, _load(args))


def _cmd_check(args: argparse.Namespace) -> int:
    from monitor.match import compile_engine
    from monitor.notify.send import check_url

    settings = _load(args)
    compile_engine(settings.watchlist_models(), settings.entity_models())
    problems: list[str] = []
    channel_lines = []
    for name, channel in settings.channels.items():
        masked = []
        for index, url in enumerate(channel.urls):
            try:
                masked.append(check_url(url))
            except NotifyError as exc:
                problems.append(f"channels.{name}.urls[{index}]: {exc}")
        channel_lines.append(f"  {name} ({channel.format}): {', '.join(masked)}")
    if problems:
        raise ConfigError("\n".join(problems))
    print(f"config OK: {config_path(args.config, os.environ)}")
    print(f"storage: {_safe_url(settings.storage.url)}")
    print(f"feeds: {len(settings.feeds)}")
    for feed in settings.feeds:
        print(f"  {feed.name}: {feed.url} every {feed.interval:g}s")
    print(f"watchlists: {len(settings.watchlists)}")
    for watchlist in settings.watchlists:
        routed = ", ".join(watchlist.notify) or "no channel (alerts are stored only)"
        query = " + query" if watchlist.query else ""
        print(f"  {watchlist.name}: {len(watchlist.terms)} terms{query} -> {routed}")
    print(f"channels: {len(settings.channels)}")
    for line in channel_lines:
        print(line)
    return EXIT_OK


def _cmd_test_notify(args: argparse.Namespace) -> int:
    from monitor.notify.render import render_test_message
    from monitor.notify.send import send

    settings = _load(args)
    channel = settings.channels.get(args.channel)
    if channel is None:
        known = ", ".join(sorted(settings.channels)) or "none"
        raise ConfigError(f"no channel named {args.channel!r} (channels: {known})")
    rendered = render_test_message(args.channel, channel.format)

    async def send_all() -> list[bool]:
        results = []
        for url in channel.urls:
            result = await send(url, rendered)
            status = "sent" if result.ok else f"FAILED: {result.error}"
            print(f"{args.channel}: {result.target}: {status}")
            results.append(result.ok)
        return results

    return EXIT_OK if all(asyncio.run(send_all())) else EXIT_FAILED


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"
