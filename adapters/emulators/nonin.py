"""Nonin oximeters on a pty: Data Format 2 (75 frames/s) and Data Format 8 (1 packet/s)."""
from __future__ import annotations

from adapters.nonin import DF2_FRAME, DF2_FRAMES_PER_PACKET, DF2_FRAMES_PER_S, df2_packet, df8_packet
from adapters.oximeter_sample import OximetrySample

from .base import OximeterEmulator


class NoninDf2Emulator(OximeterEmulator):
    """A Nonin in Data Format 2: 5-byte frames, 25 to a packet, written as they fall due."""

    kind = "nonin"
    units_per_s = float(DF2_FRAMES_PER_S)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._packet = (None, b"")

    def unit(self, index: int, t: float, sample: OximetrySample) -> bytes:
        number, frame = divmod(index, DF2_FRAMES_PER_PACKET)
        if self._packet[0] != number:
            t0 = t - frame / self.units_per_s
            waves = [self.pleth(t0 + k / self.units_per_s, sample.hr, scale=200, floor=20)
                     if sample.status not in ("sensor_off", "searching") else 0
                     for k in range(DF2_FRAMES_PER_PACKET)]
            self._packet = (number, df2_packet(sample, pleth=waves, timer=int(t) & 0x3FFF))
        return self._packet[1][frame * DF2_FRAME:(frame + 1) * DF2_FRAME]


class NoninDf8Emulator(OximeterEmulator):
    """A Nonin in Data Format 8: one 4-byte packet a second, no checksum."""

    kind = "nonin-df8"
    units_per_s = 1.0

    def unit(self, index: int, t: float, sample: OximetrySample) -> bytes:
        return df8_packet(sample)
