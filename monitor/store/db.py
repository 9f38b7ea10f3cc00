"""The database handle: engine, transactions, and the few dialect differences we allow.

SQLite (WAL mode) and PostgreSQL run the same code; the only dialect-specific SQL is
INSERT ... ON CONFLICT, which both have, and the driver's placeholder in `insert_plain`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from monitor.errors import StoreError
from monitor.store.schema import metadata

IN_CHUNK = 500
"""Values per `IN (...)` list: well under SQLite's and PostgreSQL's parameter limits."""


class Database:
    """An engine with the schema created, and short transactions that raise `StoreError`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Database:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(f"storage.url is not a SQLAlchemy database URL: {url!r}") from None
        try:
            if parsed.get_backend_name() == "sqlite":
                engine = _sqlite_engine(parsed.database)
            else:
                engine = create_engine(parsed, pool_pre_ping=True)
            metadata.create_all(engine)
        except (SQLAlchemyError, OSError) as exc:
            safe = parsed.render_as_string(hide_password=True)
            raise StoreError(f"cannot open the store at {safe}: {_reason(exc)}") from None
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction. IntegrityError passes through: callers treat it as "already there"."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"store error: {_reason(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()


def dialect_insert(conn: Connection) -> Any:
    """INSERT with ON CONFLICT support: the two backends we support both have it."""
    return sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert


def insert_plain(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """INSERT many rows as the driver takes them, skipping SQLAlchemy's per-row processing.

    For the hot path of a poll (16 band rows per story): the values must be ints, strings or
    None, or already in the driver's form (`driver_value`). Several times faster than
    `conn.execute(insert(table), dicts)` for thousands of rows.
    """
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(quote(column) for column in columns)
    marks = ", ".join([mark] * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", list(rows))


def driver_value(conn: Connection, column: Column[Any], value: Any) -> Any:
    """`value` as the driver takes it for `column` (what SQLAlchemy would send it as)."""
    processor = column.type.bind_processor(conn.dialect)
    return processor(value) if processor else value


def insert_id(conn: Connection, statement: Any) -> int:
    """Run an INSERT and return the id the database gave the new row."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


def _sqlite_engine(database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{database or ':memory:'}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA busy_timeout=10000")  # wait for another process's write
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints, safe with WAL
        # A new story dirties ~18 pages (its 16 band-index entries land on random pages), so
        # SQLite's default checkpoint every 1,000 WAL pages (two fsyncs) came every ~50
        # stories; every 10,000 pages (a WAL of up to ~40 MB) is ~30 % faster for a busy
        # poll and exactly as durable.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.close()

    return engine


def _reason(exc: BaseException) -> str:
    """The driver's own message, first line only, without SQLAlchemy's long footer."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
