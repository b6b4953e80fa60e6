"""SQL conditions built from the model's vocabulary, shared by the writer and the queries.

"A valid reading", "an open session" and the alarm board's priority order are decided
in monitor/model.py and monitor/sessions.py; these are the same rules written as SQL.
"""
from __future__ import annotations

from ..model import FLAGGED, PRIORITIES, TOP_PRIORITY
from ..sessions import IMPORTING, OPEN_STATES

# "A valid reading" in SQL: the model's meaning (status not flagged, a value present).
VALID = f"status NOT IN ({', '.join(repr(f) for f in FLAGGED)}) AND value IS NOT NULL"
OPEN = f"state IN ({', '.join(repr(s) for s in OPEN_STATES)})"
# A session the lists show: not one still being written in chunks (transfer.py).
LISTED = f"state != '{IMPORTING}'"
_PRIORITY_ORDER = "CASE priority " + " ".join(f"WHEN '{p}' THEN {i}" for i, p in enumerate(PRIORITIES)) + \
    f" ELSE {len(PRIORITIES)} END"
# What the bedside must show: active alerts, and ended high ones not yet acknowledged.
# sessions.on_alarm_board, as SQL (tests/test_session_rules.py checks they agree)
ALARM_BOARD_SQL = (
    "SELECT * FROM alerts WHERE session_id = ? AND (ended_at IS NULL OR "
    f"(priority = '{TOP_PRIORITY}' AND kind = 'physiological' AND acknowledged_at IS NULL)) "
    f"ORDER BY {_PRIORITY_ORDER}, started_at")
