"""Test helpers for the alarm states paged out (tests/test_export_hl7_alerts.py,
tests/test_alerts_out.py). The engine sets `alerts.escalated_at` (alerts/escalation.py) while
it plays a session; a test that signs for an alarm afterwards, at a time in the past, sets the
escalation the engine would then have decided with the store's own write here, an UPDATE that
fires the same forward_log trigger the engine's upsert does."""
from __future__ import annotations


def escalate(store, alert_id: int, ts) -> None:
    """Mark the alarm escalated at `ts` (unacknowledged past its profile's time); None: it was
    signed for in time and did not escalate."""
    with store._transaction() as conn:
        conn.execute("UPDATE alerts SET escalated_at = ? WHERE id = ?", (ts, alert_id))
