"""Masimo ASCII 1 (Radical-7, Rad-8, Radical-5 serial output): one CRLF line a second.

    02/18/24 14:18:04 SN=0000101979 SPO2=098% BPM=072 PI=02.34% ... ALARM=0000 EXC=000800

Pure codec. The decoder splits lines, ignores junk lines and fields it does not know,
turns dashes into None, and skips a line whose SPO2/BPM/PI/EXC field is malformed
rather than guess: a corrupted line must not become a reading.
"""
from __future__ import annotations

import re
import time
from typing import Optional

from .oximeter_sample import DecoderStats, OximetrySample, status_from_flags

LINE_MAX = 512  # a real line is ~150 bytes; without a newline for longer, the head is junk

# EXC (exception) bits
EXC_NO_SENSOR = 0x1
EXC_DEFECTIVE_SENSOR = 0x2
EXC_LOW_PERFUSION = 0x4
EXC_PULSE_SEARCH = 0x8
EXC_INTERFERENCE = 0x10
EXC_SENSOR_OFF = 0x20
EXC_AMBIENT_LIGHT = 0x40
EXC_UNRECOGNISED_SENSOR = 0x80
EXC_LOW_SIGNAL_IQ = 0x400
EXC_SET_MODE = 0x800  # informational: Signal Extraction Technology is on; not an error
EXC_NO_CABLE = 0x1000

EXC_SENSOR_PROBLEM = (EXC_NO_SENSOR | EXC_DEFECTIVE_SENSOR | EXC_SENSOR_OFF | EXC_UNRECOGNISED_SENSOR
                      | EXC_NO_CABLE)
EXC_ARTIFACT = EXC_INTERFERENCE | EXC_AMBIENT_LIGHT | EXC_LOW_SIGNAL_IQ

EXC_FOR_STATUS = {
    "ok": 0,
    "sensor_off": EXC_SENSOR_OFF,
    "searching": EXC_PULSE_SEARCH,
    "artifact": EXC_INTERFERENCE,
    "low_perfusion": EXC_LOW_PERFUSION,
}

_INT = re.compile(r"(\d{1,3})%?")
_DECIMAL = re.compile(r"(\d{1,3}\.\d{1,2})%?")
_DASHES = re.compile(r"[-.]*-[-.]*%?")
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")


class _Malformed(ValueError):
    pass


def masimo_line(sample: OximetrySample, when: Optional[float] = None, serial: str = "0000101979",
                alarm: int = 0, exc: Optional[int] = None) -> bytes:
    """The line a Radical-7 prints for one second (ASCII 1), CRLF included."""
    stamp = time.strftime("%m/%d/%y %H:%M:%S", time.localtime(time.time() if when is None else when))
    if exc is None:
        exc = EXC_FOR_STATUS.get(sample.status, 0) | EXC_SET_MODE
    spo2 = "---" if sample.spo2 is None else f"{int(sample.spo2):03d}"
    bpm = "---" if sample.hr is None else f"{int(sample.hr):03d}"
    pi = "--.--" if sample.pi is None else f"{float(sample.pi):05.2f}"
    return (f"{stamp} SN={serial} SPO2={spo2}% BPM={bpm} PI={pi}% SPCO=--.-% SPMET=--.-% "
            f"DESAT=-- PIDELTA=+-- PVI=--- ALARM={alarm & 0xFFFF:04X} EXC={exc & 0xFFFFFF:06X}\r\n").encode("ascii")


def _number(value: Optional[str], pattern: re.Pattern, cast, top: float):
    """A field's number, None for absent or dashed, _Malformed for anything else."""
    if value is None or _DASHES.fullmatch(value):
        return None
    m = pattern.fullmatch(value)
    if not m:
        raise _Malformed(value)
    v = cast(m.group(1))
    if v > top:
        raise _Malformed(value)
    return v


def _hex(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    if not _HEX.fullmatch(value):
        raise _Malformed(value)
    return int(value, 16)


def parse_line(line: bytes) -> Optional[OximetrySample]:
    """One line to a sample; None for a junk or corrupted line. Never raises."""
    fields: dict[str, str] = {}
    for token in line.decode("latin-1").split():
        tag, eq, value = token.partition("=")
        if eq:
            fields[tag] = value  # a repeated tag: the last one wins (junk fused to a line's head)
    if "SPO2" not in fields and "BPM" not in fields:
        return None
    try:
        spo2 = _number(fields.get("SPO2"), _INT, int, 100)
        hr = _number(fields.get("BPM"), _INT, int, 400)
        pi = _number(fields.get("PI"), _DECIMAL, float, 100.0)
        exc = _hex(fields.get("EXC"))
        alarm = _hex(fields.get("ALARM"))
    except _Malformed:
        return None
    exc = exc or 0
    status = status_from_flags(
        sensor_off=bool(exc & EXC_SENSOR_PROBLEM),
        searching=bool(exc & EXC_PULSE_SEARCH),
        artifact=bool(exc & EXC_ARTIFACT),
        low_perfusion=bool(exc & EXC_LOW_PERFUSION))
    return OximetrySample(hr=hr, spo2=spo2, status=status, pi=pi, raw_status=(exc << 16) | (alarm or 0))


class MasimoDecoder:
    """Incremental ASCII 1 decoder: complete lines in, samples out."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = DecoderStats()
        self.junk_lines = 0

    def feed(self, data: bytes) -> list[OximetrySample]:
        buf = self._buf
        buf += data
        out: list[OximetrySample] = []
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line = bytes(buf[max(start, end - LINE_MAX):end])  # the same tail the buffer cap keeps
            length, start = end + 1 - start, end + 1
            if not line.strip():
                continue
            sample = parse_line(line)
            if sample is None:
                self.junk_lines += 1
                self.stats.bad_frames += 1
                self.stats.skipped_bytes += length
            else:
                out.append(sample)
                self.stats.frames += 1
        del buf[:start]
        if len(buf) > LINE_MAX:
            self.stats.skipped_bytes += len(buf) - LINE_MAX
            del buf[:len(buf) - LINE_MAX]
        return out
