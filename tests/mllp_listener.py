"""A real MLLP listener for the tests (conftest's `mllp_listener`): what a clinic's interface
engine or lab system is to the sender (monitor/integrations/mllp.py).

python-hl7's own asyncio server (`hl7.mllp.start_hl7_server`) on 127.0.0.1 and a free port,
run on an event loop in a thread of its own, so a test drives the sender from its own
thread against real sockets. It keeps every message it receives (`received`: the raw text,
the parsed message, its control id) and answers each as `behaviour` says, changeable at any
time:

- "AA" (default), "AE", "AR", "CA", "CE", "CR": an ACK with that MSA-1 for the message's MSH-10;
- "wrong_id": an AA for another control id;
- "garbage": a framed answer that is not HL7;
- "silent": never answers (the connection stays open; the sender's ACK timeout ends it);
- "drop": closes the connection as soon as the message is in (the ACK is lost).

`stop()` closes the port and every open connection (a receiver restarting, or down);
`start()` listens again on the same port. A context manager: stopped on leaving.
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Optional

import hl7
from hl7.mllp import start_hl7_server

ACK_CODES = ("AA", "AE", "AR", "CA", "CE", "CR")
BEHAVIOURS = ACK_CODES + ("wrong_id", "garbage", "silent", "drop")


@dataclass(frozen=True)
class Received:
    text: str
    message: hl7.Message
    control_id: str


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MllpListener:
    def __init__(self, port: Optional[int] = None, behaviour: str = "AA", host: str = "127.0.0.1"):
        self.host = host
        self.port = port or free_port()
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.connections = 0  # how many the sender opened, in all
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server = None
        self._writers: set = set()

    @property
    def behaviour(self) -> str:
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: str) -> None:
        if value not in BEHAVIOURS:
            raise ValueError(f"behaviour {value!r}: one of {', '.join(BEHAVIOURS)}")
        self._behaviour = value

    @property
    def control_ids(self) -> list[str]:
        with self._lock:
            return [r.control_id for r in self.received]

    # ------------------------------------------------------------ running
    def start(self) -> "MllpListener":
        if self._server is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"mllp-listener-{self.port}",
                                        daemon=True)
        self._thread.start()
        self._server = self._call(start_hl7_server(self._client, self.host, self.port, encoding="utf-8"))
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._call(self._shut())
        self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> "MllpListener":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _shut(self) -> None:
        self._server.close()
        for writer in list(self._writers):  # Server.close() leaves accepted connections open
            writer.close()
        await self._server.wait_closed()

    # ------------------------------------------------------------ one connection
    async def _client(self, reader, writer) -> None:
        self._writers.add(writer)
        self.connections += 1
        try:
            while True:
                try:
                    block = await reader.readblock()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                text = block.decode("utf-8")
                message = hl7.parse(text)
                control_id = str(message.segment("MSH")[10])
                with self._lock:
                    self.received.append(Received(text, message, control_id))
                behaviour = self.behaviour
                if behaviour == "silent":
                    continue
                if behaviour == "drop":
                    return
                writer.writeblock(self._answer(message, behaviour, control_id).encode("utf-8"))
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    def _answer(message: hl7.Message, behaviour: str, control_id: str) -> str:
        if behaviour == "garbage":
            return "this is not an HL7 message"
        if behaviour == "wrong_id":
            return str(message.create_ack("AA", message_id="A" + control_id)).replace(
                f"MSA|AA|{control_id}", f"MSA|AA|{control_id}-OTHER")
        ack = str(message.create_ack(behaviour, message_id="A" + control_id))
        if behaviour != "AA":
            ack = ack.rstrip("\r") + f"|{behaviour} by the test listener\r"  # MSA-3, the text
        return ack
