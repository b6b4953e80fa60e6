"""Device KINDs and how to build one from `KIND:PORT`."""
from __future__ import annotations

import time
from typing import Callable, Optional

from .base import DeviceSpecError
from .nibp_cycle import NibpCycle
from .oximeter_devices import ContecOximeter, MasimoOximeter, NoninDf2Oximeter, NoninDf8Oximeter
from .sim import SCENARIOS, Patient, SimBedside
from .suntech_device import build_suntech


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


def _serial(adapter_cls) -> Callable:
    """The builder for a serial device that needs only its port (and perhaps a baud rate)."""
    kind = adapter_cls.kind

    def build(port: str, chair: str, nibp: NibpCycle, options: dict, t0: Optional[float]):
        if not port:
            raise DeviceSpecError(f"{kind}: missing PORT, e.g. {kind}:/dev/ttyUSB0")
        baudrate = options.get("baudrate")
        if baudrate is not None and (not str(baudrate).isdigit() or int(baudrate) <= 0):
            raise DeviceSpecError(f"{kind}:{port}: baudrate {baudrate!r}: expected a positive integer")
        return adapter_cls(port, source=options.get("source", f"chair{chair}-{kind}"),
                           baudrate=int(baudrate) if baudrate is not None else None)
    return build


BUILDERS: dict[str, Callable] = {
    "sim": _sim,
    "nonin": _serial(NoninDf2Oximeter),
    "nonin-df8": _serial(NoninDf8Oximeter),
    "masimo": _serial(MasimoOximeter),
    "contec": _serial(ContecOximeter),
    "suntech": build_suntech,
}


def make_device(kind: str, port: str, chair: str, nibp: NibpCycle, options: Optional[dict] = None,
                t0: Optional[float] = None):
    """Build the adapter for one device on one chair."""
    if kind not in BUILDERS:
        raise DeviceSpecError(f"unknown device kind {kind!r}; known: {', '.join(sorted(BUILDERS))}")
    return BUILDERS[kind](port, chair, nibp, options or {}, t0)
