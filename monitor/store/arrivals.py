"""Patients the registration system says are at a chair (ADT^A01/A04/A08, integrations/adt_in.py).

An arrival only offers a patient reference to the opening form (`admissions.expected_patient`
decides which); it opens nothing and changes no session, so a wrong or late message can at
worst pre-fill a field the nurse checks against the wristband.
"""
from __future__ import annotations


def record(store, chair: str, patient_ref: str, event: str, control_id: str, sender: str, now: float) -> int:
    """Keep one arrival; its id."""
    with store._transaction() as conn:
        return conn.execute(
            "INSERT INTO arrivals (chair, patient_ref, event, control_id, sender, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id", (chair, patient_ref, event, control_id, sender, now)
        ).fetchone()[0]


def recent(store, chair: str, since: float) -> list[dict]:
    """This chair's arrivals received at or after `since`, newest first."""
    return store._query("SELECT id, chair, patient_ref, event, control_id, sender, received_at FROM arrivals "
                        "WHERE chair = ? AND received_at >= ? ORDER BY received_at DESC, id DESC", (chair, since))


def opened_since(store, chair: str, since: float) -> list[dict]:
    """The sessions of this chair open at or after `since` (patient_ref, started_at, ended_at):
    an arrival for a patient whose session was open then or opened later is used."""
    return store._query("SELECT patient_ref, started_at, ended_at FROM sessions WHERE chair = ? "
                        "AND (ended_at IS NULL OR ended_at >= ?)", (chair, since))
