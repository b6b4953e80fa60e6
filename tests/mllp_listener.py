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

import threading
from dataclasses import dataclass
from typing import Optional

import hl7

from monitor.integrations.mllp_server import HANG_UP, MllpServer

ACK_CODES = ("AA", "AE", "AR", "CA", "CE", "CR")
BEHAVIOURS = ACK_CODES + ("wrong_id", "garbage", "silent", "drop")


@dataclass(frozen=True)
class Received:
    text: str
    message: hl7.Message
    control_id: str


class Behaviour:
    """How a test receiver answers, settable at any time to one of `choices` (a typo fails loudly)."""

    def __init__(self, choices: tuple):
        self.choices = choices

    def __set_name__(self, owner, name: str) -> None:
        self.attr = "_" + name

    def __get__(self, obj, owner=None):
        return self if obj is None else getattr(obj, self.attr)

    def __set__(self, obj, value: str) -> None:
        if value not in self.choices:
            raise ValueError(f"behaviour {value!r}: one of {', '.join(self.choices)}")
        setattr(obj, self.attr, value)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MllpListener(MllpServer):
    def __init__(self, port: Optional[int] = None, behaviour: str = "AA", host: str = "127.0.0.1"):
        super().__init__(host, port or free_port(), "test-listener")
        self.behaviour = behaviour
        self.received: list[Received] = []
        self._lock = threading.Lock()

    behaviour = Behaviour(BEHAVIOURS)

    @property
    def control_ids(self) -> list[str]:
        with self._lock:
            return [r.control_id for r in self.received]

    async def reply(self, block: bytes):
        text = block.decode("utf-8")
        message = hl7.parse(text)
        control_id = str(message.segment("MSH")[10])
        with self._lock:
            self.received.append(Received(text, message, control_id))
        behaviour = self.behaviour
        if behaviour == "silent":
            return None
        if behaviour == "drop":
            return HANG_UP
        return self._answer(message, behaviour, control_id)

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
