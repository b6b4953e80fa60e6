"""Device KINDs (DESIGN.md) and how to build one from `KIND:PORT`."""
from __future__ import annotations

import time
from typing import Callable, Optional

from .nibp_cycle import NibpCycle
from .sim import SCENARIOS, Patient, SimBedside
from .suntech_adapter import build_suntech


class DeviceSpecError(ValueError):
    """A device that cannot be built from what was given; the message says which part."""


def split_spec(spec: str) -> tuple[str, str]:
    """`KIND:PORT`, split on the first colon (ports such as socket://h:p keep theirs)."""
    kind, sep, port = spec.partition(":")
    if not sep or not kind:
        raise DeviceSpecError(f"device {spec!r}: expected KIND:PORT, e.g. sim:normal or nonin:/dev/ttyUSB0")
    kind = kind.strip().lower()
    if kind not in BUILDERS:
        raise DeviceSpecError(f"device {spec!r}: unknown kind {kind!r}; known: {', '.join(sorted(BUILDERS))}")
    return kind, port.strip()


def _sim(port: str, chair: str, nibp: NibpCycle, options: dict, t0: Optional[float]):
    scenario = port or "normal"
    if scenario not in SCENARIOS:
        raise DeviceSpecError(f"sim:{port}: unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    seed = int(options.get("seed", 0))
    return SimBedside(Patient(scenario, seed), nibp, t0 if t0 is not None else time.time(),
                      source=options.get("source", f"chair{chair}-sim"))


BUILDERS: dict[str, Callable] = {"sim": _sim}
BUILDERS["suntech"] = build_suntech


def make_device(kind: str, port: str, chair: str, nibp: NibpCycle, options: Optional[dict] = None,
                t0: Optional[float] = None):
    """Build the adapter for one device on one chair."""
    if kind not in BUILDERS:
        raise DeviceSpecError(f"unknown device kind {kind!r}; known: {', '.join(sorted(BUILDERS))}")
    return BUILDERS[kind](port, chair, nibp, options or {}, t0)
