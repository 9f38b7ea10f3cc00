"""parse_feed on real captures, odd encodings, broken and hostile bodies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.models import Story
from monitor.parse import MAX_DOCTYPES, MAX_ENTRIES, neutralise_dtd, parse_feed

from conftest import CORPUS, TESTS, needs_corpus
from data.make_hostile import billion_laughs
from servers.feeds import FeedServer, rss

DATA = TESTS / "data"
RSS = {"content-type": "application/rss+xml"}
CORPUS_FILES = sorted(CORPUS.glob("*.xml"))


def parse(
    body: bytes, headers: dict[str, str] | None = None, url: str = "https://example.com/rss"
) -> list[Story]:
    return parse_feed(body, RSS if headers is None else headers, feed_name="test", url=url)


@needs_corpus
def test_corpus_is_there() -> None:
    """Fails in CI when the corpus is missing (the tests that read it would be skipped)."""
    assert len(CORPUS_FILES) >= 39


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda path: path.name)
def test_every_corpus_feed_parses(path: Path) -> None:
    stories = parse(path.read_bytes(), url="https://publisher.example/feed")

    assert stories
    assert all(story.feed == "test" for story in stories)
    assert all(story.title or story.link or story.text for story in stories)


@pytest.mark.parametrize(
    ("name", "count"), [("techcrunch_2011-11-02_rss2.xml", 20), ("spiegel_2015-03-31_rss2.xml", 30)]
)
@needs_corpus
def test_newline_before_xml_declaration_still_yields_entries(name: str, count: int) -> None:
    body = (CORPUS / name).read_bytes()
    assert body.startswith(b"\n")
    assert len(parse(body)) == count


LATIN1_FEED = (
    "<?xml version='1.0'?>\n<rss version='2.0'><channel><title>Nachrichten</title>"
    "<item><title>Grüße aus Köln: Straßenbahn fährt</title>"
    "<link>https://example.com/1</link></item></channel></rss>"
).encode("latin-1")


@pytest.mark.parametrize(
    "content_type", ["application/rss+xml; charset=ISO-8859-1", "text/xml; charset=latin-1"]
)
def test_charset_from_http_header_decodes_umlauts(content_type: str) -> None:
    [story] = parse(LATIN1_FEED, {"Content-Type": content_type})
    assert story.title == "Grüße aus Köln: Straßenbahn fährt"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_unicode_encodings_with_bom_or_declaration(encoding: str) -> None:
    xml = (
        f"<?xml version='1.0' encoding='{encoding.removesuffix('-sig')}'?>"
        "<rss version='2.0'><channel><title>T</title><item><title>Über Zürich</title>"
        "<link>https://example.com/1</link></item></channel></rss>"
    )
    [story] = parse(xml.encode(encoding), {"content-type": "application/xml"})
    assert story.title == "Über Zürich"


def test_empty_feed_gives_no_stories() -> None:
    assert parse((DATA / "empty.xml").read_bytes()) == []


@pytest.mark.parametrize("name", ["garbage.xml", "html_page.xml", "broken.xml"])
def test_not_a_feed_raises_parse_error(name: str) -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse((DATA / name).read_bytes())


def test_html_page_served_as_html_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        parse((DATA / "html_page.xml").read_bytes(), {"content-type": "text/html"})


@pytest.mark.parametrize("body", [b"", b"   \n", b"\x00\x01\x02", b"<", b"<rss"])
def test_nothing_useful_raises_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse(body)


def test_truncated_feed_keeps_the_items_that_arrived() -> None:
    stories = parse((DATA / "broken_items.xml").read_bytes())
    assert [story.title for story in stories[:2]] == ["First", "Second"]


@needs_corpus
def test_body_that_looks_like_a_url_or_path_is_not_opened(feed_server: FeedServer) -> None:
    feed_server.set("/feed", rss([{"title": "fetched", "link": "https://example.com/1"}]))

    for body in (feed_server.url("/feed").encode(), b"/etc/passwd", str(CORPUS_FILES[0]).encode()):
        with pytest.raises(ParseError):
            parse(body)

    assert feed_server.hits("/feed") == 0


def test_entries_are_capped() -> None:
    items = [{"title": f"Story {i}", "link": f"https://example.com/{i}"} for i in range(600)]
    stories = parse(rss(items))
    assert len(stories) == MAX_ENTRIES
    assert stories[0].title == "Story 0"


def test_relative_links_resolve_against_the_feed_url() -> None:
    body = rss([{"title": "Relative", "link": "/news/1?utm_source=rss"}])
    [story] = parse(body, url="https://news.example.org/feeds/all.xml")
    assert story.link == "https://news.example.org/news/1"


def test_content_location_header_wins_as_base() -> None:
    body = rss([{"title": "Relative", "link": "story.html"}])
    headers = {**RSS, "Content-Location": "/archive/"}
    [story] = parse(body, headers, url="https://news.example.org/feed")
    assert story.link == "https://news.example.org/archive/story.html"


def test_feed_language_is_the_default_for_stories() -> None:
    [story] = parse(rss([{"title": "Hallo"}], language="de-AT"))
    assert story.language == "de"


# --- hostile input: entity expansion ------------------------------------------------------

_MEASURE = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # fail fast, never swap the box
sys.path.insert(0, sys.argv[1])
from data.make_hostile import billion_laughs
from monitor.parse import parse_feed
body = billion_laughs(encoding=sys.argv[2])
stories = parse_feed(body, {"content-type": "application/rss+xml"}, feed_name="x", url="http://x/")
# VmHWM is this program's own peak; ru_maxrss would count the pytest process it forked from.
try:
    with open("/proc/self/status") as status:
        peak = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"stories": len(stories), "text": len(stories[0].text), "peak": peak}))
"""


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-7"])
def test_entity_expansion_is_not_performed(encoding: str) -> None:
    """The measured attack: ~200 KiB in, ~2 GB of text out without the DTD neutraliser.

    Runs in a child process with a 1 GiB address-space limit, so a regression fails (with a
    MemoryError) in seconds instead of eating the machine. UTF-16 and UTF-7 (`+ADw-!DOCTYPE`)
    hide the declaration from a search over the raw bytes.
    """
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(TESTS), encoding],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout)
    assert measured["stories"] == 1
    assert measured["peak"] < 200 * 1024 * 1024
    assert measured["text"] < 200_000


