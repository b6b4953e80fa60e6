"""The only package that touches the database: schema, batched writer, named queries.

Callers use `Store` methods for writes and `queries`/`summaries` functions for reads;
every failure is a `StoreError` subclass, never a driver exception.
"""
from . import queries
from .db import Store
from .errors import Conflict, NotFound, ReadOnlyStore, StoreError, StoreUnavailable
from .schema import SCHEMA_VERSION

__all__ = ["Store", "StoreError", "StoreUnavailable", "NotFound", "Conflict", "ReadOnlyStore",
           "SCHEMA_VERSION", "queries"]
