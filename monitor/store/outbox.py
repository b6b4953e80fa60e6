"""The outbox: messages for other systems, queued durably, sent in order (issue 15).

A producer (the HL7 results builder, later JSON or FHIR ones) turns a session's record into
message texts and queues them here with `enqueue`; a sender (monitor/integrations/mllp.py)
takes the head of a destination's queue with `due`, and says how it went with `delivered`
or `failed`. The bedside never waits for the other system: queuing is one short local
transaction, and a receiver that is down only makes the queue longer.

Why it is built this way:
- **Queued once.** A message is named by its producer (`message_key`: the same result always
  gets the same key), and `(destination, message_key)` is unique, so a producer that runs
  again over the same session (after a restart, or a pass cut short) queues nothing twice.
- **The producer's progress commits with its messages.** `enqueue(..., progress=...)` writes
  how far it has queued a session (`outbox_progress`) in the same transaction as the
  messages: a producer killed between the two can neither skip results nor re-queue them.
- **Strictly in id order per destination.** HL7 results must arrive in the order they were
  made (a correction after what it corrects), so a failing head blocks everything behind it
  (`due`), and ids are never given twice (schema version 6: AUTOINCREMENT / an identity).
- **Delivered means removed.** A delivered message is deleted and counted (`outbox_sent`), so
  the queue is only what is still owed; the admin page shows its depth and its head's trouble.
- **Set aside, never dropped.** A head the receiver refuses for good (an AR) would hold
  every later message back for ever. An administrator may move it out of the way with
  `set_aside`, naming why: it is kept whole (`outbox_set_aside`, schema version 7) with who set
  it aside, when and why, in the same transaction as the audit row, for the interface team to
  mend and send again by hand.

Times are epoch seconds passed in by the caller (`now`): the store keeps no clock, and the
sender's tests move theirs by hand.
"""
from __future__ import annotations

from typing import Callable, Optional

from .. import access
from ..access import Actor
from ..sessions import RuleError
from .errors import Conflict, NotFound
from .rows import marks

ITEM_KEYS = ("kind", "message_key", "control_id", "session_id", "about_ts", "payload")
KINDS = ("hl7", "json", "fhir")
COLUMNS = ("id", "destination", "kind", "message_key", "control_id", "session_id", "about_ts", "payload",
           "queued_at", "attempts", "next_try", "last_try", "last_error", "last_answered")
SET_ASIDE_COLUMNS = ("id", "outbox_id", "destination", "kind", "message_key", "control_id", "session_id", "about_ts",
                     "payload", "queued_at", "attempts", "last_error", "set_aside_at", "set_aside_by", "reason",
                     "delivered_at")
REASON_MIN = 5     # a reason is words somebody can act on later, not "x"
REASON_MAX = 200   # fits in the audit row's detail ahead of the message's particulars


def _checked(item: dict) -> tuple:
    """An item's values in ITEM_KEYS order; Conflict (nothing queued) for a malformed one, so a
    producer's bug is refused whole rather than half-queued."""
    missing = [k for k in ITEM_KEYS if k not in item]
    if missing:
        raise Conflict(f"outbox item lacks {', '.join(missing)}")
    if item["kind"] not in KINDS:
        raise Conflict(f"outbox item kind {item['kind']!r}: one of {', '.join(KINDS)}")
    if not item["message_key"] or not isinstance(item["payload"], str):
        raise Conflict("outbox item needs a message_key and a text payload")
    return tuple(item[k] for k in ITEM_KEYS)


def enqueue(store, destination: str, items: list[dict], *, progress: Optional[tuple[int, float, int]] = None,
            cursors: Optional[dict[str, int]] = None, now: float) -> int:
    """Queue `items` (dicts with ITEM_KEYS) for `destination`, in list order; a message whose key
    is already queued (or was, and is still there) is left as it is. With `progress` =
    (session_id, results_through, events_through), how far the producer has queued that session
    is written in the same transaction; so are `cursors` ({stream: position}, `cursor`). Returns
    how many messages were new."""
    rows = [_checked(item) for item in items]
    new = 0
    with store._transaction() as conn:
        for row in rows:
            new += conn.execute(
                "INSERT INTO outbox (destination, kind, message_key, control_id, session_id, about_ts, payload, "
                "queued_at, next_try) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (destination, message_key) DO NOTHING", (destination, *row, now, now)).rowcount
        if progress is not None:
            session_id, results_through, events_through, *seen = progress
            conn.execute(
                "INSERT INTO outbox_progress (destination, session_id, results_through, events_through, "
                "readings_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT (destination, session_id) DO UPDATE SET "
                "results_through = excluded.results_through, events_through = excluded.events_through, "
                "readings_seen = COALESCE(excluded.readings_seen, outbox_progress.readings_seen)",
                (destination, session_id, results_through, events_through, seen[0] if seen else None))
        for stream, position in (cursors or {}).items():
            conn.execute("INSERT INTO outbox_cursors (destination, stream, position) VALUES (?, ?, ?) "
                         "ON CONFLICT (destination, stream) DO UPDATE SET position = excluded.position",
                         (destination, stream, position))
    return new


