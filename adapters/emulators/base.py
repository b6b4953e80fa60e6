"""What every serial oximeter emulator shares: a pty, a paced writer thread, a patient.

A subclass says how many wire units it sends a second (DF2: 75 frames, Contec: 60
packets, Masimo and DF8: one) and how each unit is encoded; this base paces them in
real time (times `speed`), leaves out the scenario's silent seconds, throws random
junk between units during its garbage seconds, and can unplug and replug the port.
"""
from __future__ import annotations

import fcntl
import os
import random
import time
from collections import deque
from typing import Optional

from adapters.oximeter_sample import OximetrySample
from adapters.sim.physiology import OximeterSample

from .pty_port import PtyEmulator, PtyPort

LOW_PERFUSION_PI = 0.3  # below this perfusion index the emulated device flags weak perfusion
TICK_S = 0.02
JUNK_BURSTS_PER_S = 2.0


class DroppingPtyPort(PtyPort):
    """A pty whose writes never block: a UART nobody reads just loses the bytes,
    whereas a full pty buffer would stall the emulator until someone opens the port."""

    def plug(self) -> None:
        super().plug()
        fd = self._master
        if fd is not None:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def wire_sample(s: OximeterSample) -> OximetrySample:
    """What a device reports for the simulated patient's second."""
    status = s.status
    if status == "ok" and s.pi is not None and s.pi < LOW_PERFUSION_PI:
        status = "low_perfusion"
    return OximetrySample(hr=None if s.hr is None else int(round(s.hr)),
                          spo2=None if s.spo2 is None else int(round(s.spo2)),
                          status=status, pi=s.pi)


class OximeterEmulator(PtyEmulator):
    """Base emulator. Use as a context manager or call start()/stop()."""

    kind = ""
    units_per_s = 1.0  # wire units (frames, packets, lines) per device second

    def __init__(self, scenario: str = "normal", seed: int = 0, speed: float = 1.0, start_s: float = 0.0,
                 name: Optional[str] = None, directory: Optional[str] = None):
        port = DroppingPtyPort(name or self.kind.replace("-", "_") or "device", directory)
        super().__init__(port, scenario, seed, speed, start_s)
        self._rng = random.Random(f"{seed}:junk")
        self.sent: deque = deque(maxlen=4096)  # (session second, OximetrySample) put on the wire
        self.written_at: deque = deque(maxlen=4096)  # (session second, wall-clock time of its write), as `sent`
        self.units_sent = 0
        self.units_dropped = 0
        self.junk_bytes = 0
        self._cache: tuple = (None, None)
        self._logged_second: Optional[int] = None

    # ------------------------------------------------------------ subclass hooks
    def unit(self, index: int, t: float, sample: OximetrySample) -> bytes:
        """The bytes of wire unit `index` (at session second t)."""
        raise NotImplementedError

    def host_bytes(self, data: bytes, now: float) -> None:
        """Bytes the host sent (commands); most oximeters ignore them."""

    def streaming(self, now: float) -> bool:
        """Whether the device sends at wall time `now` (monotonic)."""
        return True

    # ------------------------------------------------------------ the device
    def sample_at(self, t: float) -> tuple[OximeterSample, OximetrySample]:
        """The patient's state and the device's report for session second t (cached per second)."""
        second = int(t)
        if self._cache[0] != second:
            truth = self.patient.oximeter(second)
            self._cache = (second, (truth, wire_sample(truth)))
        return self._cache[1]

    def _run(self) -> None:
        rate = self.units_per_s * self.speed
        tick = max(0.005, min(TICK_S, 0.5 / rate))
        junk_p = min(1.0, JUNK_BURSTS_PER_S / self.units_per_s)
        next_index = 0
        while not self._stop.is_set():
            now = time.monotonic()
            data = self._port.read(0.0)
            if data:
                self.host_bytes(data, now)
            due = int((now - self._wall0) * rate) + 1
            if due - next_index > 2 * rate + 1:  # fell far behind (suspended?): skip, do not burst
                next_index = due - 1
            chunk = bytearray()
            sent = []
            on = self.streaming(now) and self._port.plugged
            while next_index < due:
                t = self.start_s + next_index / self.units_per_s
                truth, sample = self.sample_at(t)
                if on and not truth.silent:
                    if truth.garbage and self._rng.random() < junk_p:
                        junk = self._rng.randbytes(self._rng.randint(1, 24))
                        chunk += junk
                        self.junk_bytes += len(junk)
                    chunk += self.unit(next_index, t, sample)
                    sent.append((t, sample))
                next_index += 1
            logged, second = 0, self._logged_second
            wall = time.time()
            for t, s in sent:  # logged before the write: a reader may decode it before write returns
                if int(t) != self._logged_second:  # one entry per session second: the same sample all second
                    self._logged_second = int(t)
                    self.sent.append((t, s))
                    self.written_at.append((t, wall))
                    logged += 1
            if chunk and self._port.write(bytes(chunk)):
                self.units_sent += len(sent)
            elif chunk:
                self.units_dropped += len(sent)  # unplugged, or nobody reading and the pty is full
                for _ in range(logged):  # not on the wire after all
                    self.sent.pop()
                    self.written_at.pop()
                self._logged_second = second
            self._stop.wait(tick)

    # ------------------------------------------------------------ helpers
    @staticmethod
    def pleth(t: float, hr: Optional[int], scale: int = 100, floor: int = 0) -> int:
        """A plausible plethysmogram sample: a sharp systolic rise, a slower fall."""
        if not hr:
            return floor
        phase = (t * hr / 60.0) % 1.0
        shape = phase / 0.15 if phase < 0.15 else max(0.0, 1.0 - (phase - 0.15) / 0.85) ** 1.5
        return floor + int(round(scale * shape))
