"""Persistence: SQLite by default (WAL mode), PostgreSQL through the same code."""

from monitor.store.database import DEAD, PENDING, SENT, Delivery, FeedState, NewAlert, Store

__all__ = ["DEAD", "PENDING", "SENT", "Delivery", "FeedState", "NewAlert", "Store"]
