"""One reconnecting serial link for every device adapter.

Opens any pyserial URL (`/dev/ttyUSB0`, `loop://`, `socket://host:port`,
`rfc2217://host:port`), hands each chunk of bytes to a protocol object from a reader
loop (as pyserial's `serial.threaded` does), and when the port vanishes or errors it
reports the loss, backs off and opens it again. It never raises into the process.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Protocol as TypingProtocol

import serial

log = logging.getLogger("infusion_monitor.serial")


@dataclass(frozen=True)
class SerialSettings:
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    read_timeout: float = 0.1


class LinkProtocol(TypingProtocol):
    """What a device adapter implements to sit on a link."""

    def connection_made(self, link: "SerialLink") -> None:
        """The port is open: send start commands here."""

    def data_received(self, data: bytes, ts: float) -> None:
        """Bytes arrived at time ts (possibly a partial frame)."""

    def idle(self, ts: float) -> None:
        """Called about every read timeout: keep-alives, polls, timeouts."""

    def connection_lost(self, error: str, ts: float) -> None:
        """The port is gone or failed; it will be reopened."""


class SerialLink:
    def __init__(self, url: str, settings: SerialSettings = SerialSettings(),
                 clock: Callable[[], float] = time.time, backoff: tuple = (0.2, 5.0)):
        self.url = url
        self.settings = settings
        self.clock = clock
        self.backoff = backoff
        self._port: Optional[serial.SerialBase] = None
        self._write_lock = threading.Lock()
        self.connected = False
        self.last_error = ""
        self.bytes_in = 0

    def _open(self) -> serial.SerialBase:
        s = self.settings
        return serial.serial_for_url(self.url, baudrate=s.baudrate, bytesize=s.bytesize, parity=s.parity,
                                     stopbits=s.stopbits, timeout=s.read_timeout, exclusive=None,
                                     do_not_open=False)

    def write(self, data: bytes) -> bool:
        """Send bytes; False (not an exception) when the port is down."""
        port = self._port
        if port is None:
            return False
        try:
            with self._write_lock:
                port.write(data)
                port.flush()
            return True
        except (serial.SerialException, OSError, ValueError, TypeError) as e:
            self.last_error = str(e)
            return False

    def run(self, protocol: LinkProtocol, stop: threading.Event) -> None:
        """Read until stop is set, reopening the port as often as it takes."""
        delay = self.backoff[0]
        while not stop.is_set():
            try:
                self._port = self._open()
            except (serial.SerialException, OSError, ValueError) as e:
                self._lost(protocol, f"cannot open {self.url}: {_reason(e)}")
                stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0]
            self.connected, self.last_error = True, ""
            try:
                protocol.connection_made(self)
                self._read_loop(protocol, stop)
            except (serial.SerialException, OSError, ValueError, TypeError) as e:
                self._lost(protocol, f"{self.url}: {_reason(e)}")
                stop.wait(delay)
            finally:
                self._close()
        self._close()

    def _read_loop(self, protocol: LinkProtocol, stop: threading.Event) -> None:
        port = self._port
        while not stop.is_set():
            n = port.in_waiting if hasattr(port, "in_waiting") else 0
            data = port.read(max(1, min(n, 4096)))
            now = self.clock()
            if data:
                self.bytes_in += len(data)
                protocol.data_received(data, now)
            protocol.idle(now)

    def _lost(self, protocol: LinkProtocol, error: str) -> None:
        if error != self.last_error:
            log.warning("%s", error)
        self.connected, self.last_error = False, error
        try:
            protocol.connection_lost(error, self.clock())
        except Exception:  # an adapter bug must not stop reconnection
            log.exception("connection_lost handler failed")

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:
                pass


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
