"""What every sender of the outbox shares (MLLP in mllp.py, HTTP in http_sender.py): the pass
over one destination's queue, the backoff, and the one-line reason.

Why one pass for every transport: the outbox's promises (store/outbox.py) are kept here, once,
whatever carries the message: strictly in id order, one message in flight, a failure stops the
pass and leaves the head queued with its reason and a doubling backoff (`retry_min_s`, then
twice that, ... at most `retry_max_s`: a receiver down for an hour is tried about once a
minute), removed only when the receiver took it. A transport only says how one try went.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..store import outbox

REASON_MAX = 300  # a reason is one line the admin page shows
RETRY_MIN_S = 2.0


class Refused(str):
    """Why not, when the receiver itself answered and did not take the message (an AR or AE, an
    HTTP 4xx/5xx, a failed transaction entry), as opposed to not reaching it at all (no
    connection, no answer): only such a head may be set aside (store.outbox.set_aside), since
    setting aside a message nobody could reach only moves the wait to the next one."""


def backoff(attempts_before: int, retry_min_s: float, retry_max_s: float) -> float:
    """How long a head that has now failed `attempts_before + 1` times waits before its next try."""
    return min(retry_max_s, retry_min_s * 2 ** min(attempts_before, 62))


def one_line(text: str) -> str:
    """A reason as the admin page shows it: one line, at most REASON_MAX characters."""
    return " ".join(str(text).split())[:REASON_MAX]


def send_in_order(store, name: str, where: str, clock: Callable[[], float], limit: Optional[int],
                  exchange: Callable[[dict], Optional[str]], wait_s: Callable[[int], float],
                  after_failure: Callable[[], None] = lambda: None) -> dict:
    """Send destination `name`'s due messages in id order with `exchange(row)` (None: the receiver
    took it; else why not, a `Refused` when the receiver answered so), until the queue is empty, `limit` went, or one fails: then
    `after_failure()` (a transport drops its connection), and the head is kept with the reason
    (prefixed by `where`, the receiver) and retried after `wait_s(attempts before this one)`.
    Returns {"sent": n, "failed": the reason or None}. Database trouble leaves as a StoreError
    (a message delivered but not yet marked is sent again later: at least once)."""
    sent = 0
    while limit is None or sent < limit:
        batch = outbox.due(store, name, clock(), limit=100 if limit is None else min(100, limit - sent))
        if not batch:
            break
        for row in batch:
            problem = exchange(row)
            now = clock()
            if problem is not None:
                after_failure()
                reason = one_line(f"{where}: {problem}")
                outbox.failed(store, row["id"], reason, now + wait_s(row["attempts"]), now,
                              answered=isinstance(problem, Refused))
                return {"sent": sent, "failed": reason}
            outbox.delivered(store, row["id"], now)
            sent += 1
    return {"sent": sent, "failed": None}


SENDER_SILENT_S = 30.0  # a sending process renews its claim every pass (about 2 s) and every few messages


def nobody_sending(status: dict, now: float) -> bool:
    """Messages wait and no process sends them: none claimed the queue, or the one that did
    has been silent SENDER_SILENT_S (stopped or died). A row of store.outbox.queue_status."""
    beat = status.get("sender_beat")
    return bool(status["depth"]) and (not status.get("sender") or beat is None or now - beat > SENDER_SILENT_S)
