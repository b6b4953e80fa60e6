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
ON_BOARD = (f"(a.ended_at IS NULL OR (a.priority = '{TOP_PRIORITY}' AND a.kind = 'physiological' "
            "AND a.acknowledged_at IS NULL))")
ALARM_BOARD_SQL = (
    "SELECT * FROM alerts a WHERE session_id = ? AND " + ON_BOARD + " "
    f"ORDER BY {_PRIORITY_ORDER}, started_at")
# The escalated alarms every page shows (web/escalation.py): escalated (alerts/escalation.py decided
# it), still on the board of a chair's open session and nobody has signed for them.
# Asked by every open page each second: the open sessions first, then their alarms by index.
ESCALATED_SQL = (
    "SELECT a.id, a.session_id, a.rule, a.kind, a.priority, a.message, a.started_at, a.escalated_at, s.chair "
    "FROM alerts a JOIN sessions s ON s.id = a.session_id "
    f"WHERE a.session_id IN (SELECT id FROM sessions WHERE {OPEN} AND {LISTED}) "
    f"AND a.escalated_at IS NOT NULL AND a.acknowledged_at IS NULL AND {ON_BOARD} "
    "ORDER BY a.escalated_at, a.id")
