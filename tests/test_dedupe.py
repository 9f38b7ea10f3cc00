"""dedupe and urls: identity URLs, redirectors, keys and near-duplicate rules — pure functions."""

from __future__ import annotations

import base64

import pytest

from monitor.dedupe import fingerprint, identify, same_story
from monitor.dedupe.fingerprint import jaccard, minhash, similarity
from monitor.models import Story
from monitor.urls import TRACKING_PARAMS, canonical_url, identity_url


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://www.spiegel.de/a.html", "http://spiegel.de/a.html"),
        ("https://m.bbc.co.uk/news/world-1", "https://www.bbc.co.uk/news/world-1/"),
        ("https://amp.theguardian.com/x", "https://www.theguardian.com/x"),
        ("https://example.org:443/a?b=2&a=1#top", "https://example.org/a?a=1&b=2"),
        ("https://example.org/news/x/amp", "https://example.org/news/x"),
        ("https://example.org/amp/news/x", "https://example.org/news/x"),
        ("https://example.org/news/x.amp.html", "https://example.org/news/x.html"),
        ("https://example.org/x?outputType=amp", "https://example.org/x"),
        ("https://example.org/x?amp=1&id=3", "https://example.org/x?id=3"),
        ("https://EXAMPLE.org/x?utm_source=rss&fbclid=1&wt_mc=2&ref=tw", "https://example.org/x"),
    ],
)
def test_identity_url_folds_variants_of_one_article(a: str, b: str) -> None:
    assert identity_url(a) == identity_url(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.org/x?id=1", "https://example.org/x?id=2"),
        ("https://example.org/a", "https://example.org/b"),
        ("https://example.org/x", "https://other.org/x"),
        ("https://example.org:8080/x", "https://example.org/x"),
        ("https://example.org/x?amp=page2", "https://example.org/x"),
    ],
)
def test_identity_url_keeps_different_articles_apart(a: str, b: str) -> None:
    assert identity_url(a) != identity_url(b)


def test_display_link_keeps_host_and_parameter_order() -> None:
    url = "https://www.example.org/a?z=1&a=2&utm_medium=rss"
    assert canonical_url(url) == "https://www.example.org/a?z=1&a=2"
    assert {"utm_source", "fbclid", "gclid", "wt_mc", "mc_cid", "ref"} - {"utm_source"} <= (
        TRACKING_PARAMS
    )


def test_feedsportal_links_are_unwrapped() -> None:
    link = (
        "http://rss.feedsportal.com/c/33374/f/578068/p/1/s/7519503b/l/0L0Sgolem0Bde0Cnews0C"
        "adobes0Ecff0Eengine0Ebessere0Eschriftdarstellung0Efuer0Eandroid0Eios0Eund0Elinux0E"
        "130A50E990A960Erss0Bhtml/story01.htm"
    )
    assert canonical_url(link) == (
        "http://www.golem.de/news/adobes-cff-engine-bessere-schriftdarstellung-fuer-android-"
        "ios-und-linux-1305-99096-rss.html"
    )


def test_google_news_links_are_unwrapped_when_the_target_is_in_them() -> None:
    target = b"https://www.reuters.com/world/some-story-2020-05-30/"
    payload = b"\x08\x13\x22" + bytes([len(target)]) + target + b"\xd2\x01\x00"
    article = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    link = f"https://news.google.com/rss/articles/{article}?oc=5"
    assert canonical_url(link) == target.decode()
    assert canonical_url("https://www.google.com/url?q=https://a.example/x&sa=t") == (
        "https://a.example/x"
    )
    opaque = "https://news.google.com/rss/articles/AU_yqLPqz?oc=5"
    assert canonical_url(opaque) == opaque  # newer ids: not recoverable, kept


def test_url_guid_and_link_share_a_key() -> None:
    """Golem: the RSS guid (a URL, isPermaLink=false) is the Atom feed's link."""
    url = "http://www.golem.de/news/a-1305-99096-rss.html"
    rss = Story(feed="golem-rss", title="T", link="https://x.example/l/1", guid=url)
    atom = Story(feed="golem-atom", title="T", link=url, guid="tag:golem,1")
    assert set(identify(rss).keys) & set(identify(atom).keys)


def test_content_key_needs_enough_words() -> None:
    short = Story(feed="f", title="Live", link="https://x.example/1")
    assert identify(short).content is None
    long = Story(
        feed="f",
        title="Anschlag in Magdeburg: Musk fordert Rücktritt von Kanzler Scholz",
        link=None,
    )
    assert identify(long).content is not None


def test_minhash_estimates_jaccard() -> None:
    a = {f"w{i}" for i in range(100)}
    b = {f"w{i}" for i in range(20, 120)}
    assert abs(similarity(minhash(a), minhash(b)) - 80 / 120) < 0.2
    assert similarity(minhash(a), minhash(a)) == 1.0


def test_one_word_difference_is_the_same_story() -> None:
    a = fingerprint("Report on election hacking says Russia plans to do more", "")
    b = fingerprint("Report on US election hacking says Russia plans to do more", "")
    assert same_story(a, b)


def test_different_musk_stories_of_one_day_are_different() -> None:
    afd = fingerprint("Musk schaltet sich in deutschen Wahlkampf ein und unterstützt AfD", "")
    shutdown = fingerprint("USA: Wie Trump und Musk den Shutdown provozieren", "")
    scholz = fingerprint(
        "Nach Anschlag in Magdeburg: Musk fordert Rücktritt von Kanzler Scholz", ""
    )
    assert not same_story(afd, shutdown)
    assert not same_story(afd, scholz)
    assert not same_story(shutdown, scholz)
    assert jaccard(afd.title, scholz.title) < 0.2
