"""The only module that touches SQLite: schema, batched writer, read queries."""
from . import queries
from .db import Store, StoreError
from .schema import SCHEMA_VERSION

__all__ = ["Store", "StoreError", "SCHEMA_VERSION", "queries"]
