"""Dedupe: exact identity keys, content fingerprints and near-duplicate rules.

    keys.py         guid / identity-URL / content keys of a story      `identify`
    fingerprint.py  title and lead MinHash signatures, LSH bands      `fingerprint`, `same_story`

Pure functions; the store (`monitor.store.stories`) keeps keys, bands and clusters.
"""

from monitor.dedupe.fingerprint import Fingerprint, fingerprint, same_story
from monitor.dedupe.keys import Identity, identify

__all__ = ["Fingerprint", "Identity", "fingerprint", "identify", "same_story"]
