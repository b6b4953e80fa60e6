"""Which patient the opening form offers for a chair, from the registration system's messages.

A registration (ADT^A04) or admission (A01) names the patient and, in PV1-3, where they
are; an update (A08) says it again. The newest such arrival for a chair, received within
`ARRIVAL_VALID_S`, is offered in the opening form, unless a session on that chair for that
patient was open when it came or has been opened since (the arrival is used). The nurse still
checks it against the wristband and opens the session: nothing opens by itself, so a wrong
or late message can at worst pre-fill a field. Pure: facts in, the choice out.
"""
from __future__ import annotations

from typing import Optional

# An infusion day: a registration from this morning still stands, yesterday's does not.
ARRIVAL_VALID_S = 12 * 3600.0
EVENTS = {"A01": "admitted", "A04": "registered", "A08": "updated"}  # ADT trigger events taken


def expected_patient(arrivals: list[dict], opened: list[dict], now: float) -> Optional[dict]:
    """The arrival to offer (a row of store.arrivals.recent), or None.

    arrivals: the chair's, any order; opened: the chair's sessions open at or after the oldest
    of them (patient_ref, started_at, ended_at)."""
    fresh = [a for a in arrivals if 0 <= now - a["received_at"] <= ARRIVAL_VALID_S]
    if not fresh:
        return None
    newest = max(fresh, key=lambda a: (a["received_at"], a["id"]))
    # used by a session for that patient opened since, or open when it came (an update, A08,
    # during the infusion must not offer the patient again once the session has ended)
    used = any(s["patient_ref"] == newest["patient_ref"]
               and (s.get("ended_at") is None or s["ended_at"] >= newest["received_at"]) for s in opened)
    return None if used else newest
