"""Fingerprint values pinned: stored band hashes must stay valid across versions.

A store keeps each story's LSH band hashes (`stories.bands`) and its encoded fingerprint; a
later version that computed other signatures or band hashes for the same text would silently
stop finding every story stored before it.
So the values themselves are fixed here: a faster implementation must give these exact numbers.
"""

from __future__ import annotations

import hashlib

import pytest

from monitor.dedupe import fingerprint, identify
from monitor.dedupe.fingerprint import Fingerprint, minhash
from monitor.parse import parse_feed

from conftest import CORPUS, needs_corpus

MUSK = (
    "Musk meets Putin in Moscow for talks on Starlink satellites",
    "Elon Musk travelled to Moscow on Tuesday where he met Vladimir Putin for two hours, "
    "according to officials who spoke on condition of anonymity about the private meeting and "
    "its agenda of satellites, rockets and the war in Ukraine.",
)
STRASSENBAU = (
    "Bundesregierung beschließt Straßenbau-Paket für Ostdeutschland",
    "Die Bundesregierung hat am Mittwoch ein Paket für den Straßenbau beschlossen. Größere "
    "Summen fließen nach Sachsen, Thüringen und Brandenburg; der Finanzminister spricht von "
    "einer „historischen“ Investition in die Infrastruktur der Länder.",
)

PINNED = [
    (
        MUSK,
        ["meets", "moscow", "musk", "putin", "satellites", "starlink", "talks"],
        (4721, 896, 3796, 4295, 4052, 4030, 3827, 1181, 1626, 3784, 2714, 657, 4927, 1860, 8671,
         5849, 558, 1061, 939, 8347, 703, 9713, 6029, 422, 1536, 3181, 1456, 3762, 2483, 5922,
         438, 2831),
        (-8360195284828226948, -5645481554425305009, 7568788382255421146, -3399318049917027347,
         7967737487902475044, 5598498638881595182, 478375885896614029, -4837242241566671335,
         1645269021742883061, -9168226456699584649, -6105032138519309193, 8370174833659362865,
         7144879909024840615, 1845768064170804254, -6984130115607024882, -4022664554135500737),
    ),
    (
        STRASSENBAU,
        ["beschliesst", "bundesregierung", "ostdeutschland", "paket", "strassenbau"],
        (2405, 4690, 95, 601, 4848, 1645, 2647, 1541, 305, 5450, 5092, 1537, 1917, 3097, 1566,
         721, 11052, 924, 1154, 4095, 1337, 5766, 7499, 6672, 5186, 3620, 4791, 5026, 70, 1734,
         5601, 74),
        (-5860613559610596858, -7629235345890428609, -7127572135928870081, 877728309926754565,
         4973556938809602934, 7830225440623489027, -8316358770362097968, 2660412772445225402,
         -7041463210999577493, -3233398740716789585, -1151627581954472825, -1416323261915106967,
         1583211609107827739, 1515106061402171216, 3060278872586749982, 4483053344562532970),
    ),
    (("Live", "Short text only."), ["live"], (), ()),
    (
        ("ﬁnancial Ｔｉｍｅｓ report: Ölpreis steigt", ""),
        ["financial", "report", "steigt", "times", "ölpreis"],
        (),
        (5284618502161127183, 3784324178190498271, 7255226051285160413, 286882429269262018,
         -633339819898292960, 7906429464799953733, -655494394005952884, -9183193664446129437),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("story", "title", "lead", "bands"), PINNED)
def test_fingerprints_and_bands_keep_their_values(
    story: tuple[str, str], title: list[str], lead: tuple[int, ...], bands: tuple[int, ...]
) -> None:
    fp = fingerprint(*story)
    assert sorted(fp.title) == title
    assert fp.lead == lead
    assert fp.bands == bands
    # A stored fingerprint, read back, gives the bands that were stored with it.
    assert Fingerprint.decode(fp.encode()).bands == bands


def test_minhash_keeps_its_values() -> None:
    assert minhash(["a b", "über straße"]) == (
        37789, 37605, 40447, 8612, 8325, 20397, 44892, 5435, 61, 36404, 19, 27546, 28115,
        11096, 20775, 9048, 43529, 23242, 1597, 27275, 24198, 24288, 4790, 47784, 52498,
        41362, 31716, 6459, 26241, 60478, 37655, 22705,
    )  # fmt: skip
    assert minhash([]) == (0xFFFF,) * 32


@needs_corpus
def test_every_corpus_fingerprint_keeps_its_values() -> None:
    """All 2,433 corpus stories (titles and leads in four languages, markup, entities): one
    digest of every encoded fingerprint and its bands, as computed when the store format was
    fixed."""
    digest = hashlib.sha256()
    count = 0
    for path in sorted(CORPUS.glob("*.xml")):
        for story in parse_feed(path.read_bytes(), {}, feed_name=path.name, url="https://x/"):
            fp = fingerprint(story.title, story.text)
            digest.update(repr((fp.encode(), fp.bands)).encode())
            count += 1
    assert count == 2433
    assert digest.hexdigest() == "064aa84c126f505d53207234bdde1a75da3a98e2c7cc620258c722412a1baf0e"


@needs_corpus
def test_every_corpus_identity_keeps_its_keys_and_fingerprint() -> None:
    """`identify` folds the text once for its content key and its fingerprint: both must be
    what they were when each was computed on its own (content keys are stored too)."""
    digest = hashlib.sha256()
    for path in sorted(CORPUS.glob("*.xml")):
        for story in parse_feed(path.read_bytes(), {}, feed_name=path.name, url="https://x/"):
            ident = identify(story)
            fp = ident.fingerprint
            assert fp == fingerprint(story.title, story.text)
            digest.update(repr((ident.ids, ident.content, fp.encode(), fp.bands)).encode())
    assert digest.hexdigest() == "90918a30ee04ed39b74e4cce0e0a46ff6365b243ea372841fcf9f80c396bdade"
