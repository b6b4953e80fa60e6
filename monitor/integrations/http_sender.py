"""Sending the outbox's JSON messages to one receiver over HTTP(S): a FHIR server's transaction
endpoint (outbox kind `fhir`, session_push.py) and the alerts webhook (kind `json`).

Each message is one POST of the queued text to the destination's url, `Content-Type:
application/fhir+json` (fhir) or `application/json` (json), with `Idempotency-Key: <control
id>` and `X-Message-Id: <message key>` so a receiver can recognise a repeat, and `Authorization:
Bearer <token>` when the destination names an environment variable (`token_env`). It counts as
delivered only on a 2xx answer, and for a FHIR transaction only when the answer is a
transaction-response Bundle whose every entry has a 2xx status (a server may answer 200 for the
Bundle and still refuse an entry). Anything else (another status, with the OperationOutcome's
diagnostics or the body's first line; no connection within `connect_timeout_s`; no answer within
`ack_timeout_s`; a refused or dropped connection; a TLS error) keeps it at the head of its queue
with a one-line reason naming the destination, retried after a doubling backoff.

Why it is built this way:
- **The same contract as the MLLP sender** (`send_pending(limit) -> {"sent", "failed"}`, strictly
  in id order, a failure stops the pass): the pass itself is delivery.send_in_order, shared, so
  the outbox's promises hold whatever the transport.
- **A token configured but not set is a failure, not a send without it**: a receiver that
  accepted anonymous posts would otherwise get patient data the clinic meant to protect, and one
  that did not would answer 401 with a less useful reason. The token is read from the
  environment at each try (a rotated token is picked up) and never logged, stored or put in a
  reason.
- **The standard library's http.client**, not urllib.request or requests: it gives the connect
  and the answer timeouts separately (`connect_timeout_s` on connecting and the TLS handshake,
  then `ack_timeout_s` on the socket while the answer comes), never follows a redirect (a 3xx is
  a failure to look at, not a silent resend of patient data elsewhere), and adds no dependency.
  TLS verifies the server against the system's certificates (ssl.create_default_context).
  `ack_timeout_s` bounds each wait for the server's bytes, so a server trickling an answer can
  take longer; what matters here, a server that does not answer, is caught.
- **`Prefer: return=minimal`** on a FHIR transaction: the server need not send every
  Observation back; the entries' statuses are all the sender reads.
- **A new connection per message**: messages are few (a Bundle per ended session, an alert now
  and then), and after any failure nothing half-read can be taken for the next answer.
"""
from __future__ import annotations

import http.client
import json
import os
import ssl
import time
from typing import Callable, Optional
from urllib.parse import urlsplit

from .config import Destination
from .delivery import RETRY_MIN_S, Refused, backoff, send_in_order

CONTENT_TYPES = {"fhir": "application/fhir+json", "json": "application/json"}
USER_AGENT = "infusion-monitor"
DETAIL_MAX = 200


