"""Receiving the registration system's ADT messages over MLLP: who is at which chair.

clinic.toml `[integrations.NAME] kind = "adt"` listens on `host:port` (python-hl7's asyncio
MLLP server, `hl7.mllp.start_hl7_server`, on an event loop in a thread of its own). Each
ADT^A01 (admit), A04 (register) or A08 (update) names the patient in PID-3 (the first
repetition's ID) and the place in PV1-3; `chair_from` says which component of PV1-3 is the
chair (PL.3 bed, PL.2 room, PL.1 point of care). The arrival is kept (store/arrivals.py)
and the chair's opening form offers that patient (admissions.expected_patient); nothing
opens by itself.

Every message is answered (original acknowledgement mode), so the sending interface engine
knows what happened and shows it: AA when kept; AE, with the reason in MSA-3 and ERR-8,
when a field cannot be used (no PID-3, no chair in PV1-3, a reference or chair name the
session rules refuse); AR for a message that is not an ADT A01/A04/A08 or not HL7 at all.
A database that cannot take the arrival answers AE too: the engine keeps it and resends.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

import hl7

from .. import sessions
from ..admissions import EVENTS
from ..exports.hl7_results import text as hl7_text
from ..store import StoreError, arrivals
from .config import Destination
from .mllp_server import ENCODING, MllpServer

log = logging.getLogger("infusion_monitor.integrate")
PLACE = {"point_of_care": 1, "room": 2, "bed": 3}  # PV1-3 (PL) components
FIELD_MAX = 200  # what is kept of MSH-3/4 and MSH-10: a sender cannot fill the database through them


class Refused(ValueError):
    """A message that cannot be used: its ACK code and the reason."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code


def _field(message: hl7.Message, segment: str, field: int, component: int = 1) -> str:
    """A component's text, unescaped (python-hl7's extract_field), '' when the message lacks it."""
    try:
        return str(message.extract_field(segment, 1, field, 1, component)).strip()
    except (IndexError, KeyError):
        return ""


def read_arrival(message: hl7.Message, chair_from: str) -> tuple[str, str, str]:
    """(chair, patient reference, trigger event) of an ADT message; Refused naming what is wrong."""
    code, event = _field(message, "MSH", 9, 1), _field(message, "MSH", 9, 2)
    if code != "ADT" or event not in EVENTS:
        raise Refused("AR", f"MSH-9 {code}^{event}: only ADT^{', ADT^'.join(EVENTS)} are taken")
    for segment in ("PID", "PV1"):
        try:
            message.segment(segment)
        except KeyError:
            raise Refused("AE", f"no {segment} segment") from None
    ref = _field(message, "PID", 3)
    chair = _field(message, "PV1", 3, PLACE[chair_from])
    if not ref:
        raise Refused("AE", "PID-3: no patient identifier")
    if not chair:
        raise Refused("AE", f"PV1-3.{PLACE[chair_from]} ({chair_from}): no chair named")
    try:
        return sessions.chair_name(chair), sessions.patient_ref(ref), event
    except sessions.RuleError as e:
        raise Refused("AE", f"{'PV1-3' if 'Chair' in str(e) else 'PID-3'}: {e}") from None


def answer(store, destination: Destination, text: str, now: float) -> str:
    """The ACK for one received message, the arrival kept when it can be used."""
    try:
        message = hl7.parse(text.replace("\n", "\r"))
        message.segment("MSH")
    except Exception:  # not HL7 at all: python-hl7 raises several kinds
        return _bare_ack("AR", "not an HL7 v2 message")
    control_id = _field(message, "MSH", 10)[:FIELD_MAX]
    try:
        chair, ref, event = read_arrival(message, destination.chair_from)
        sender = "^".join(_field(message, "MSH", n) for n in (3, 4))[:FIELD_MAX]
        arrivals.record(store, chair, ref, event, control_id, sender, now)
        log.info("%s: %s at chair %s (ADT^%s)", destination.name, ref, chair, event)
        return _ack(message, "AA", "", control_id)
    except Refused as e:
        log.warning("%s: refused an ADT message: %s", destination.name, e)
        return _ack(message, e.code, str(e), control_id)
    except StoreError as e:
        return _ack(message, "AE", f"not kept, send again: {e}", control_id)


def _ack(message: hl7.Message, code: str, reason: str, control_id: str) -> str:
    """The ACK built from the message's own MSH (python-hl7's create_ack); one from scratch
    when that MSH is too short or odd for it, so every message is answered."""
    try:
        ack = message.create_ack(code, application="INFUSION-MONITOR")
    except Exception:  # an MSH that ends early or lacks MSH-9's components
        return _bare_ack(code, reason, control_id)
    if reason:
        ack.segment("MSA").assign_field(hl7_text(reason[:200]), 3)
        err = ack.create_segment([ack.create_field(["ERR"])])
        err.assign_field("E" if code != "AA" else "I", 4)
        err.assign_field(hl7_text(reason[:200]), 8)
        ack.append(err)
    return str(ack)


def _bare_ack(code: str, reason: str, control_id: str = "") -> str:
    """An ACK from scratch: to something that is not HL7, or whose MSH cannot be answered from."""
    ack = hl7.parse("MSH|^~\\&|INFUSION-MONITOR||||||ACK|0|P|2.6\rMSA|AR|\r")
    ack.segment("MSA").assign_field(code, 1)
    ack.segment("MSA").assign_field(hl7_text(control_id), 2)
    ack.segment("MSA").assign_field(hl7_text(reason), 3)
    return str(ack)


class AdmissionsListener(MllpServer):
    """The MLLP server of one `adt` destination."""

    def __init__(self, store, destination: Destination, clock: Callable[[], float] = time.time):
        super().__init__(destination.host, destination.port, f"adt-{destination.name}")
        self.store = store
        self.destination = destination
        self.clock = clock

    async def reply(self, block: bytes) -> str:
        text = block.decode(ENCODING, errors="replace")
        try:  # the database write off the loop: other connections are answered meanwhile
            return await asyncio.get_running_loop().run_in_executor(None, answer, self.store, self.destination,
                                                                    text, self.clock())
        except Exception:  # a bug here must not leave the sender without an answer
            log.exception("%s: an ADT message could not be processed", self.destination.name)
            return _bare_ack("AE", "could not be processed; see the monitor's log")
