"""The `[integrations]` section of clinic.toml: where results go, checked whole before anything is sent.

    [integrations]
    facility = "NORTH"                 # MSH-4, who is sending (optional)
    application = "INFUSION-MONITOR"   # MSH-3 (optional; this is the default)

    [integrations.ehr]                 # a destination; any name of letters, digits, - and _
    kind = "mllp"                      # HL7 v2 over MLLP to an interface engine
    host = "10.20.0.5"
    port = 2575
    send = ["results"]                 # ORU^R01: NIBP, vital signs per interval, charted events
    vitals_every_s = 60                # one message per interval of HR/SpO2/RR/EtCO2 (its median)
    receiving_application = "EPIC"     # MSH-5, MSH-6 (optional)
    receiving_facility = "MAIN"
    connect_timeout_s = 10             # optional, as are the two below
    ack_timeout_s = 30
    retry_max_s = 60                   # the longest wait between tries of an undelivered message

Like the rest of clinic.toml it is all or nothing: an unknown key, a value outside its sane
range (`sane_ranges.INTEGRATION`), or a text HL7 would split (`|^~\\&`, a line break) is
refused with the file and the key, so a typo never quietly sends nowhere. Pure: no I/O
beyond what the caller read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..sane_ranges import INTEGRATION as RANGES

KINDS = ("mllp",)
SENDS = ("results",)  # what a destination can be sent (docs/ARCHITECTURE.md, "Integrations")
DEFAULT_APPLICATION = "INFUSION-MONITOR"
TOP_KEYS = {"facility": str, "application": str}
DESTINATION_KEYS = {"kind": str, "host": str, "port": int, "send": list, "vitals_every_s": int,
                    "receiving_application": str, "receiving_facility": str,
                    "connect_timeout_s": (int, float), "ack_timeout_s": (int, float), "retry_max_s": (int, float)}
REQUIRED = ("kind", "host", "port")
DEFAULTS = {"vitals_every_s": 60, "connect_timeout_s": 10.0, "ack_timeout_s": 30.0, "retry_max_s": 60.0}
NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
HL7_UNSAFE = re.compile(r"[|^~\\&\r\n\x00-\x1f]")


class IntegrationsError(ValueError):
    """An [integrations] section that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class Destination:
    """One configured receiver of messages, as clinic.toml says it."""
    name: str
    kind: str
    host: str
    port: int
    sends: tuple[str, ...] = ("results",)
    vitals_every_s: int = 60
    receiving_application: str = ""
    receiving_facility: str = ""
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 30.0
    retry_max_s: float = 60.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Integrations:
    application: str = DEFAULT_APPLICATION
    facility: str = ""
    destinations: tuple[Destination, ...] = field(default_factory=tuple)

    def sending(self, what: str) -> tuple[Destination, ...]:
        """The destinations configured to be sent `what` (one of SENDS)."""
        return tuple(d for d in self.destinations if what in d.sends)


def parse_integrations(where: str | Path, section) -> Integrations:
    """The checked [integrations] table of a clinic.toml (`where` names the file in errors)."""
    if section is None:
        return Integrations()
    if not isinstance(section, dict):
        raise IntegrationsError(f"{where}: integrations: expected a table ([integrations])")
    top = {k: v for k, v in section.items() if not isinstance(v, dict)}
    for key, value in top.items():
        if key not in TOP_KEYS:
            raise IntegrationsError(f"{where}: integrations.{key}: unknown key (facility, application, "
                                    "or a destination table such as [integrations.ehr])")
        _check_text(where, f"integrations.{key}", value)
    destinations = tuple(_destination(where, name, table) for name, table in section.items()
                         if isinstance(table, dict))
    seen: dict[str, str] = {}
    for d in destinations:
        if d.address in seen:
            raise IntegrationsError(f"{where}: integrations.{d.name}: {d.address} is already "
                                    f"integrations.{seen[d.address]}; one destination per receiver")
        seen[d.address] = d.name
    return Integrations(application=top.get("application", DEFAULT_APPLICATION) or DEFAULT_APPLICATION,
                        facility=top.get("facility", ""), destinations=destinations)


def _destination(where, name: str, table: dict) -> Destination:
    key = f"integrations.{name}"
    if not NAME.fullmatch(name):
        raise IntegrationsError(f"{where}: {key}: a destination's name is 1-40 letters, digits, - or _")
    unknown = sorted(set(table) - set(DESTINATION_KEYS))
    if unknown:
        raise IntegrationsError(f"{where}: {key}.{unknown[0]}: unknown key")
    for k in REQUIRED:
        if k not in table:
            raise IntegrationsError(f"{where}: {key}.{k}: missing")
    for k, v in table.items():
        want = DESTINATION_KEYS[k]
        if isinstance(v, bool) or not isinstance(v, want):
            kind = {int: "a whole number", str: "a text", list: "a list"}.get(want, "a number")
            raise IntegrationsError(f"{where}: {key}.{k}: expected {kind}, got {v!r}")
    if table["kind"] not in KINDS:
        raise IntegrationsError(f"{where}: {key}.kind: {table['kind']!r} is not one of {', '.join(KINDS)}")
    host = table["host"].strip()
    if not host or any(c.isspace() or c in "/@" for c in host):
        raise IntegrationsError(f"{where}: {key}.host: expected a host name or address, got {table['host']!r}")
    for k in ("receiving_application", "receiving_facility"):
        if k in table:
            _check_text(where, f"{key}.{k}", table[k])
    for k in sorted(set(RANGES) & set(table)):
        why = RANGES[k].problem(table[k])
        if why:
            raise IntegrationsError(f"{where}: {key}.{k}: {why}")
    sends = table.get("send", ["results"])
    if not sends or any(s not in SENDS for s in sends):
        bad = next((s for s in sends if s not in SENDS), None)
        raise IntegrationsError(f"{where}: {key}.send: " + (f"{bad!r} is not one of {', '.join(SENDS)}" if sends
                                                            else f"empty; give one or more of {', '.join(SENDS)}"))
    options = {k: table.get(k, DEFAULTS[k]) for k in DEFAULTS}
    return Destination(name=name, kind=table["kind"], host=host, port=table["port"],
                       sends=tuple(dict.fromkeys(sends)),
                       receiving_application=table.get("receiving_application", ""),
                       receiving_facility=table.get("receiving_facility", ""),
                       vitals_every_s=options["vitals_every_s"],
                       connect_timeout_s=float(options["connect_timeout_s"]),
                       ack_timeout_s=float(options["ack_timeout_s"]), retry_max_s=float(options["retry_max_s"]))


def _check_text(where, key: str, value) -> None:
    if not isinstance(value, str):
        raise IntegrationsError(f"{where}: {key}: expected a text, got {value!r}")
    if len(value) > 180 or HL7_UNSAFE.search(value):
        raise IntegrationsError(f"{where}: {key}: {value!r} cannot go into an HL7 header "
                                "(at most 180 characters, none of | ^ ~ \\ & or a line break)")
