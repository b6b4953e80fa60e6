"""Retention: removing the records of sessions that ended long ago (`infusion-monitor purge`).

A clinic keeps patient records for as long as its rules say and no longer. Only a session
that has ended can go: an open one (baseline, infusion, recovery) or one still being
written (`importing`) is never touched, whatever its start. Each session goes the way an
aborted import does (store/transfer.py `remove`): hidden first, its readings in short
chunks with the write lock let go between them, so live acquisition on every chair never
waits longer than a chunk. The audit trail is not purged (its triggers refuse a DELETE):
the purge is itself one row in it, written, with the counts, before the first delete, so
a purge cut short is still on the record.
"""
from __future__ import annotations

from typing import Optional

from .. import access, sessions
from ..access import Actor
from ..formatting import counted
from .people import permit, refusals_recorded
from .transfer import remove, remove_abandoned, writer_mark

ENDED = "ended"
COUNTED = ("readings", "alerts", "events")


def plan(store, before: float) -> dict:
    """What a purge of the sessions started before `before` (epoch seconds) would remove:
    {sessions, first_id, last_id, ids, readings, alerts, events}. Reads only."""
    ids = [r["id"] for r in store._query("SELECT id FROM sessions WHERE state = ? AND started_at < ? ORDER BY id",
                                         (ENDED, before))]
    found = {"sessions": len(ids), "ids": ids, "first_id": ids[0] if ids else None,
             "last_id": ids[-1] if ids else None}
    for table in COUNTED:
        found[table] = store._one(
            f"SELECT COUNT(*) AS n FROM {table} WHERE session_id IN "
            "(SELECT id FROM sessions WHERE state = ? AND started_at < ?)", (ENDED, before))["n"]
    return found


def describe(found: dict, before_text: str) -> str:
    """The purge in one line, as the audit row and the command's output say it."""
    ids = f" (ids {found['first_id']}–{found['last_id']})" if found["sessions"] else ""
    return (f"{counted(found['sessions'], 'ended session')} started before {before_text}{ids}: "
            + ", ".join(counted(found[t], t[:-1]) for t in COUNTED))


def purge(store, before: float, before_text: str, actor: Actor, dry_run: bool = False) -> dict:
    """Remove every ended session started before `before`, with all its rows; returns what
    went (plan's keys, counted as each session was removed). dry_run: what would go, and
    nothing written, not even the audit row. The actor's role is checked first (`purge`);
    a refusal is audited, as every refused write is."""
    if dry_run:  # a read-only look: nothing written, not even a refusal
        access.check(actor, "purge")
        return plan(store, before)
    with refusals_recorded(store, actor, "purge"):
        access.check(actor, "purge")
    store.flush()
    remove_abandoned(store)  # a purge or import killed part-way on this machine is finished first
    found = plan(store, before)
    with store._transaction() as conn:
        permit(conn, actor, "purge", detail=describe(found, before_text))
    removed = {"sessions": 0, "ids": [], **{t: 0 for t in COUNTED}}
    for sid in found["ids"]:
        counts = _hide_if_ended(store, sid)
        if counts is None:  # gone meanwhile, or no longer an ended session: left as it is
            continue
        remove(store, sid)
        removed["sessions"] += 1
        removed["ids"].append(sid)
        for table in COUNTED:
            removed[table] += counts[table]
    removed["first_id"] = removed["ids"][0] if removed["ids"] else None
    removed["last_id"] = removed["ids"][-1] if removed["ids"] else None
    return removed


def _hide_if_ended(store, sid: int) -> Optional[dict]:
    """Hide the session as this process's removal (store/transfer.py) only if it is still an
    ended one, in the same transaction that counts its rows; None when it is not."""
    with store._transaction() as conn:
        hidden = conn.execute("UPDATE sessions SET state = ?, ended_by = ? WHERE id = ? AND state = ?",
                              (sessions.IMPORTING, writer_mark(), sid, ENDED)).rowcount
        if hidden != 1:
            return None
        return {table: conn.execute(f"SELECT COUNT(*) AS n FROM {table} WHERE session_id = ?",
                                    (sid,)).fetchone()["n"] for table in COUNTED}
