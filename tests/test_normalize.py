"""normalize: canonical URLs, HTML to text, titles, dates, categories — on real feed data."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.models import Story
from monitor.normalize import (
    MAX_TEXT_CHARS,
    TRACKING_PARAMS,
    canonical_url,
    clean_title,
    html_to_text,
    story_from_entry,
)
from monitor.parse import parse_feed

from conftest import CORPUS, needs_corpus
from servers.feeds import rss


def corpus(name: str) -> list[Story]:
    body = (CORPUS / name).read_bytes()
    return parse_feed(body, {}, feed_name=name, url="https://publisher.example/feed")


def one_story(**item: Any) -> Story:
    [story] = parse_feed(rss([item]), {}, feed_name="test", url="https://example.com/feed")
    return story


# --- canonical_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM:443/Path/Case?id=5#top", "https://example.com/Path/Case?id=5"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://user:pw@example.com/a", "https://example.com/a"),
        ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
        ("  https://example.com/a  ", "https://example.com/a"),
        # tracking parameters go, the rest keep their order and spelling
        ("https://x.de/a?utm_source=rss&utm_medium=feed", "https://x.de/a"),
        ("https://x.de/a?b=2&UTM_Campaign=x&a=1&fbclid=abc", "https://x.de/a?b=2&a=1"),
        ("https://x.de/a?q=a+b&path=%2Fx&&empty=", "https://x.de/a?q=a+b&path=%2Fx&empty="),
        ("https://x.de/a?wt_mc=rss.red.ho.ho.atom.beitrag.beitrag", "https://x.de/a"),
        (
            "https://www.dailymail.co.uk/news/article-1/x.html?ns_mchannel=rss&ito=1490&ns_campaign=1490",
            "https://www.dailymail.co.uk/news/article-1/x.html",
        ),
        ("https://x.de/a?ref=rss&ref_src=twsrc&id=3", "https://x.de/a?id=3"),
        # a hash-bang is a route in a single-page site, not an anchor
        ("https://x.de/#!/story/42", "https://x.de/#!/story/42"),
        ("https://x.de/story#comments", "https://x.de/story"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_tracking_list_covers_the_usual_suspects() -> None:
    usual = {
        "fbclid", "gclid", "mc_cid", "mc_eid", "wt_mc", "wt_zmc", "ref", "ref_src", "cmpid",
        "ocid", "at_medium", "at_campaign", "ns_mchannel", "ns_source", "igshid", "yclid",
        "dclid",
    }  # fmt: skip
    assert usual <= TRACKING_PARAMS
    assert all(name == name.lower() for name in TRACKING_PARAMS)


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "mailto:news@example.com", "/relative/path", "ftp://x.de/", "http://"],
)
def test_canonical_url_refuses_non_http(url: str) -> None:
    with pytest.raises(ValueError):
        canonical_url(url)


@given(
    st.builds(
        "https://{}/{}?{}#{}".format,
        st.sampled_from(["Example.com", "x.DE:443", "a.b:8080"]),
        st.text("abc/%-", max_size=10),
        st.lists(st.sampled_from(["a=1", "utm_x=2", "ref=3", "b", "", "c=%20"])).map("&".join),
        st.text("abc!", max_size=5),
    )
)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


# --- html_to_text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>One</p><p>Two</p>", "One\nTwo"),
        ("Line<br>break<br/>here", "Line\nbreak\nhere"),
        ("a <b>bold</b> <i>move</i>", "a bold move"),
        ("<script>var x = '<p>no</p>';</script>Text<style>p {color: red}</style>", "Text"),
        ("Fish &amp; chips &eacute; &#8364; &euro;", "Fish & chips é € €"),
        ("  lots \n\t of   \u00a0 space  ", "lots of space"),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
        ('<img src="x.jpg" alt="Foto: dpa">Caption', "Caption"),
        ("Mus\u00adk and Tes\u200bla\u200c\u200d\u2060\ufeff", "Musk and Tesla"),
        ("Mu\u0308nchen", "München"),
        ("", ""),
        ("x < y and a&b", "x < y and a&b"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("Erster Absatz. -- Anzeige -- Zweiter Absatz.", "Erster Absatz. Zweiter Absatz."),
        ("<p>Vorher</p><p>– Anzeige –</p><p>Nachher</p>", "Vorher\nNachher"),
        ("<p>Vorher — Anzeige — Nachher</p>", "Vorher Nachher"),
        ("Text [Anzeige] mehr Text", "Text mehr Text"),
        ("<p>Text</p><div>Anzeige</div><p>mehr</p>", "Text\nmehr"),
        ("<p>Text</p><div>ANZEIGE</div><div> Werbung </div><p>Advertisement</p>", "Text"),
        ("<p>Story continues below advertisement</p><p>Rest</p>", "Rest"),
        # the word in a sentence is news, not furniture
        ("Sie will eine Anzeige erstatten.", "Sie will eine Anzeige erstatten."),
        ("<p>Anzeige gegen Unbekannt</p>", "Anzeige gegen Unbekannt"),
        ("<p>Werbung für Tabak wird verboten</p>", "Werbung für Tabak wird verboten"),
    ],
)
def test_ad_markers_are_removed_and_only_them(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_text_is_capped() -> None:
    html = "<p>" + "word " * 100_000 + "</p>" + "<p>more</p>" * 50_000
    assert len(html_to_text(html)) <= MAX_TEXT_CHARS


@needs_corpus
def test_anzeige_in_ntv_text_survives() -> None:
    texts = [story.text for story in corpus("ntv_2024-12-21_rss2.xml")]
    assert any("erstattet Blake Lively jetzt Anzeige gegen" in text for text in texts)


@needs_corpus
def test_corpus_text_has_no_markup_or_invisibles() -> None:
    for name in (
        "latimes_2020-05-31_rss2.xml",
        "heise_2024-10-24_atom.xml",
        "tagesschau_2024-12-21_rss2.xml",
    ):
        for story in corpus(name):
            assert "<p>" not in story.text and "&amp;" not in story.text, story.title
            assert not any(char in story.text for char in "\u200b\u00ad\ufeff")
            assert unicodedata.is_normalized("NFC", story.text)


# --- titles -------------------------------------------------------------------------------


@needs_corpus
def test_heise_title_loses_its_zero_width_space() -> None:
    titles = [story.title for story in corpus("heise_2024-10-24_atom.xml")]
    assert "Tesla: Musks Visionen beflügeln Aktienkurs" in titles
    assert not any("\u200b" in title for title in titles)


@needs_corpus
def test_daily_mail_padded_titles_are_collapsed() -> None:
    titles = [story.title for story in corpus("dailymail_2020-05-31_rss2.xml")]
    assert (
        "Protests turn violent in Chicago as George Floyd demonstrations erupt across the nation"
        in titles
    )
    assert all(title == " ".join(title.split()) and title for title in titles)


@pytest.mark.parametrize(
    ("title", "is_html", "expected"),
    [
        ("  Spaced\n\tout  ", False, "Spaced out"),
        ("Why <canvas> matters", False, "Why <canvas> matters"),
        ("<b>Bold</b> news", True, "Bold news"),
        ("Fish &amp; chips", True, "Fish & chips"),
        ("Über\u200b", False, "Über"),
    ],
)
def test_clean_title(title: str, is_html: bool, expected: str) -> None:
    assert clean_title(title, is_html=is_html) == expected


def test_double_escaped_title_is_decoded() -> None:
    # The publisher escaped "&" twice; feedparser undoes one level, we undo the other.
    assert one_story(title="AT&amp;T buys Time Warner").title == "AT&T buys Time Warner"


# --- dates, categories, links, guid, language ---------------------------------------------


def test_published_is_utc() -> None:
    story = one_story(title="t", pubDate="Sat, 21 Dec 2024 19:47:00 +0100")
    assert story.published == datetime(2024, 12, 21, 18, 47, tzinfo=UTC)
    assert story.published is not None and story.published.utcoffset() is not None


@needs_corpus
def test_corpus_dates_are_utc() -> None:
    for story in corpus("tagesschau_2024-12-21_rss2.xml"):
        assert story.published is not None and story.published.tzinfo is UTC


@needs_corpus
def test_missing_dates_stay_missing() -> None:
    stories = corpus("japantimes_2017-01-08_rss2.xml")
    assert stories and all(story.published is None for story in stories)


def test_updated_is_used_when_published_is_missing() -> None:
    entry = {"title": "t", "updated_parsed": (2024, 10, 24, 20, 54, 0, 3, 298, 0)}
    story = story_from_entry(entry, feed_name="f", base_url="https://x.de/")
    assert story is not None and story.published == datetime(2024, 10, 24, 20, 54, tzinfo=UTC)


def test_categories_are_cleaned_and_deduplicated() -> None:
    story = one_story(title="t", categories=["Politik", " Politik ", "politik", "Elon\nMusk", ""])
    assert story.categories == ("Politik", "Elon Musk")


@needs_corpus
def test_corpus_categories() -> None:
    [first, *_] = corpus("geo_2024-12-21_rss2.xml")
    assert first.categories == ("Geschichte", "Wikinger", "Paris")
    guardian = corpus("guardian-us_2018-01-31_rss2.xml")
    assert any("Donald Trump" in story.categories for story in guardian)


def test_text_prefers_the_fuller_content_over_the_summary() -> None:
    story = one_story(
        title="t", description="Teaser.", content="<p>Teaser.</p><p>The whole story.</p>"
    )
    assert story.text == "Teaser.\nThe whole story."


def test_summary_is_used_when_content_is_thinner() -> None:
    story = one_story(title="t", description="A real summary.", content='<img src="x.jpg">')
    assert story.text == "A real summary."


def test_link_guid_and_language() -> None:
    entry = {
        "title": "t",
        "link": "../news/1?utm_source=rss",
        "id": "  urn:uuid:1234  ",
        "title_detail": {"type": "text/plain", "language": "de-DE"},
    }
    story = story_from_entry(entry, feed_name="f", base_url="https://x.de/feeds/rss.xml")
    assert story is not None
    assert story.link == "https://x.de/news/1"
    assert story.guid == "urn:uuid:1234"
    assert story.language == "de"


@pytest.mark.parametrize("link", ["javascript:alert(1)", "mailto:a@b.de", "http://x.de:notaport/"])
def test_unusable_links_become_none(link: str) -> None:
    story = story_from_entry({"title": "t", "link": link}, feed_name="f", base_url="https://x.de/")
    assert story is not None and story.link is None


def test_alternate_link_is_used_without_link() -> None:
    entry = {
        "title": "t",
        "links": [
            {"rel": "enclosure", "href": "https://x.de/a.mp3"},
            {"rel": "alternate", "href": "/a"},
        ],
    }
    story = story_from_entry(entry, feed_name="f", base_url="https://x.de/")
    assert story is not None and story.link == "https://x.de/a"


@pytest.mark.parametrize(
    "entry",
    [
        {},
        {"title": "  \u200b "},
        {"id": "only-a-guid"},
        {"summary": "<p> </p>", "link": "javascript:x"},
    ],
)
def test_entry_without_title_link_or_text_is_skipped(entry: dict[str, Any]) -> None:
    assert story_from_entry(entry, feed_name="f", base_url="https://x.de/") is None


@pytest.mark.parametrize(
    ("tag", "expected"), [("de-DE", "de"), ("EN_us", "en"), ("x", None), ("", None)]
)
def test_language(tag: str, expected: str | None) -> None:
    entry = {"title": "t", "title_detail": {"language": tag}}
    story = story_from_entry(entry, feed_name="f", base_url="https://x.de/")
    assert story is not None and story.language == expected
