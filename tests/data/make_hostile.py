"""Hostile feed bodies that are too big to keep in the repository, built on demand.

Tests import the functions (`from data.make_hostile import billion_laughs`). To look at one
by hand: `python tests/data/make_hostile.py [utf-16] > /tmp/laughs.xml`.
"""

from __future__ import annotations

import sys


def billion_laughs(
    *, entity_kib: int = 100, references: int = 20_000, encoding: str = "utf-8"
) -> bytes:
    """An RSS feed whose DTD declares one `entity_kib` KiB entity used `references` times.

    The defaults are the measured case: ~160 KiB on the wire, ~2 GB once expanded. Nothing in
    it is nested, so expat's amplification limit does not stop feedparser's loose parser,
    which expands "safe" entities itself. `encoding` other than UTF-8 (UTF-16) hides the
    DOCTYPE from anyone looking for it in the raw bytes.
    """
    payload = "a" * (entity_kib * 1024)
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        "<!-- Tests: internal entity expansion. One big entity referenced many times must not\n"
        "     be expanded: parse_feed removes the DTD before feedparser sees it. -->\n"
        "<!DOCTYPE rss [\n"
        f'<!ENTITY lol "{payload}">\n'
        "]>\n"
        '<rss version="2.0"><channel><title>Laughs</title><link>https://example.com/</link>\n'
        "<item><title>Ha</title><link>https://example.com/1</link>\n"
        f"<description>{'&lol;' * references}</description></item>\n"
        "</channel></rss>\n"
    )
    return text.encode(encoding)


if __name__ == "__main__":
    sys.stdout.buffer.write(billion_laughs(encoding=sys.argv[1] if len(sys.argv) > 1 else "utf-8"))
