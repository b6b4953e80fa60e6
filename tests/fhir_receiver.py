"""A real FHIR server (and webhook) for the tests (conftest's `fhir_receiver`): what a clinic's
FHIR endpoint or pager hook is to the HTTP sender (monitor/integrations/http_sender.py).

The standard library's ThreadingHTTPServer on 127.0.0.1 and a free port, served from a thread
of its own, so a test drives the sender from its own thread against a real socket. On a POST:
- `application/fhir+json`: the body is validated as an R4 Bundle with fhir.resources' R4B
  models (as tests/test_export_fhir.py does) and must be a transaction of conditional updates
  (`PUT Observation?identifier=system|value`); an invalid one is answered 400 with an
  OperationOutcome. Each entry is applied to `observations` (keyed by identifier value: an
  update when it is there, a create when not, `versions` counting the writes), and the answer is
  a transaction-response Bundle (200 OK / 201 Created per entry);
- anything else (the webhook's `application/json`): kept and answered 200.
Every request is recorded in `received` (path, headers, body, parsed JSON) before it is judged,
and answered as `behaviour` says, changeable at any time:
- "ok" (default), "500", "400" (an OperationOutcome), "entry_fail" (200, but one entry 422),
- "slow": answers `slow_s` seconds late (longer than the sender's ack timeout),
- "drop": closes the connection without answering,
and with 401 whenever `token` is set and the request does not carry `Bearer <token>`.
`stop()` closes the port; `start()` listens again on the same port. A context manager.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from fhir.resources.R4B.bundle import Bundle

from mllp_listener import Behaviour, free_port

BEHAVIOURS = ("ok", "500", "400", "entry_fail", "slow", "drop")
PREFIX = "Observation?identifier="


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict
    body: bytes
    json: Any


def outcome(text: str, code: str = "invalid") -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


class FhirReceiver:
    def __init__(self, port: Optional[int] = None, behaviour: str = "ok", host: str = "127.0.0.1"):
        self.host = host
        self.port = port or free_port()
        self.behaviour = behaviour
        self.token: Optional[str] = None
        self.slow_s = 2.5
        self.received: list[Request] = []
        self.observations: dict[str, dict] = {}  # identifier value -> the resource as stored
        self.versions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/fhir"

    behaviour = Behaviour(BEHAVIOURS)

    def start(self) -> "FhirReceiver":
        if self._server is None:
            receiver = self

            class Handler(_Handler):
                owner = receiver
            ThreadingHTTPServer.allow_reuse_address = True
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"fhir-receiver-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> "FhirReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ what a POST does
    def answer(self, request: Request) -> Optional[tuple[int, dict]]:
        """(status, JSON body), or None to close without answering."""
        with self._lock:
            self.received.append(request)
        behaviour = self.behaviour
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, outcome("a bearer token is required", "login")
        if behaviour == "drop":
            return None
        if behaviour == "slow":
            time.sleep(self.slow_s)
        if behaviour == "500":
            return 500, outcome("the test server is failing", "exception")
        if behaviour == "400":
            return 400, outcome("the test server refuses this", "invalid")
        if not request.headers.get("Content-Type", "").startswith("application/fhir+json"):
            return 200, {"ok": True}
        problem = self._invalid(request.json)
        if problem:
            return 400, outcome(problem)
        return 200, self._apply(request.json["entry"] if request.json.get("entry") else [])

    @staticmethod
    def _invalid(body) -> Optional[str]:
        try:
            Bundle.model_validate(body)
        except Exception as e:  # pydantic's ValidationError, or not even a dict
            return f"not a valid R4 Bundle: {' '.join(str(e).split())[:300]}"
        if body.get("type") != "transaction":
            return f"expected a transaction Bundle, got {body.get('type')!r}"
        for e in body.get("entry") or []:
            req = e.get("request") or {}
            if req.get("method") != "PUT" or not str(req.get("url", "")).startswith(PREFIX):
                return f"entry {e.get('fullUrl')}: expected a conditional update, got {req}"
            if "id" in e["resource"]:
                return f"entry {e.get('fullUrl')}: a conditional update without an id expected"
        return None

    def _apply(self, entries: list[dict]) -> dict:
        out = []
        with self._lock:
            for n, e in enumerate(entries):
                value = e["request"]["url"][len(PREFIX):].partition("|")[2]
                if self.behaviour == "entry_fail" and n == len(entries) - 1:
                    out.append({"response": {"status": "422 Unprocessable Entity",
                                             "outcome": outcome("the test server refuses this entry")}})
                    continue
                before = self.observations.get(value)
                rid = before["id"] if before else uuid.uuid4().hex
                self.observations[value] = {**e["resource"], "id": rid}
                self.versions[value] = self.versions.get(value, 0) + 1
                out.append({"response": {"status": "200 OK" if before else "201 Created",
                                         "location": f"Observation/{rid}/_history/{self.versions[value]}"}})
        return {"resourceType": "Bundle", "type": "transaction-response", **({"entry": out} if out else {})}


class _Handler(BaseHTTPRequestHandler):
    owner: FhirReceiver
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed = json.loads(body.decode("utf-8"))
        except ValueError:
            parsed = None
        answer = self.owner.answer(Request(self.path, dict(self.headers.items()), body, parsed))
        if answer is None:
            self.close_connection = True
            return
        status, payload = answer
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json" if "resourceType" in payload else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
