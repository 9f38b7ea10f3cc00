"""Dedupe: exact identity keys, content fingerprints and near-duplicate rules.

    keys.py         guid / identity-URL / content keys of a story      `identify`
    fingerprint.py  title and lead MinHash signatures, LSH bands      `fingerprint`, `same_story`
    event.py        headline+lead word sets, event retrieval keys    `event_print`, `same_event`

Pure functions; the store (`monitor.store.stories`) keeps keys, bands and clusters.
"""

from monitor.dedupe.event import EventPrint, event_keys, event_print, same_event
from monitor.dedupe.fingerprint import Fingerprint, fingerprint, same_story
from monitor.dedupe.keys import Identity, identify

__all__ = [
    "EventPrint",
    "Fingerprint",
    "Identity",
    "event_keys",
    "event_print",
    "fingerprint",
    "identify",
    "same_event",
    "same_story",
]
