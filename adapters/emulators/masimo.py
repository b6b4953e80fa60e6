"""A Masimo Radical-7 on a pty, printing one ASCII 1 line a second."""
from __future__ import annotations

from adapters.masimo import masimo_line
from adapters.oximeter_sample import OximetrySample

from .base import OximeterEmulator


class MasimoEmulator(OximeterEmulator):
    kind = "masimo"
    units_per_s = 1.0

    def unit(self, index: int, t: float, sample: OximetrySample) -> bytes:
        # The line's clock is the device's: it runs `speed` times fast along with the patient.
        return masimo_line(sample, when=self.epoch0 + (t - self.start_s))