def test_billion_laughs_story_has_no_expanded_text() -> None:
    [story] = parse(billion_laughs(entity_kib=1, references=100))
    assert "aaaa" not in story.text
    assert story.title == "Ha"


DTD_FEED = (
    b"<?xml version='1.0'?>\n%s\n<rss version='2.0'><channel><title>T</title>"
    b"<item><title>Fish &amp; chips &lol;</title><link>https://example.com/1</link></item>"
    b"</channel></rss>"
)


@pytest.mark.parametrize(
    "doctype",
    [
        b'<!DOCTYPE rss [\n<!ENTITY lol "LAUGH">\n]>',
        b'<!doctype rss [\n<!ENTITY lol "LAUGH">\n]>',
        b'<!DOCTYPE rss [\n<!ENTITY lol "LAUGH ]> <rss> still the value">\n]>',
        b"<!DOCTYPE rss [\n<!ENTITY lol 'LAUGH'>\n<!-- a ]> in a comment -->\n]>",
        b'<!-- <a> comment with a tag -->\n<!DOCTYPE rss [\n<!ENTITY lol "LAUGH">\n]>',
        b'<?pi <b>?>\n<!DOCTYPE rss [\n<!ENTITY lol "LAUGH">\n]>',
        b'<!DOCTYPE rss [\n<!ENTITY lol "LAUGH">\n]>\n<!DOCTYPE rss [\n<!ENTITY lol "LAUGH">\n]>',
        b'<!DOC<!DOCTYPE x>TYPE rss [\n<!ENTITY lol "LAUGH">\n]>',
    ],
    ids=[
        "plain",
        "lower-case",
        "markup-in-entity-value",
        "comment-in-subset",
        "tag-in-comment-before",
        "tag-in-pi-before",
        "two-doctypes",
        "doctype-split-by-doctype",
    ],
)
def test_neutralised_dtd_declares_nothing(doctype: bytes) -> None:
    # Entity declarations on lines of their own: the form feedparser re-declares.
    body = DTD_FEED % doctype
    cleaned = neutralise_dtd(body)

    assert b"<!doctype" not in cleaned.lower()
    [story] = parse(body)
    assert "LAUGH" not in story.title
    assert story.title.startswith("Fish & chips")  # predefined entities still work


def test_netscape_rss091_doctype_still_parses() -> None:
    body = (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
        b'<rss version="0.91"><channel><title>Old</title><link>http://example.com/</link>'
        b"<item><title>Caf&eacute; society</title><link>http://example.com/1</link></item>"
        b"</channel></rss>"
    )
    [story] = parse(body, {"content-type": "text/xml"})
    assert story.title == "Café society"


def test_doctype_in_the_body_is_left_alone() -> None:
    body = b"<rss><channel><description><![CDATA[<!DOCTYPE html>]]></description></channel></rss>"
    assert neutralise_dtd(body) == body


def test_too_many_doctypes_is_a_parse_error() -> None:
    body = b"<!DOCTYPE a>" * (MAX_DOCTYPES + 1) + b"<rss/>"
    with pytest.raises(ParseError, match="DOCTYPE"):
        neutralise_dtd(body)


def test_unterminated_doctype_swallows_the_document() -> None:
    body = b'<!DOCTYPE rss [<!ENTITY lol "LAUGH">\n<rss><channel></channel></rss>'
    assert neutralise_dtd(body) == b""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_any_bytes_give_stories_or_parse_error(body: bytes) -> None:
    try:
        stories = parse(body)
    except ParseError:
        return
    assert isinstance(stories, list)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcXYZ äöüß€&<>\"'\t\n", max_size=30), min_size=1, max_size=5))
def test_generated_titles_round_trip(titles: list[str]) -> None:
    items = [{"title": title, "link": f"https://example.com/{i}"} for i, title in enumerate(titles)]
    stories = parse(rss(items))
    assert [story.title for story in stories] == [" ".join(title.split()) for title in titles]
