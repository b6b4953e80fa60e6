"""Alarm engine: pure, clock-free; imports nothing from web, store or adapters."""
from .engine import AlertEngine, Change

__all__ = ["AlertEngine", "Change"]
