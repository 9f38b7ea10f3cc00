"""Persistence: SQLite by default (WAL mode), PostgreSQL through the same code."""

from monitor.store.alerting import NewAlert
from monitor.store.feeds import FeedState
from monitor.store.outbox import Delivery
from monitor.store.schema import DEAD, PENDING, SENT
from monitor.store.store import Store

__all__ = ["DEAD", "PENDING", "SENT", "Delivery", "FeedState", "NewAlert", "Store"]