class HttpSender:
    """Sends one destination's queue (store/outbox.py) in order, one POST per message."""

    def __init__(self, store, destination: Destination, clock: Callable[[], float] = time.time):
        self.store = store
        self.destination = destination
        self.clock = clock
        parts = urlsplit(destination.url)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname or "", parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    @property
    def where(self) -> str:
        """The receiver as reasons, logs and the admin page name it: scheme, host and port only,
        since a webhook's path or query often carries its secret."""
        port = f":{self._port}" if self._port else ""
        return f"{self.destination.name} ({'https' if self._https else 'http'}://{self._host}{port})"

    def send_pending(self, limit: Optional[int] = None) -> dict:
        """Send what is due, in id order, until the queue is empty, `limit` messages went, or one
        fails; returns {"sent": n, "failed": the failure's reason or None} (delivery.send_in_order)."""
        d = self.destination
        return send_in_order(self.store, d.name, self.where, self.clock, limit, self._exchange,
                             lambda attempts: backoff(attempts, RETRY_MIN_S, d.retry_max_s))

    def close(self) -> None:
        """Nothing stays open between messages; here for the senders' common shape."""

    def __enter__(self) -> "HttpSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ one message
    def _headers(self, row: dict) -> tuple[dict, Optional[str]]:
        """The request's headers, or why it must not be sent."""
        kind = CONTENT_TYPES.get(row["kind"])
        if kind is None:
            return {}, f"cannot send a {row['kind']!r} message over HTTP"
        headers = {"Content-Type": f"{kind}; charset=utf-8", "Accept": kind, "User-Agent": USER_AGENT,
                   "Idempotency-Key": row["control_id"] or row["message_key"], "X-Message-Id": row["message_key"]}
        if row["kind"] == "fhir":
            headers["Prefer"] = "return=minimal"
        env = self.destination.token_env
        if env:
            token = os.environ.get(env, "").strip()
            if not token:
                return {}, f"environment variable {env} (token_env) is not set: not sending without its token"
            try:
                token.encode("latin-1")  # what an HTTP header can carry; a line break would split it
            except UnicodeEncodeError:
                return {}, f"environment variable {env} (token_env) holds characters a token cannot have"
            if any(c in token for c in "\r\n\0"):
                return {}, f"environment variable {env} (token_env) holds characters a token cannot have"
            headers["Authorization"] = f"Bearer {token}"
        return headers, None

    def _exchange(self, row: dict) -> Optional[str]:
        """POST one message and judge the answer: None when the receiver took it, else why not."""
        headers, problem = self._headers(row)
        if problem:
            return problem
        d = self.destination
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=d.connect_timeout_s,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=d.connect_timeout_s)
        what = f"message {row['message_key']!r}"
        try:
            try:
                conn.connect()
            except TimeoutError:
                return f"cannot connect: no answer within {d.connect_timeout_s:g} s"
            except ssl.SSLError as e:  # before OSError: an SSLError is one
                return f"TLS: {_tls(e)}"
            except OSError as e:
                return f"cannot connect: {e.strerror or e}"
            conn.sock.settimeout(d.ack_timeout_s)
            try:
                conn.request("POST", self._path, body=row["payload"].encode("utf-8"), headers=headers)
                response = conn.getresponse()
                body = response.read()
            except TimeoutError:
                return f"no answer within {d.ack_timeout_s:g} s for {what}"
            except http.client.RemoteDisconnected:
                return f"connection closed before the answer for {what}"
            except ssl.SSLError as e:
                return f"TLS: {_tls(e)}"
            except OSError as e:
                return f"connection lost before the answer for {what}: {e.strerror or e}"
            except http.client.HTTPException as e:
                return f"unparsable answer: {type(e).__name__}: {e}"
            except (ValueError, UnicodeError) as e:  # a request http.client refuses to write
                return f"cannot send {what}: {type(e).__name__}"
        finally:
            conn.close()
        problem = judge_answer(response.status, response.reason, body, row["kind"])
        return None if problem is None else Refused(problem)


def judge_answer(status: int, reason: str, body: bytes, kind: str) -> Optional[str]:
    """None when the answer says the receiver took the message; else why not (no receiver named:
    the caller adds it). For a FHIR transaction every entry must have succeeded too."""
    if not 200 <= status < 300:
        return f"HTTP {status} {reason}".rstrip() + (f": {_detail(body)}" if _detail(body) else "")
    if kind != "fhir":
        return None
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return f"HTTP {status} but the answer is not JSON: {_detail(body) or 'empty'}"
    if not isinstance(answer, dict) or answer.get("resourceType") != "Bundle" \
            or answer.get("type") != "transaction-response":
        got = answer.get("type") or answer.get("resourceType") if isinstance(answer, dict) else type(answer).__name__
        return f"HTTP {status} but the answer is not a transaction-response Bundle (got {got!r})"
    for n, entry in enumerate(answer.get("entry") or [], 1):
        outcome = (entry or {}).get("response") or {}
        code = str(outcome.get("status", "")).strip()
        if not code[:1] == "2":
            why = _diagnostics(outcome.get("outcome"))
            return f"transaction entry {n}: status {code or 'missing'}" + (f": {why}" if why else "")
    return None


def _tls(e: ssl.SSLError) -> str:
    """A TLS failure in words: a certificate's trouble says which (expired, wrong host, …)."""
    return getattr(e, "verify_message", None) or e.reason or str(e)


def _diagnostics(resource) -> str:
    """An OperationOutcome's first issue, as text."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "OperationOutcome":
        return ""
    for issue in resource.get("issue") or []:
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code")
        if text:
            return str(text)
    return ""


def _detail(body: bytes) -> str:
    """What an error answer says: an OperationOutcome's diagnostics, else the body's first line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        why = _diagnostics(json.loads(text))
    except ValueError:
        why = ""
    first = why or (text.splitlines()[0] if text else "")
    return first[:DETAIL_MAX]
