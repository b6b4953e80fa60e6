"""What a device adapter is given and what it gives back.

An adapter thread calls `run(ctx, stop)`; it turns bytes into Readings and hands
them to the chair context. It never touches the store or the alarm engine.
"""
from __future__ import annotations

import threading
from typing import Optional, Protocol as TypingProtocol

from monitor.model import DeviceSignal, Reading


class DeviceSpecError(ValueError):
    """A device that cannot be built from what was given; the message says which part.

    Defined here, beside the adapter contract, so the registry and every adapter's
    own builder raise the same error without importing each other.
    """


class DeviceContext(TypingProtocol):
    """The chair a device is plugged into, as the device sees it."""

    def reading(self, r: Reading) -> None: ...

    def signal(self, sig: DeviceSignal) -> None: ...

    def phase(self) -> tuple[Optional[int], Optional[str]]:
        """(open session id, its state), or (None, None) when the chair is free."""

    def take_commands(self, kind: str) -> list[str]:
        """Pending page requests for this device kind ('stat', 'abort'), marked done."""

    def cuff_pressure(self, source: str, mmhg: Optional[float]) -> None: ...

    def now(self) -> float: ...


class Device(TypingProtocol):
    source: str
    kind: str
    port: str

    def run(self, ctx: DeviceContext, stop: threading.Event) -> None: ...
