"""The database handle: engine, transactions, and the few dialect differences we allow.

SQLite (WAL mode) and PostgreSQL run the same code; the only dialect-specific SQL is
INSERT ... ON CONFLICT, which both have, the driver's placeholder (`placeholder`), how new
story ids are read back (`insert_ids`), and the upgrade of a store made by an older schema
(`monitor.store.upgrade`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, create_engine, event, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from monitor.errors import StoreError
from monitor.store.schema import metadata
from monitor.store.upgrade import upgrade

IN_CHUNK = 500
"""Values per `IN (...)` list: well under SQLite's and PostgreSQL's parameter limits."""

PAGE_SIZE = 1024
"""Bytes per page of a new SQLite store (see `_sqlite_engine`)."""
WAL_CHECKPOINT_BYTES = 40 << 20
"""WAL size (bytes) at which SQLite checkpoints on its own."""
CACHE_KIB = 32 << 10
"""SQLite's page cache per connection, in KiB (SQLite's default: 2 MiB); it grows only as pages
are read, so a small store stays smaller. At 1M stories it held the inner pages of the band
and key indexes (~15,000 pages of 1 KiB; bands have since moved into `stories.bands`) and some
leaves: peak RSS of the 1M bench 86 -> 131 MB.
64 MiB saved 8 % more read() calls for 40 MB more; a memory map (`mmap_size`) saved a few more
but mapped most of a 1 GB store into the process: 600 MB of RSS, which the OOM killer counts."""


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
            upgrade(engine)
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

    For the hot path of a poll (3 key rows per story): the values must be ints, strings or
    None, or already in the driver's form. Several times faster than
    `conn.execute(insert(table), dicts)` for thousands of rows.
    """
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    mark = placeholder(conn)
    names = ", ".join(quote(column) for column in columns)
    marks = ", ".join([mark] * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", list(rows))


def insert_ids(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """INSERT `rows` (every row with the same columns) and return their new ids, in order.

    On SQLite, one `executemany`, then the last rowid: the transaction holds the only write
    lock and a rowid table gives each new row the highest rowid plus one, so the ids are the
    `len(rows)` up to it. (SQLAlchemy's `INSERT ... RETURNING` with ordered results has no
    sentinel column to batch with on SQLite, so it takes each row through its whole statement
    path; one plain INSERT per row still cost ~30 µs a row of SQLAlchemy's execution.)
    PostgreSQL batches it, in order, as it is.
    """
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return [int(value) for value in conn.execute(statement, rows).scalars()]
    columns = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(column) for column in columns)
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' * len(columns))})"
    processors = [table.c[column].type.bind_processor(conn.dialect) for column in columns]
    params = [
        tuple(p(row[c]) if p else row[c] for p, c in zip(processors, columns, strict=True))
        for row in rows
    ]
    conn.exec_driver_sql(sql, params)
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    return list(range(last - len(rows) + 1, last + 1))


def rows_in(
    conn: Connection, query: str, values: Sequence[Any], *params: Any
) -> Iterator[Sequence[Any]]:
    """Plain driver rows of `query` for `values`, `IN_CHUNK` at a time: `{marks}` in the
    query becomes the placeholders of a chunk, `{mark}` one placeholder (for `params`,
    which follow the chunk and must be in the driver's form, see `driver_value`).

    For the lookups of a poll (hundreds of keys and band hashes): building `column.in_(…)`
    coerces every value into a bound parameter, which cost more than the query itself.
    """
    mark = placeholder(conn)
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        sql = query.format(marks=", ".join([mark] * len(chunk)), mark=mark)
        # All rows at once: iterating a result fetches them one by one (a call per row).
        yield from conn.exec_driver_sql(sql, (*chunk, *params)).fetchall()


def placeholder(conn: Connection) -> str:
    """The driver's mark for one parameter in plain SQL: `?` (sqlite3) or `%s` (psycopg)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


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
        # A new story writes its identity keys at random places of an index of millions (and,
        # until bands moved into its row, 16-25 band rows): each dirties a page of its own,
        # which the WAL and then the checkpoint write whole. 1 KiB pages write a quarter of
        # the bytes of the default 4 KiB (bench/bench_dedupe.py: ~1.7x the stories/s at 1M
        # stored, measured with the band rows). Only a new file takes
        # it, and only before WAL mode is set; an existing store keeps its page size (README:
        # Dedupe, how to convert one).
        cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA busy_timeout=10000")  # wait for another process's write
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints, safe with WAL
        # Each story looks up and then writes index entries at random places of indexes of
        # millions: with SQLite's default 2 MB page cache not even their inner B-tree pages
        # stay cached, and every page read is a read() call, 60 % of the store's system calls
        # at 1M stories (bench/bench_dedupe.py under strace, rounds 1 and 2: 577,000 calls;
        # 387,000 with this cache). CACHE_KIB says why not more, nor a memory map.
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        # SQLite's default, a checkpoint (two fsyncs) every 1,000 WAL pages, came every ~50
        # new stories; one per ~40 MB of WAL is far faster for a busy poll and exactly as
        # durable. In pages, so in bytes whatever the file's page size.
        page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page_size}")
        cursor.close()

    return engine


def _reason(exc: BaseException) -> str:
    """The driver's own message, first line only, without SQLAlchemy's long footer."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
