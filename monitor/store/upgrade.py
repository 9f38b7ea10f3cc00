"""Bring a store made by an older schema up to this one, once, when it is opened.

`metadata.create_all` only creates missing tables; it never changes one that exists. Four
changes so far need more:

* **v1 -> v2** (`story_keys`, and `story_bands` until v5 dropped it): on SQLite the keys
  table became WITHOUT ROWID and lost its secondary index (see `schema.py`); SQLite, which
  cannot alter a table's rowid, copies it into its new form (in key order: sequential writes;
  ~10 s for 3 million keys).

* **v2 -> v3** (`stories.event_words`, same-event clustering, issue #4): a nullable column,
  added in place on both backends (no rewrite: a catalogue change). Stories stored before
  keep it NULL and have no event keys: they can still be joined as near-duplicates, and the
  dedupe window has passed over them within 72 h of the upgrade.

* **v3 -> v4**: an index on `alerts.story_id`, so that prune's cascade from a deleted story
  to its alerts finds them by index instead of scanning every alert (`CREATE INDEX IF NOT
  EXISTS`, on both backends; once, on the first open, as long as the alerts table takes).

* **v4 -> v5** (`stories.bands`): a story's bands and event keys moved from rows of
  `story_bands` (25 random B-tree rows per story: the cap on how many stories a second the
  store could take) into a column of its own row, looked up in memory
  (`monitor.store.band_index`). The column is added, NULL for the stories stored before
  (their values are computed from their fingerprint and event words when an index loads
  them), and `story_bands` is dropped: so the v1 -> v2 rewrite of it is no longer done.

Each upgrade runs in one transaction that re-checks what it upgrades, so two processes
opening an old store at once upgrade it once.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import Engine, Table, inspect, text
from sqlalchemy.schema import CreateIndex, CreateTable

from monitor.store.schema import ALERTS_STORY_INDEX, story_keys


def upgrade(engine: Engine) -> None:
    """Upgrade the store at `engine` in place, if it needs it."""
    if ALERTS_STORY_INDEX not in {i["name"] for i in inspect(engine).get_indexes("alerts")}:
        with engine.begin() as conn:  # IF NOT EXISTS: another process may have made it
            conn.execute(
                text(f"CREATE INDEX IF NOT EXISTS {ALERTS_STORY_INDEX} ON alerts (story_id)")
            )
    if engine.dialect.name == "sqlite":
        _upgrade_sqlite(engine)
        return
    columns = {c["name"] for c in inspect(engine).get_columns("stories")}
    if {"event_words", "bands"} <= columns and not inspect(engine).has_table("story_bands"):
        return
    with engine.begin() as conn:  # IF [NOT] EXISTS: another process may have done it
        conn.execute(text("ALTER TABLE stories ADD COLUMN IF NOT EXISTS event_words TEXT"))
        conn.execute(text("ALTER TABLE stories ADD COLUMN IF NOT EXISTS bands BYTEA"))
        conn.execute(text("DROP TABLE IF EXISTS story_bands"))


def _upgrade_sqlite(engine: Engine) -> None:
    # pysqlite opens transactions only before DML; this needs DDL and DML in one transaction,
    # and the write lock from the start (BEGIN IMMEDIATE), so it drives the connection itself.
    raw = engine.raw_connection()
    try:
        db = raw.driver_connection
        assert isinstance(db, sqlite3.Connection)
        if not _old_sqlite(db) and not _missing(db) and not _has_bands_table(db):
            return
        level, db.isolation_level = db.isolation_level, None
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for table, columns, index in _old_sqlite(db):  # again, under the write lock
                    _rebuild(db, engine, table, columns, index)
                for column, kind in _missing(db):
                    db.execute(f"ALTER TABLE stories ADD COLUMN {column} {kind}")
                if _has_bands_table(db):
                    db.execute("DROP TABLE story_bands")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        finally:
            db.isolation_level = level
    finally:
        raw.close()


def _old_sqlite(db: sqlite3.Connection) -> list[tuple[Table, str, str]]:
    """The tables still in their v1 form: (table, its columns, its v1 secondary index)."""
    ddl = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    old = []
    if "WITHOUT ROWID" not in str(ddl.get("story_keys", "")).upper():
        old.append((story_keys, "key, story_id", "ix_story_keys_story_id"))
    return old


def _missing(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """The columns of `stories` added since v1 that it lacks: (name, SQL type)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(stories)")}
    return [(c, kind) for c, kind in (("event_words", "TEXT"), ("bands", "BLOB")) if c not in have]


def _has_bands_table(db: sqlite3.Connection) -> bool:
    """Whether the v4 `story_bands` table is still there."""
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'story_bands'")
    return found.fetchone() is not None


def _rebuild(
    db: sqlite3.Connection, engine: Engine, table: Table, columns: str, index: str
) -> None:
    """Copy `table` into its current definition: rename, create, copy in key order, drop."""
    old = f"{table.name}_v1"
    db.execute(f"ALTER TABLE {table.name} RENAME TO {old}")
    db.execute(f"DROP INDEX IF EXISTS {index}")  # index names are global: free it
    db.execute(str(CreateTable(table).compile(dialect=engine.dialect)))
    db.execute(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {old} ORDER BY {columns}"
    )
    for each in table.indexes:
        db.execute(str(CreateIndex(each).compile(dialect=engine.dialect)))
    db.execute(f"DROP TABLE {old}")
