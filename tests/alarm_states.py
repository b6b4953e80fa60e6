"""Test helpers for the alarm states paged out (tests/test_export_hl7_alerts.py,
tests/test_alerts_out.py). The engine does not set `alerts.escalated_at` yet (another change
makes it): until then a test escalates an alarm with the store's own write here, an UPDATE
that fires the same forward_log trigger the engine's upsert will."""
from __future__ import annotations


def escalate(store, alert_id: int, ts: float) -> None:
    """Mark the alarm escalated at `ts` (unacknowledged past its profile's time)."""
    with store._transaction() as conn:
        conn.execute("UPDATE alerts SET escalated_at = ? WHERE id = ?", (ts, alert_id))
