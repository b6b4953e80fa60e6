"""What every pulse-oximeter codec decodes to, whatever its wire format.

Codecs (nonin, masimo, contec) turn bytes into `OximetrySample`s and samples back
into bytes; adapters turn samples into Readings. Pure data, no I/O, so the codecs
stay fuzzable and importable anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# When a device reports several conditions at once, the reading carries the most
# disabling one: no sensor beats no pulse beats a noisy pulse beats a weak pulse.
STATUS_PRIORITY = ("sensor_off", "searching", "artifact", "low_perfusion")


@dataclass(frozen=True)
class OximetrySample:
    """One oximeter measurement as the device sent it; None where the device said 'no value'."""

    hr: Optional[int]
    spo2: Optional[int]
    status: str = "ok"  # ok | sensor_off | searching | artifact | low_perfusion
    pi: Optional[float] = None  # perfusion index, % (only formats that send it)
    low_battery: bool = False
    raw_status: int = 0  # the device's own status/exception bits, for logs
    detail: Optional[str] = None  # why a sample was flagged by the decoder (adapters/frame_check.py)
    # Bytes or frames were thrown away just before this one: the decoder lost and found sync.
    resynced: bool = field(default=False, compare=False)


def status_from_flags(sensor_off: bool = False, searching: bool = False, artifact: bool = False,
                      low_perfusion: bool = False) -> str:
    """The reading status for a set of device conditions, highest priority first."""
    for name, on in zip(STATUS_PRIORITY, (sensor_off, searching, artifact, low_perfusion)):
        if on:
            return name
    return "ok"


class DecoderStats:
    """Counters every incremental decoder keeps: what it decoded and what it threw away."""

    def __init__(self) -> None:
        self.frames = 0         # samples decoded
        self.skipped_bytes = 0  # bytes dropped while resynchronising
        self.bad_frames = 0     # frames rejected (bad checksum, broken sync, insane values)