def cursor(store, destination: str, stream: str) -> Optional[int]:
    """How far a producer has read `stream` for this destination (outbox_cursors); None before
    its first enqueue with that cursor."""
    return cursors(store, destination, [stream]).get(stream)


def cursors(store, destination: str, streams: list[str]) -> dict[str, int]:
    """{stream: position} of those of `streams` this destination has a cursor for."""
    out: dict[str, int] = {}
    for i in range(0, len(streams), 500):
        part = list(streams[i:i + 500])
        out.update((r["stream"], r["position"]) for r in store._query(
            f"SELECT stream, position FROM outbox_cursors WHERE destination = ? AND stream IN ({marks(part)})",
            (destination, *part)))
    return out


def progress(store, destination: str, session_id: int) -> tuple[Optional[float], Optional[int]]:
    """(results_through, events_through) a producer has queued of this session for this
    destination; (None, None) before its first enqueue with progress."""
    row = store._one("SELECT results_through, events_through FROM outbox_progress "
                     "WHERE destination = ? AND session_id = ?", (destination, session_id))
    return (row["results_through"], row["events_through"]) if row else (None, None)


def readings_seen(store, destination: str, session_id: int) -> Optional[int]:
    """The newest reading id of this session a producer had seen at its last enqueue (None
    before): a reading stored after it, timed before what was sent, is a late one."""
    row = store._one("SELECT readings_seen FROM outbox_progress WHERE destination = ? AND session_id = ?",
                     (destination, session_id))
    return row["readings_seen"] if row else None


def watch_since(store, destination: str, now: float) -> float:
    """When this destination was first fed (recorded now, the first time it is asked): a
    producer sends what ended after about then, not the database's whole history."""
    row = store._one("SELECT watching_since FROM outbox_destinations WHERE destination = ?", (destination,))
    if row:
        return row["watching_since"]
    with store._transaction() as conn:
        conn.execute("INSERT INTO outbox_destinations (destination, watching_since) VALUES (?, ?) "
                     "ON CONFLICT (destination) DO NOTHING", (destination, now))
        return conn.execute("SELECT watching_since FROM outbox_destinations WHERE destination = ?",
                            (destination,)).fetchone()["watching_since"]


def claim_sender(store, destination: str, sender: str, now: float, stale_after_s: float,
                 gone: Callable[[str], bool] = lambda holder: False) -> Optional[str]:
    """Take or renew the right to send this destination's queue: None when `sender` has it now,
    else who has it. Two processes sending one queue (`integrate` beside `run --config`) would
    put two messages in flight and break the order, so one holds it and renews it as it goes;
    one silent for `stale_after_s`, or `gone` (a process of this machine that has died), is
    taken over."""
    with store._transaction() as conn:
        row = conn.execute("SELECT sender, sender_beat FROM outbox_destinations WHERE destination = ?",
                           (destination,)).fetchone()
        if row is None:
            conn.execute("INSERT INTO outbox_destinations (destination, watching_since, sender, sender_beat) "
                         "VALUES (?, ?, ?, ?)", (destination, now, sender, now))
            return None
        holder, beat = row[0], row[1]
        if holder not in (None, sender) and beat is not None and now - beat <= stale_after_s and not gone(holder):
            return holder
        conn.execute("UPDATE outbox_destinations SET sender = ?, sender_beat = ? WHERE destination = ?",
                     (sender, now, destination))
    return None


def release_sender(store, destination: str, sender: str) -> None:
    """Give the queue up (a clean stop), so another process may send it at once."""
    with store._transaction() as conn:
        conn.execute("UPDATE outbox_destinations SET sender = NULL, sender_beat = NULL "
                     "WHERE destination = ? AND sender = ?", (destination, sender))


