"""A Contec CMS50D+ on a pty: 60 packets/s, only after the start command and only
while the host keeps sending keep-alives."""
from __future__ import annotations

import math

from adapters.contec import (CMD_KEEP_ALIVE, CMD_START_LIVE, CMD_STOP_LIVE, KEEP_ALIVE_TIMEOUT_S,
                             PACKETS_PER_S, CommandDecoder, live_packet)
from adapters.oximeter_sample import OximetrySample

from .base import OximeterEmulator


class ContecEmulator(OximeterEmulator):
    kind = "contec"
    units_per_s = float(PACKETS_PER_S)

    def __init__(self, *args, keepalive_timeout_s: float = KEEP_ALIVE_TIMEOUT_S, **kw):
        super().__init__(*args, **kw)
        self.keepalive_timeout_s = keepalive_timeout_s  # wall seconds: the link's timing, not the patient's
        self.commands = CommandDecoder()
        self.live = False
        self.starts = 0
        self.keepalives = 0
        self._last_heard = -math.inf

    def host_bytes(self, data: bytes, now: float) -> None:
        for code in self.commands.feed(data):
            if code == CMD_START_LIVE:
                self.live, self._last_heard = True, now
                self.starts += 1
            elif code == CMD_KEEP_ALIVE:
                self._last_heard = now
                self.keepalives += 1
            elif code == CMD_STOP_LIVE:
                self.live = False

    def streaming(self, now: float) -> bool:
        if self.live and now - self._last_heard > self.keepalive_timeout_s:
            self.live = False  # no keep-alive in time: the device stops, as the real one does
        return self.live

    def on_unplug(self) -> None:
        self.live = False  # powered from the cable: a replugged device waits for a new start
        self.commands = CommandDecoder()

    def unit(self, index: int, t: float, sample: OximetrySample) -> bytes:
        finger = sample.status not in ("sensor_off", "searching")
        wave = self.pleth(t, sample.hr, scale=100) if finger else 0
        beat = finger and wave >= 100 and self.pleth(t - 1 / self.units_per_s, sample.hr, scale=100) < 100
        bar = min(15, wave * 15 // 100)
        return live_packet(sample, beat=beat, pleth=wave, bar=bar, strength=5 if finger else 0)
