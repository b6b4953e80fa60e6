"""An MLLP server on an event loop of its own: the receiving side of HL7 v2 over TCP.

python-hl7's asyncio server (`hl7.mllp.start_hl7_server`) does the framing (0x0B … 0x1C
0x0D); this runs it on a private event loop in a daemon thread, so a caller on ordinary
threads starts and stops it, and `stop` also closes the connections already accepted
(asyncio's Server.close leaves them open, and a sender would not notice a restart).
A subclass says what to answer to each message (`reply`): the ADT listener
(integrations/adt_in.py) and the tests' stand-in interface engine (tests/mllp_listener.py).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Optional

from hl7.mllp import start_hl7_server

log = logging.getLogger("infusion_monitor.integrate")
ENCODING = "utf-8"
HANG_UP = object()  # `reply`'s answer for "close this connection without answering"
# Anyone on the network can connect (MLLP has no sign-in): bound what one can hold, since
# the server may share a process with the bedside (`run --config`) and its open-files limit.
MAX_CONNECTIONS = 16  # an interface engine keeps one or two open
IDLE_S = 600.0  # a connection that sends nothing this long is closed (an engine reconnects)


class MllpServer:
    """Listens on host:port once started; `reply` answers each framed message."""

    def __init__(self, host: str, port: int, name: str):
        self.host = host
        self.port = port
        self.name = name
        self.connections = 0  # accepted, in all
        self.max_connections = MAX_CONNECTIONS
        self.idle_s = IDLE_S
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server = None
        self._writers: set = set()

    async def reply(self, block: bytes):
        """The answer's text to one received message, None for no answer (the connection stays
        open), or HANG_UP to close the connection. Runs on the server's loop."""
        raise NotImplementedError

    # ------------------------------------------------------------------ running
    def start(self):
        """Listen; OSError (the port taken, an address not on this machine) when it cannot."""
        if self._server is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"mllp-{self.name}", daemon=True)
        self._thread.start()
        try:
            self._server = self._call(start_hl7_server(self._client, self.host, self.port, encoding=ENCODING))
        except BaseException:
            self._halt()
            raise
        return self

    def stop(self) -> None:
        """Stop listening and close every open connection (a receiver going down)."""
        if self._server is not None:
            self._call(self._shut())
            self._server = None
        self._halt()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _halt(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
            self._loop = self._thread = None

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _shut(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    # ------------------------------------------------------------------ one connection
    async def _client(self, reader, writer) -> None:
        if len(self._writers) >= self.max_connections:
            log.warning("%s: refused a connection: %d already open", self.name, len(self._writers))
            writer.close()
            return
        self._writers.add(writer)
        self.connections += 1
        try:
            while True:
                try:
                    block = await asyncio.wait_for(reader.readblock(), self.idle_s)
                except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                    return
                except Exception as e:  # an overlong or broken frame: say so and hang up
                    log.warning("%s: unreadable MLLP frame: %s", self.name, e)
                    return
                answer = await self.reply(block)
                if answer is HANG_UP:
                    return
                if answer is not None:
                    writer.writeblock(answer.encode(ENCODING))
                    await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