def due(store, destination: str, now: float, limit: int = 100) -> list[dict]:
    """The head of the destination's queue, in id order, up to `limit` messages: empty while the
    head waits out its backoff (`next_try` > now), since nothing may overtake it. Only the head
    is ever tried and failed (a sender stops at a failure), but the run also ends before any
    later row not yet due, so what is returned is always safe to send in order."""
    rows = store._query(f"SELECT {', '.join(COLUMNS)} FROM outbox WHERE destination = ? ORDER BY id LIMIT ?",
                        (destination, limit))
    out = []
    for row in rows:
        if row["next_try"] is not None and row["next_try"] > now:
            break
        out.append(row)
    return out


def delivered(store, row_id: int, now: float) -> bool:
    """The receiver took the message: removed from the queue and counted for its destination,
    in one transaction. False when it was no longer queued; if it had been set aside while this
    try was on its way, the set-aside record says it was delivered after all, and it is counted."""
    with store._transaction() as conn:
        row = conn.execute("DELETE FROM outbox WHERE id = ? RETURNING destination", (row_id,)).fetchall()
        if not row:  # set aside while this try was on its way, and taken after all: say so, and count it
            row = conn.execute("UPDATE outbox_set_aside SET delivered_at = ? WHERE outbox_id = ? AND delivered_at IS NULL "
                               "RETURNING destination", (now, row_id)).fetchall()
            if row:
                _count_sent(conn, row[0]["destination"], now)
            return False
        _count_sent(conn, row[0]["destination"], now)
    return True


def _count_sent(conn, destination: str, now: float) -> None:
    conn.execute("INSERT INTO outbox_sent (destination, sent, last_sent_at) VALUES (?, 1, ?) "
                 "ON CONFLICT (destination) DO UPDATE SET sent = outbox_sent.sent + 1, "
                 "last_sent_at = excluded.last_sent_at", (destination, now))


def failed(store, row_id: int, error: str, next_try: float, now: float, answered: bool = False) -> bool:
    """A try that did not end in the receiver's acceptance: counted, its one-line reason kept,
    and the message not tried again before `next_try`. answered: the receiver itself refused it
    (delivery.Refused), not a failure to reach it. False when it was no longer queued."""
    with store._transaction() as conn:
        return conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_try = ?, last_try = ?, "
                            "last_answered = ? WHERE id = ?",
                            (error, next_try, now, 1 if answered else 0, row_id)).rowcount == 1


def set_aside(store, destination: str, head_id: int, actor: Actor, reason: str, now: float) -> dict:
    """Move the head of the destination's queue out of the way, so the messages behind it go:
    only a head the receiver itself refused at its last try (`last_answered`; one it could not
    reach would only pass the wait on), and only the one the person saw (`head_id`:
    Conflict if the head is another by now, or was delivered meanwhile). The message is kept
    whole in `outbox_set_aside` with who, when and why, in one transaction with the audit row;
    the role is checked there too (action "outbox_set_aside"); a refusal is itself audited.
    Returns the set-aside row."""
    from . import people
    with people.refusals_recorded(store, actor, "outbox_set_aside"):
        return _set_aside(store, destination, head_id, actor, reason, now)


def _set_aside(store, destination: str, head_id: int, actor: Actor, reason: str, now: float) -> dict:
    from . import people
    access.check(actor, "outbox_set_aside")
    reason = " ".join(str(reason or "").split())
    if len(reason) < REASON_MIN:
        raise RuleError(f"Reason: say why the message is set aside (at least {REASON_MIN} characters)")
    if len(reason) > REASON_MAX:
        raise RuleError(f"Reason: at most {REASON_MAX} characters (this one has {len(reason)})")
    if isinstance(head_id, bool) or not isinstance(head_id, int):
        raise RuleError(f"Message: the id of the first waiting message, a whole number (not {head_id!r})")
    with store._transaction() as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM outbox WHERE destination = ? ORDER BY id LIMIT 1",
                            (destination,)).fetchall()
        head = dict(rows[0]) if rows else None
        if head is None:
            known = conn.execute("SELECT 1 FROM outbox_sent WHERE destination = ? UNION ALL "
                                 "SELECT 1 FROM outbox_destinations WHERE destination = ? UNION ALL "
                                 "SELECT 1 FROM outbox_set_aside WHERE destination = ?",
                                 (destination, destination, destination)).fetchall()
            raise NotFound(f"{destination}: nothing is waiting (the message may have been delivered)" if known else
                           f"no destination named {destination!r} has queued anything (see integrate --status)")
        if int(head["id"]) != head_id:
            raise Conflict(f"{destination}: message {head_id} is no longer the first waiting "
                           f"(delivered or set aside meanwhile; message {head['id']} is); look again")
        if not head["attempts"]:
            raise Conflict(f"{destination}: message {head_id} has not been tried yet; only a message the "
                           "receiver refused may be set aside")
        if not head["last_answered"]:
            raise Conflict(f"{destination}: message {head_id} was not refused by the receiver, which its last try "
                           f"did not reach ({head['last_error'] or 'no reason'}); setting it aside would only make "
                           "the next message wait for the same")
        people.permit(conn, actor, "outbox_set_aside", session_id=head["session_id"],
                      detail=f"{destination}: message {head['id']} set aside: {reason} ({head['message_key']}, "
                             f"control id {head['control_id'] or '-'}, {head['attempts']} tries; last: "
                             f"{head['last_error'] or '-'})")
        conn.execute("DELETE FROM outbox WHERE id = ?", (head["id"],))
        names = [c for c in SET_ASIDE_COLUMNS if c not in ("id", "delivered_at")]
        values = {**{c: head[c] for c in COLUMNS if c in names}, "outbox_id": head["id"],
                  "set_aside_at": now, "set_aside_by": actor.name, "reason": reason}
        row = conn.execute(f"INSERT INTO outbox_set_aside ({', '.join(names)}) VALUES ({marks(names)}) "
                           f"RETURNING {', '.join(SET_ASIDE_COLUMNS)}", [values[c] for c in names]).fetchall()
    return dict(row[0])


