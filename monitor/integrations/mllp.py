"""Sending the outbox's HL7 v2 messages to one receiver over MLLP (issue 15).

MLLP (HL7's Minimal Lower Layer Protocol) frames a message as 0x0B, the message, 0x1C 0x0D
on a TCP connection; the receiver answers each with an ACK whose MSA-1 says what it did
(AA/CA: accepted; AE/CE: error; AR/CR: rejected) and whose MSA-2 names the message's
control id (MSH-10). A message counts as delivered only on an accepting ACK for its own
control id; anything else (an error or rejection, an ACK for another message, an answer that
does not parse, no answer in `ack_timeout_s`, a refused or dropped connection) leaves it
queued with a one-line reason naming the receiver, tried again after a backoff.

Why it is built this way:
- **Strictly in order, one message in flight.** Results must reach the receiver in the order
  they were made, so the sender waits for each ACK before the next message and stops its pass
  at the first failure: the failing head blocks the queue (store/outbox.py `due`) until it
  goes through. The backoff doubles with each failed try of the head (retry_min_s, then twice
  that, ... at most retry_max_s), so a receiver down for an hour is tried about once a minute.
  A message the receiver rejects for good (AR) blocks its queue too, on purpose: skipping it
  would reorder the record; the admin page shows the head's reason (store/outbox.py
  `queue_status`) for a person to act on.
- **At least once, never silently lost.** The message is removed from the queue only after
  its ACK. When the ACK is lost (the connection drops, or the answer comes too late) the
  receiver may have the message already, and it is sent again: the one duplicate a receiver
  can see is the message that was in flight, with its control id unchanged, which is what
  HL7 receivers deduplicate on.
- **A fresh connection after any failure.** An ACK that arrives after its timeout would
  otherwise be read as the answer to the next message; the connection is closed instead, and
  the next try opens a new one. A persistent connection is kept while things go well, and one
  the receiver closed meanwhile (a restart) is noticed before it is written to.
- **python-hl7's asyncio MLLP client** (`hl7.mllp.open_hl7_connection`, `readmessage`) does the
  framing and parses the ACK (`hl7.parse`). It runs on an event loop private to the sender,
  driven from the caller's thread for the length of a call (a sender is used from one
  thread), with `asyncio.wait_for` bounding the connect and each ACK. Text goes as UTF-8.

The sender never builds a message and never decides anything clinical: it sends the text a
producer queued, and reports how that went.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Callable, Optional

import hl7
from hl7.mllp import InvalidBlockError, open_hl7_connection

from .config import Destination
from .delivery import RETRY_MIN_S, Refused, backoff, send_in_order

ACCEPTED = ("AA", "CA")
ENCODING = "utf-8"


def judge_ack(ack: hl7.Message, control_id: Optional[str]) -> Optional[str]:
    """None when the ACK accepts the message with this control id; else why not (no receiver
    named: the caller adds it)."""
    try:
        msa = ack.segment("MSA")
    except KeyError:
        return "answer without an MSA segment"
    code, acked = _field(msa, 1), _field(msa, 2)
    if code in ACCEPTED and acked == (control_id or ""):
        return None
    if code in ACCEPTED:
        return f"{code} for control id {acked!r}, not {control_id!r}"
    text = _field(msa, 3)
    return f"{code or 'no MSA-1'} for control id {acked!r}" + (f": {text}" if text else "")


def _field(segment, n: int) -> str:
    try:
        return str(segment[n]).strip()
    except IndexError:
        return ""


class MllpSender:
    """Sends one destination's queue (store/outbox.py) in order over one MLLP connection."""

    def __init__(self, store, destination: Destination, clock: Callable[[], float] = time.time):
        """destination: a clinic.toml destination of kind "mllp" (its host, port and timeouts)."""
        if destination.kind != "mllp":
            raise ValueError(f"{destination.name}: an MLLP sender for a destination of kind {destination.kind!r}")
        self.store = store
        self.destination = destination
        self.clock = clock
        self._loop = asyncio.new_event_loop()
        self._reader = None
        self._writer = None

    def send_pending(self, limit: Optional[int] = None) -> dict:
        """Send what is due, in id order, until the queue is empty, `limit` messages went, or one
        fails; returns {"sent": n, "failed": the failure's reason or None} (delivery.send_in_order)."""
        d = self.destination
        return send_in_order(self.store, d.name, self.where, self.clock, limit,
                             lambda row: self._loop.run_until_complete(self._exchange(row)),
                             lambda attempts: backoff(attempts, RETRY_MIN_S, d.retry_max_s), self._disconnect)

    @property
    def where(self) -> str:
        """The receiver as reasons, logs and the admin page name it."""
        return f"{self.destination.name} ({self.destination.host}:{self.destination.port})"

    def close(self) -> None:
        """Close the connection and the sender's event loop; the queue stays as it is."""
        if self._loop.is_closed():
            return
        self._disconnect()
        self._loop.close()

    def __enter__(self) -> "MllpSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ one message
    async def _exchange(self, row: dict) -> Optional[str]:
        """Send one message and wait for its ACK: None when accepted, else why not."""
        d = self.destination
        try:
            await self._connected()
        except TimeoutError:
            return f"cannot connect: no answer within {d.connect_timeout_s:g} s"
        except OSError as e:
            return f"cannot connect: {e.strerror or e}"
        try:
            self._writer.writeblock(row["payload"].encode(ENCODING))
            await self._writer.drain()
            ack = await asyncio.wait_for(self._reader.readmessage(), d.ack_timeout_s)
        except TimeoutError:  # before OSError: TimeoutError is one
            return f"no ACK within {d.ack_timeout_s:g} s for control id {row['control_id']!r}"
        except asyncio.IncompleteReadError:
            return f"connection closed before the ACK for control id {row['control_id']!r}"
        except OSError as e:
            return f"connection lost before the ACK for control id {row['control_id']!r}: {e.strerror or e}"
        except (InvalidBlockError, ValueError, hl7.HL7Exception) as e:  # a bad frame, an overlong one, not HL7
            return f"unparsable answer: {type(e).__name__}: {e}"
        problem = judge_ack(ack, row["control_id"])
        return None if problem is None else Refused(problem)

    async def _connected(self) -> None:
        """The open connection, or a new one. One the receiver has closed since (it restarted)
        is seen here, before a message is written into it: the loop runs a turn first, so an
        end of stream that arrived while the sender was idle is read."""
        if self._writer is not None:
            for _ in range(2):
                await asyncio.sleep(0)
            if self._reader.at_eof() or self._writer.is_closing() or self._reader.exception() is not None:
                await self._close_connection()
        if self._writer is None:
            d = self.destination
            self._reader, self._writer = await asyncio.wait_for(
                open_hl7_connection(d.host, d.port, encoding=ENCODING), d.connect_timeout_s)

    async def _close_connection(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _disconnect(self) -> None:
        if self._writer is not None and not self._loop.is_closed():
            self._loop.run_until_complete(self._close_connection())
