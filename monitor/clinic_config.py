"""Building chairs from configuration: the clinic.toml file and the built-in demo chair.

clinic.toml:

    [chairs.1]
    devices = ["nonin:/dev/ttyUSB0", { kind = "suntech", port = "/dev/ttyUSB1" }]

    [chairs.2]
    devices = ["sim:hypertensive"]
    patient = "DEMO-2"     # optional: open a session at start
    protocol = "esketamine-rems"   # optional: this chair's profile (a shipped name or a file)
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Optional

from adapters.nibp_cycle import NibpCycle
from adapters.registry import DeviceSpecError, make_device, split_spec

from . import profile_choice, sessions
from .chairs import Chair
from .integrations.config import Integrations, IntegrationsError, parse_integrations
from .protocol import Protocol, ProtocolError, load_protocol, profile_file
from .sane_ranges import BAUD_RATES
from .sane_ranges import DEVICE as DEVICE_RANGES
from .store import Store, queries


class ConfigError(ValueError):
    """A clinic.toml that cannot be used; the message names file and key."""


def build_chair(store: Store, protocol: Protocol, name: str, device_specs: list[dict],
                script: tuple = (), t0: Optional[float] = None) -> Chair:
    devices, seen_ports, cycles = [], {}, []
    for i, spec in enumerate(device_specs):
        if "spec" in spec:
            kind, port = split_spec(spec["spec"])
        else:
            kind, port = str(spec.get("kind", "")).lower(), str(spec.get("port", ""))
        why = _claim_port(kind, port, f"device {i + 1}", seen_ports)
        if why:
            raise ConfigError(f"device {i + 1} ({kind}:{port}): {why}")
        options = {k: v for k, v in spec.items() if k not in ("kind", "port", "spec")}
        options.setdefault("source", f"chair{name}-{kind}{i + 1 if i else ''}")
        cycle = NibpCycle(protocol.nibp_cycle_infusion_s, protocol.nibp_cycle_other_s)
        cycles.append(cycle)
        devices.append(make_device(kind, port, name, cycle, options, t0=t0))
    return Chair(store, protocol, name, devices, script=script, cycles=tuple(cycles))


def demo_chairs(store: Store, protocol: Protocol) -> list[Chair]:
    """One chair on the simulated devices with a demo session already running.

    After a restart the running demo resumes; another patient's open session on chair 1
    is refused (sessions.open_or_resume), never taken over by the demo.
    """
    import time
    from adapters.sim.physiology import SCENARIOS
    scenario = SCENARIOS["normal"]
    current = queries.current_session(store, "1")
    try:
        resume_id = sessions.open_or_resume(current, "1", "DEMO")
    except sessions.RuleError as e:
        raise ConfigError(f"demo chair: {e}") from None
    t0 = current["started_at"] if resume_id is not None else time.time()
    script = tuple((t, kind, text) for t, kind, text in scenario.events if kind != "session_end")
    chair = build_chair(store, protocol, "1", [{"spec": "sim:normal"}], script=script, t0=t0)
    chair.session_for("DEMO", ts=t0)
    if resume_id is not None:
        chair.script = [s for s in script if t0 + s[0] > time.time()]
    return [chair]


DEVICE_TYPES = {"kind": str, "port": str, "spec": str, "baudrate": int, "seed": int, "source": str,
                "timeout": (int, float)}


def load_clinic(path: str | Path, store: Store, protocol: Protocol) -> list[Chair]:
    """Check the whole file, build every chair, then open sessions: all or nothing."""
    p = Path(path)
    data = _read(p)
    load_integrations(p, data)  # checked with the rest: a bad [integrations] stops the start, not the sending
    chairs_tbl = data.get("chairs")
    if not isinstance(chairs_tbl, dict) or not chairs_tbl:
        raise ConfigError(f"{p}: [chairs]: missing; add e.g. [chairs.1] devices = [\"sim:normal\"]")
    built, seen_ports = [], {}
    for name, spec in chairs_tbl.items():
        key = f"chairs.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{p}: {key}: expected a table")
        unknown = set(spec) - {"devices", "patient", "protocol"}
        if unknown:
            raise ConfigError(f"{p}: {key}: unknown key {sorted(unknown)[0]!r}")
        devs = spec.get("devices")
        if not isinstance(devs, list) or not devs:
            raise ConfigError(f"{p}: {key}.devices: expected a non-empty list")
        normalised = [_device_entry(p, f"{key}.devices[{i}]", d, seen_ports) for i, d in enumerate(devs)]
        patient = spec.get("patient")
        if patient is not None:
            try:
                patient = sessions.patient_ref(patient if isinstance(patient, str) else "")
            except sessions.RuleError as e:
                raise ConfigError(f"{p}: {key}.patient: {e}") from None
        own = _chair_protocol(p, key, spec.get("protocol"), protocol)
        try:
            chair = build_chair(store, own, str(name), normalised)
        except (DeviceSpecError, ValueError, TypeError) as e:
            raise ConfigError(f"{p}: {key}: {e}") from None
        built.append((chair, patient))
    for chair, patient in built:
        why = patient is not None and chair.conflict(patient)
        if why:
            raise ConfigError(f"{p}: chairs.{chair.name}.patient: {why}")
    for chair, patient in built:  # only now, with every chair valid, write anything
        profile_choice.remember_chair(chair.name, chair.protocol)
        if patient is not None:
            chair.session_for(patient)
    return [chair for chair, _ in built]


def _read(p: Path) -> dict:
    """clinic.toml's tables, its top-level keys known."""
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text (UTF-8) file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    if set(data) - {"chairs", "integrations"}:
        raise ConfigError(f"{p}: {sorted(set(data) - {'chairs', 'integrations'})[0]}: unknown key "
                          "(only [chairs.NAME] and [integrations] tables)")
    return data