def set_aside_messages(store, destination: Optional[str] = None, limit: Optional[int] = 100) -> list[dict]:
    """The messages set aside, newest first (all destinations, or one; limit None: all)."""
    where, args = ("WHERE destination = ? ", [destination]) if destination else ("", [])
    if limit is not None:
        args.append(int(limit))
    return store._query(f"SELECT {', '.join(SET_ASIDE_COLUMNS)} FROM outbox_set_aside {where}"
                        f"ORDER BY id DESC{' LIMIT ?' if limit is not None else ''}", args)


def queue_status(store, now: float) -> list[dict]:
    """Per destination (queued to or sent to), by name: depth, oldest_queued_at, oldest_age_s,
    head_id, head_message_key, head_control_id, head_attempts, head_answered, head_last_error, head_next_try, sent,
    last_sent_at, sender, sender_beat, set_aside (how many); what the admin page shows ("12 waiting,
    oldest 3 min; last error ...; 4810 sent, last at ...")."""
    queues = {r["destination"]: r for r in store._query(
        "SELECT destination, COUNT(*) AS depth, MIN(queued_at) AS oldest_queued_at, MIN(id) AS head_id "
        "FROM outbox GROUP BY destination")}
    heads = {}
    head_ids = [q["head_id"] for q in queues.values()]
    if head_ids:
        heads = {r["destination"]: r for r in store._query(
            f"SELECT id, destination, message_key, control_id, attempts, last_error, next_try, last_answered FROM outbox "
            f"WHERE id IN ({marks(head_ids)})",
            head_ids)}
    sent = {r["destination"]: r for r in store._query("SELECT destination, sent, last_sent_at FROM outbox_sent")}
    senders = {r["destination"]: r for r in store._query(
        "SELECT destination, sender, sender_beat FROM outbox_destinations")}
    aside = {r["destination"]: r["n"] for r in store._query(
        "SELECT destination, COUNT(*) AS n FROM outbox_set_aside GROUP BY destination")}
    out = []
    for destination in sorted(set(queues) | set(sent) | set(aside)):
        q, h, s = queues.get(destination), heads.get(destination), sent.get(destination)
        who = senders.get(destination) or {}
        oldest = q["oldest_queued_at"] if q else None
        out.append({
            "destination": destination,
            "depth": q["depth"] if q else 0,
            "oldest_queued_at": oldest,
            "oldest_age_s": max(0.0, now - oldest) if oldest is not None else None,
            "head_id": h["id"] if h else None,
            "head_message_key": h["message_key"] if h else None,
            "head_control_id": h["control_id"] if h else None,
            "head_attempts": h["attempts"] if h else None,
            "head_answered": bool(h["last_answered"]) if h else None,  # its last failure: the receiver's refusal
            "head_last_error": h["last_error"] if h else None,
            "head_next_try": h["next_try"] if h else None,
            "sent": s["sent"] if s else 0,
            "last_sent_at": s["last_sent_at"] if s else None,
            "sender": who.get("sender"),  # the process sending it (claim_sender), None when none is
            "sender_beat": who.get("sender_beat"),
            "set_aside": aside.get(destination, 0),
        })
    return out
