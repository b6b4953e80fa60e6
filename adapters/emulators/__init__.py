"""Byte-exact device emulators on pseudo-terminals, driven by the simulated patient.

Every emulator class takes `(scenario="normal", seed=0, speed=1.0)` keywords, has
`.path` (the pty to open), `start()`, `stop()`, `unplug()` and `replug()`.
`infusion-monitor emulate KIND` looks KIND up in EMULATORS; to add a device, add one
line mapping its kind to "module:Class".
"""
from __future__ import annotations

import importlib

EMULATORS: dict[str, str] = {
    "nonin": "adapters.emulators.nonin:NoninDf2Emulator",
    "nonin-df8": "adapters.emulators.nonin:NoninDf8Emulator",
    "masimo": "adapters.emulators.masimo:MasimoEmulator",
    "contec": "adapters.emulators.contec:ContecEmulator",
    "suntech": "adapters.emulators.suntech:SunTechEmulator",
}


def emulator_class(kind: str):
    """The emulator class for a device kind; KeyError for a kind without one."""
    module, _, name = EMULATORS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
