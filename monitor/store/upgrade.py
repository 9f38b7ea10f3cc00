"""Bring a store made by an older schema up to this one, once, when it is opened.

`metadata.create_all` only creates missing tables; it never changes one that exists. Three
changes so far need more:

* **v1 -> v2** (`story_bands`, `story_keys`): bands lost their `seen_at` column, their index
  on `story_id` and their foreign key; on SQLite both tables became WITHOUT ROWID (see
  `schema.py`). PostgreSQL drops the column, constraint and index in place; SQLite, which can
  alter neither a table's foreign keys nor its rowid, copies each table into its new form
  (in key order: sequential writes; ~40 s for 16 million bands and 3 million keys).

A v1 store's bands are those of each story's first fingerprint; an edited story (whose v2
bands are replaced with its text) may so leave a few band rows behind at prune time. They
lead nowhere (the lookup joins `stories`), or at worst, should SQLite reuse a pruned id, to a
candidate that verification (`same_story`) rejects; they cost a few bytes each.

* **v2 -> v3** (`stories.event_words`, same-event clustering, issue #4): a nullable column,
  added in place on both backends (no rewrite: a catalogue change). Stories stored before
  keep it NULL and have no event keys: they can still be joined as near-duplicates, and the
  dedupe window has passed over them within 72 h of the upgrade.

* **v3 -> v4**: an index on `alerts.story_id`, so that prune's cascade from a deleted story
  to its alerts finds them by index instead of scanning every alert (`CREATE INDEX IF NOT
  EXISTS`, on both backends; once, on the first open, as long as the alerts table takes).

Each upgrade runs in one transaction that re-checks what it upgrades, so two processes
opening an old store at once upgrade it once.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import Engine, Table, inspect, text
from sqlalchemy.schema import CreateIndex, CreateTable

from monitor.store.schema import ALERTS_STORY_INDEX, story_bands, story_keys


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
    if "event_words" not in {c["name"] for c in inspect(engine).get_columns("stories")}:
        with engine.begin() as conn:  # IF NOT EXISTS: another process may have added it
            conn.execute(text("ALTER TABLE stories ADD COLUMN IF NOT EXISTS event_words TEXT"))
    if "seen_at" not in {c["name"] for c in inspect(engine).get_columns("story_bands")}:
        return
    with engine.begin() as conn:
        conn.execute(text("LOCK TABLE story_bands IN ACCESS EXCLUSIVE MODE"))
        inspector = inspect(conn)
        if "seen_at" not in {c["name"] for c in inspector.get_columns("story_bands")}:
            return  # another process did it while we waited for the lock
        for fk in inspector.get_foreign_keys("story_bands"):
            conn.execute(text(f'ALTER TABLE story_bands DROP CONSTRAINT "{fk["name"]}"'))
        conn.execute(text("DROP INDEX IF EXISTS ix_story_bands_story"))
        conn.execute(text("ALTER TABLE story_bands DROP COLUMN seen_at"))


def _upgrade_sqlite(engine: Engine) -> None:
    # pysqlite opens transactions only before DML; this needs DDL and DML in one transaction,
    # and the write lock from the start (BEGIN IMMEDIATE), so it drives the connection itself.
    raw = engine.raw_connection()
    try:
        db = raw.driver_connection
        assert isinstance(db, sqlite3.Connection)
        if not _old_sqlite(db) and not _no_event_words(db):
            return
        level, db.isolation_level = db.isolation_level, None
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for table, columns, index in _old_sqlite(db):  # again, under the write lock
                    _rebuild(db, engine, table, columns, index)
                if _no_event_words(db):
                    db.execute("ALTER TABLE stories ADD COLUMN event_words TEXT")
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
    if "seen_at" in {row[1] for row in db.execute("PRAGMA table_info(story_bands)")}:
        old.append((story_bands, "band, story_id", "ix_story_bands_story"))
    if "WITHOUT ROWID" not in str(ddl.get("story_keys", "")).upper():
        old.append((story_keys, "key, story_id", "ix_story_keys_story_id"))
    return old


def _no_event_words(db: sqlite3.Connection) -> bool:
    """Whether `stories` still lacks the v3 `event_words` column."""
    return "event_words" not in {row[1] for row in db.execute("PRAGMA table_info(stories)")}


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
