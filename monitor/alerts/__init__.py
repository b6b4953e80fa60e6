"""Alarm engine: pure, clock-free; imports only the model, the protocol and the (pure) session rules."""
from .engine import AlertEngine, Change

__all__ = ["AlertEngine", "Change"]
