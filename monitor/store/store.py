"""`Store`: one handle on the database, with one part per concern.

    store.feeds    per-feed state (cache validators, errors)      monitor/store/feeds.py
    store.stories  seen stories, their alerts and deliveries       monitor/store/stories.py
    store.outbox   deliveries to send, leases, retries             monitor/store/outbox.py
    store.queries  parsed watchlist queries, kept between runs     monitor/store/queries.py

Correctness under restarts and several processes comes from unique keys (see `schema.py`), not
from locks in this process.
"""

from __future__ import annotations

from sqlalchemy import Engine

from monitor.store.db import Database
from monitor.store.feeds import FeedStates
from monitor.store.outbox import Outbox
from monitor.store.queries import ParsedQueries
from monitor.store.stories import Stories


class Store:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.feeds = FeedStates(db)
        self.stories = Stories(db)
        self.outbox = Outbox(db)
        self.queries = ParsedQueries(db)

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and create the schema of) the store at a SQLAlchemy URL; `StoreError` if not."""
        return cls(Database.open(url))

    @property
    def engine(self) -> Engine:
        return self._db.engine

    def close(self) -> None:
        self._db.close()
