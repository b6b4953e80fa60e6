"""A byte-exact SunTech Advantage NIBP module on a pseudo-terminal.

It answers the host's frames the way the module does: 'O' ack on start, the cuff
pressure on request (rising to ~160-180 mmHg, then falling in deflation steps while
a measurement runs), the 'K' completion frame when it ends and the 24-byte BP data
frame on request, with the values the simulated patient gives for that second
(`Patient(scenario, seed).nibp(t)`, including the 'artifact' scenario's cuff error).

`speed` runs the patient's clock and the measurement faster than real time, and
`measurement_s` sets how long a measurement takes in patient seconds, so tests run
quickly. `silent` makes a module that reads but never answers; `garbage` prefixes
every answer with line noise; `unplug()`/`replug()` pull and reinsert the cable.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Optional

from .. import suntech_codec as codec
from .pty_port import PtyEmulator, PtyPort


class SunTechEmulator(PtyEmulator):
    kind = "suntech"

    def __init__(self, scenario: str = "normal", seed: int = 0, speed: float = 1.0,
                 measurement_s: float = 35.0, start_s: float = 0.0, silent: bool = False,
                 garbage: bool = False, name: str = "suntech", directory: Optional[str] = None):
        if measurement_s <= 0:
            raise ValueError("measurement_s must be positive")
        super().__init__(PtyPort(name, directory), scenario, seed, speed, start_s)
        self.measurement_s = measurement_s
        self.silent = silent
        self.garbage = garbage
        self._decoder = codec.HostCommandDecoder()
        self._noise = random.Random(f"{seed}:suntech-noise")
        self._lock = threading.Lock()
        self._measuring_since: Optional[float] = None  # patient seconds
        self._peak = 170.0
        self._last_result = codec.bp_data_frame(0, 0, 0, 0, 0)
        self.commands: list[str] = []  # what the host asked, in order, by name
        self.measurements_started = 0
        self.measurements_completed = 0
        self.results: list = []  # NibpResult of each completed measurement
        self.completed_at: list[float] = []  # wall-clock time each completion ('K') was written

    def on_unplug(self) -> None:
        """A running measurement is lost with the cable."""
        with self._lock:
            self._measuring_since = None

    def count(self, command: str) -> int:
        return self.commands.count(command)

    @property
    def measuring(self) -> bool:
        return self._measuring_since is not None

    now_s = PtyEmulator.session_time

    # ------------------------------------------------------------ the module
    def _run(self) -> None:
        while not self._stop.is_set():
            data = self._port.read(0.01)
            if not self._port.plugged:
                self._stop.wait(0.02)
                continue
            commands = self._decoder.feed(data) if data else self._decoder.expire()
            for command in commands:
                self._answer(command)
            self._advance()

    def _answer(self, command: bytes) -> None:
        name = codec.HOST_COMMANDS.get(command, command.hex())
        self.commands.append(name)
        if self.silent:
            return
        with self._lock:
            if name == "start":
                if self._measuring_since is None:
                    self._measuring_since = self.now_s()
                    self._peak = self._noise.uniform(160, 180)
                    self.measurements_started += 1
                self._send(codec.ACK_START_FRAME)
            elif name == "abort":
                self._measuring_since = None
                self._send(codec.ABORT_ACK_FRAME)
            elif name == "get_cuff_pressure":
                self._send(codec.cuff_pressure_frame(self._pressure()))
            elif name == "get_bp_data":
                self._send(self._last_result)

    def _advance(self) -> None:
        """End a measurement whose time is up: store the result and say 'K'."""
        with self._lock:
            if self._measuring_since is None:
                return
            t = self.now_s()
            if t - self._measuring_since < self.measurement_s:
                return
            self._measuring_since = None
            r = self.patient.nibp(t)
            self.results.append(r)
            self.measurements_completed += 1
            if r.error:
                self._last_result = codec.bp_data_frame(0, 0, 0, 0, r.error)
            else:
                self._last_result = codec.bp_data_frame(int(r.sbp), int(r.dbp), int(r.map), int(r.hr))
            self.completed_at.append(time.time())
            self._send(codec.COMPLETE_FRAME)

    def _pressure(self) -> int:
        """Inflate to the peak over the first fifth, then deflate in ~6 mmHg steps to ~40."""
        if self._measuring_since is None:
            return 0
        x = min(1.0, (self.now_s() - self._measuring_since) / self.measurement_s)
        if x < 0.2:
            return round(5 + (self._peak - 5) * x / 0.2)
        falling = self._peak - (self._peak - 40) * (x - 0.2) / 0.8
        return int(round(falling / 6) * 6)

    def _send(self, frame: bytes) -> None:
        if self.garbage:
            frame = self._noise_bytes() + frame
        self._port.write(frame)

    def _noise_bytes(self) -> bytes:
        """1-8 bytes of line noise; a 3E in it is followed by an impossible length byte."""
        out = bytearray()
        for _ in range(self._noise.randint(1, 8)):
            b = self._noise.randrange(256)
            out.append(b)
            if b == codec.MODULE_START:
                out.append(self._noise.choice((0x00, 0x01, 0x02, 0x03, 0xFF)))
        return bytes(out)
