"""One reconnecting serial link for every device adapter.

Opens any pyserial URL (`/dev/ttyUSB0`, `loop://`, `socket://host:port`,
`rfc2217://host:port`), hands each chunk of bytes to a protocol object from a reader
loop (as pyserial's `serial.threaded` does), and when the port vanishes or errors it
reports the loss, backs off and opens it again. It never raises into the process.

`FrameWatch` is the one rule for what "connected" means to every adapter on a link:
the device is sending frames its codec decodes, not merely bytes (see
docs/ARCHITECTURE.md, "Where each rule lives").
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Protocol as TypingProtocol

import serial

log = logging.getLogger("infusion_monitor.serial")

UNDECODABLE_AFTER_S = 5.0  # bytes for this long without one decodable frame: the wrong device or baud rate
SIGNAL_EVERY_S = 1.0       # "connected" is reported about once a second while frames decode


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


class FrameWatch:
    """Decides the DeviceSignals of one adapter from what its codec makes of the bytes.

    "Connected" means frames decode (any frame: one flagged sensor-off or artifact is
    still the device speaking its protocol), reported about once a second. Bytes that
    keep arriving for `undecodable_after_s` without a single decodable frame are
    reported as an error naming the format expected, again every such window while it
    lasts (a session opened meanwhile hears it too), so the `device_disconnected` alarm
    is raised with the reason instead of a calm screen.
    Pure: the adapter passes the time in and sends what comes back.
    """

    def __init__(self, expecting: str, undecodable_after_s: float = UNDECODABLE_AFTER_S,
                 signal_every_s: float = SIGNAL_EVERY_S):
        self.expecting = expecting  # e.g. "Nonin DF2 at 9600 baud"
        self.undecodable_after_s = undecodable_after_s
        self.signal_every_s = signal_every_s
        self.reset()

    def reset(self) -> None:
        """A fresh port: nothing decoded or undecodable yet."""
        self._undecoded_since: Optional[float] = None
        self._last_signal = -math.inf

    def decoded(self, ts: float) -> bool:
        """A frame decoded at ts; True when a connected signal is due."""
        self._undecoded_since = None
        if ts - self._last_signal >= self.signal_every_s:
            self._last_signal = ts
            return True
        return False

    def undecoded(self, ts: float) -> Optional[str]:
        """Bytes at ts gave no frame; the error to report when that has lasted a whole window."""
        if self._undecoded_since is None:
            self._undecoded_since = ts
        if ts - self._undecoded_since < self.undecodable_after_s:
            return None
        self._undecoded_since = ts  # the next report after another window
        self._last_signal = -math.inf  # the next frame is reported at once
        return (f"data arriving but not decodable as {self.expecting} for {self.undecodable_after_s:g} s: "
                f"wrong device kind or baud rate?")


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
