"""Parsed watchlist queries kept between runs, so a restart does not parse them again.

The rows are a cache: one that is missing, of another format version or unreadable is simply
parsed again. Queries are keyed by a SHA-256 of their text (a long query would not fit an
index entry).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from monitor.store.db import IN_CHUNK, Database, dialect_insert
from monitor.store.schema import parsed_queries


class ParsedQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    def load(self, texts: Iterable[str], version: str) -> dict[str, Any]:
        """The stored trees (decoded JSON) of those of `texts` stored under `version`."""
        by_digest = {_digest(text): text for text in texts}
        wanted = sorted(by_digest)
        found: dict[str, Any] = {}
        with self._db.transaction() as conn:
            for start in range(0, len(wanted), IN_CHUNK):
                rows = conn.execute(
                    select(parsed_queries.c.digest, parsed_queries.c.tree).where(
                        parsed_queries.c.digest.in_(wanted[start : start + IN_CHUNK]),
                        parsed_queries.c.version == version,
                    )
                )
                for digest, tree in rows:
                    try:
                        found[by_digest[digest]] = json.loads(tree)
                    except ValueError:
                        continue  # unreadable: parsed again
        return found

    def save(self, trees: Mapping[str, Any], version: str) -> None:
        """Store (or replace) the trees of these query texts under `version`."""
        rows = [
            {"digest": _digest(text), "version": version, "tree": json.dumps(tree)}
            for text, tree in trees.items()
        ]
        with self._db.transaction() as conn:
            insert = dialect_insert(conn)
            for start in range(0, len(rows), IN_CHUNK):
                statement = insert(parsed_queries).values(rows[start : start + IN_CHUNK])
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[parsed_queries.c.digest],
                        set_={
                            "version": statement.excluded.version,
                            "tree": statement.excluded.tree,
                        },
                    )
                )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