def load_integrations(path: str | Path, data: Optional[dict] = None) -> Integrations:
    """The checked [integrations] of a clinic.toml (none configured: an empty Integrations)."""
    p = Path(path)
    try:
        return parse_integrations(p, (_read(p) if data is None else data).get("integrations"))
    except IntegrationsError as e:
        raise ConfigError(str(e)) from None


def _chair_protocol(p: Path, key: str, value, default: Protocol) -> Protocol:
    """A chair's own profile (`protocol = "esketamine-rems"`, or a file relative to clinic.toml),
    or the process's when it names none."""
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{p}: {key}.protocol: expected a shipped profile's name or a file")
    name = value.strip()
    if "/" in name or name.endswith(".toml"):
        name = str((p.parent / name).resolve())
    try:
        chosen = default if name == default.name else load_protocol(profile_file(name))
        profile_choice.remember(chosen)  # refused here when its name is another profile's
    except ProtocolError as e:
        raise ConfigError(f"{p}: {key}.protocol: {e}") from None
    return chosen


def _device_entry(p: Path, dkey: str, d, seen_ports: dict) -> dict:
    if isinstance(d, str):
        d = {"spec": d}
    if not isinstance(d, dict):
        raise ConfigError(f"{p}: {dkey}: expected \"KIND:PORT\" or a table")
    bad = set(d) - set(DEVICE_TYPES)
    if bad:
        raise ConfigError(f"{p}: {dkey}: unknown key {sorted(bad)[0]!r}")
    if "spec" in d and ("kind" in d or "port" in d):
        raise ConfigError(f"{p}: {dkey}: give either spec or kind and port, not both")
    for k, v in d.items():
        want = DEVICE_TYPES[k]
        if isinstance(v, bool) or not isinstance(v, want):
            kind = "a whole number" if want is int else ("a number" if want != str else "a string")
            raise ConfigError(f"{p}: {dkey}.{k}: expected {kind}, got {v!r}")
    for k in sorted(set(DEVICE_RANGES) & set(d)):
        why = DEVICE_RANGES[k].problem(d[k])
        if k == "baudrate" and not why and d[k] not in BAUD_RATES:
            why = f"{d[k]} is not a serial rate these devices speak ({', '.join(map(str, BAUD_RATES))})"
        if why:
            raise ConfigError(f"{p}: {dkey}.{k}: {why}")
    kind, port = (d["spec"].partition(":")[0], d["spec"].partition(":")[2]) if "spec" in d \
        else (d.get("kind", ""), d.get("port", ""))
    why = _claim_port(kind.strip().lower(), port.strip(), dkey, seen_ports)
    if why:
        raise ConfigError(f"{p}: {dkey}: {why}")
    return d


def port_identity(port: str) -> str:
    """The device a port names, so one device is never opened twice under two names: a path
    with its symlinks and `..` resolved (`/dev/../dev/ttyUSB0`, a `/dev/serial/by-id/` link);
    a pyserial URL (`socket://`, `rfc2217://`) as written."""
    return port if "://" in port else os.path.realpath(port)


def _claim_port(kind: str, port: str, who: str, seen_ports: dict) -> Optional[str]:
    """Why `who` may not have this port (already claimed by another device), or None and claim it."""
    if kind == "sim" or not port or port.startswith("loop://"):
        return None
    same = port_identity(port)
    if same in seen_ports:
        other, written = seen_ports[same]
        alias = f" (both are {same})" if written != port else ""
        return f"port {port} is already used by {other}{alias}"
    seen_ports[same] = (who, port)
    return None
