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

    [integrations.pager]               # alarms to a pager or phone system without an interface engine
    kind = "webhook"                   # JSON POSTed to url (README, "Integrations")
    url = "https://pager.example.org/hooks/infusion"
    send = ["alerts"]                  # raised, escalated, acknowledged, ended
    token_env = "PAGER_TOKEN"          # optional: a bearer token, read from this environment variable

    [integrations.fhir]
    kind = "fhir"                      # the session's FHIR R4 transaction Bundle when it ends
    url = "https://fhir.example.org/r4"
    send = ["sessions"]

    [integrations.registration]        # the other way: ADT^A01/A04/A08 from the registration system
    kind = "adt"                       # received over MLLP; the opening form offers the patient it names
    host = "0.0.0.0"                   # where to listen (default 127.0.0.1: this machine only)
    port = 2576
    chair_from = "bed"                 # the PV1-3 component naming the chair: bed, room or point_of_care

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

KINDS = ("mllp", "webhook", "fhir", "adt")
# What each kind of destination can be sent, the first its default (docs/ARCHITECTURE.md, "Integrations"):
# results: ORU^R01; alerts: each alarm's raise, escalation, acknowledgement and end (ORU^R40 over
# MLLP, JSON to a webhook); sessions: a session's FHIR transaction Bundle when it ends.
# adt is the one that receives: the registration system's ADT messages, nothing sent back but ACKs.
SENDS = {"mllp": ("results", "alerts"), "webhook": ("alerts",), "fhir": ("sessions",), "adt": ()}
CHAIR_FROM = ("bed", "room", "point_of_care")  # the PV1-3 component (PL.3, PL.2, PL.1) naming the chair
DEFAULT_APPLICATION = "INFUSION-MONITOR"
TOP_KEYS = {"facility": str, "application": str}
DESTINATION_KEYS = {"kind": str, "host": str, "port": int, "url": str, "token_env": str, "send": list,
                    "vitals_every_s": int, "receiving_application": str, "receiving_facility": str,
                    "connect_timeout_s": (int, float), "ack_timeout_s": (int, float), "retry_max_s": (int, float),
                    "chair_from": str}
# The keys each kind needs, and those that mean nothing to it (refused: a typo'd kind must not pass).
REQUIRED = {"mllp": ("host", "port"), "webhook": ("url",), "fhir": ("url",), "adt": ("port",)}
ONLY_FOR = {"host": ("mllp", "adt"), "port": ("mllp", "adt"), "vitals_every_s": ("mllp",),
            "receiving_application": ("mllp",), "receiving_facility": ("mllp",), "url": ("webhook", "fhir"),
            "token_env": ("webhook", "fhir"), "chair_from": ("adt",), "send": ("mllp", "webhook", "fhir"),
            "connect_timeout_s": ("mllp", "webhook", "fhir"), "ack_timeout_s": ("mllp", "webhook", "fhir"),
            "retry_max_s": ("mllp", "webhook", "fhir")}
URL = re.compile(r"https?://[^\s/@]+(:\d{1,5})?(/[^\s]*)?")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
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
    host: str = ""
    port: int = 0
    url: str = ""              # webhook, fhir: where to POST
    token_env: str = ""        # webhook, fhir: the environment variable holding a bearer token, if any
    sends: tuple[str, ...] = ("results",)
    chair_from: str = "bed"    # adt: which PV1-3 component names the chair
    vitals_every_s: int = 60
    receiving_application: str = ""
    receiving_facility: str = ""
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 30.0
    retry_max_s: float = 60.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if self.kind == "mllp" else self.url


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
    for k, v in table.items():
        want = DESTINATION_KEYS[k]
        if isinstance(v, bool) or not isinstance(v, want):
            kind = {int: "a whole number", str: "a text", list: "a list"}.get(want, "a number")
            raise IntegrationsError(f"{where}: {key}.{k}: expected {kind}, got {v!r}")
    if "kind" not in table:
        raise IntegrationsError(f"{where}: {key}.kind: missing ({', '.join(KINDS)})")
    kind = table["kind"]
    if kind not in KINDS:
        raise IntegrationsError(f"{where}: {key}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    for k in REQUIRED[kind]:
        if k not in table:
            raise IntegrationsError(f"{where}: {key}.{k}: missing (kind {kind} needs "
                                    f"{' and '.join(REQUIRED[kind])})")
    for k in sorted(table):
        if k in ONLY_FOR and kind not in ONLY_FOR[k]:
            raise IntegrationsError(f"{where}: {key}.{k}: means nothing to kind {kind}")
    host = table.get("host", "127.0.0.1" if kind == "adt" else "").strip()
    if kind in ("mllp", "adt") and (not host or any(c.isspace() or c in "/@" for c in host)):
        raise IntegrationsError(f"{where}: {key}.host: expected a host name or address, got {table['host']!r}")
    url = table.get("url", "").strip()
    if kind in ("webhook", "fhir") and not URL.fullmatch(url):
        raise IntegrationsError(f"{where}: {key}.url: expected an http:// or https:// address without a "
                                f"password in it, got {table['url']!r}")
    if "token_env" in table and not ENV_NAME.fullmatch(table["token_env"]):
        raise IntegrationsError(f"{where}: {key}.token_env: the name of an environment variable, "
                                f"got {table['token_env']!r}")
    for k in ("receiving_application", "receiving_facility"):
        if k in table:
            _check_text(where, f"{key}.{k}", table[k])
    for k in sorted(set(RANGES) & set(table)):
        why = RANGES[k].problem(table[k])
        if why:
            raise IntegrationsError(f"{where}: {key}.{k}: {why}")
    if table.get("chair_from", "bed") not in CHAIR_FROM:
        raise IntegrationsError(f"{where}: {key}.chair_from: {table['chair_from']!r} is not one of "
                                f"{', '.join(CHAIR_FROM)} (the PV1-3 component that names the chair)")
    can = SENDS[kind]
    sends = table.get("send", list(can[:1]))
    if can and (not sends or any(s not in can for s in sends)):
        bad = next((s for s in sends if s not in can), None)
        raise IntegrationsError(f"{where}: {key}.send: " + (
            f"{bad!r} is not one of {', '.join(can)} (what kind {kind} takes)" if sends
            else f"empty; give one or more of {', '.join(can)}"))
    options = {k: table.get(k, DEFAULTS[k]) for k in DEFAULTS}
    return Destination(name=name, kind=kind, host=host, port=table.get("port", 0), url=url,
                       token_env=table.get("token_env", ""), sends=tuple(dict.fromkeys(sends)),
                       chair_from=table.get("chair_from", "bed"),
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
