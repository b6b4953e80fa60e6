"""Masimo ASCII 1 (Radical-7, Rad-8, Radical-5 serial output): one CRLF line a second.

    02/18/24 14:18:04 SN=0000101979 SPO2=098% BPM=072 PI=02.34% ... ALARM=0000 EXC=000800

Pure codec. The decoder splits lines and keeps only those that match the line's full
grammar (every field at its fixed width, a real date and time, values in range), turns
dashes into None, and skips anything else rather than guess: a corrupted line must not
become a reading. A sample found after a junk line is marked `resynced`; the adapter
checks each line's values against the lines around it (adapters/frame_check.py).
"""
from __future__ import annotations

import datetime
import re
import time
from dataclasses import replace
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

# The whole line, field by field, each at its fixed width (dashes: no value). Optional
# fields are the ones some models leave out; anything else makes the line junk. Junk
# fused to the head of a line (a half line after a resync) is skipped by `search`.
_LINE = re.compile(
    r"(?P<stamp>\d\d/\d\d/\d\d \d\d:\d\d:\d\d)"  # MM/DD/YY HH:MM:SS
    r"(?: SN=[0-9A-Za-z-]{1,16})?"
    r" SPO2=(?P<spo2>\d{3}|---)%"
    r" BPM=(?P<bpm>\d{3}|---)"
    r"(?: PI=(?P<pi>\d\d\.\d\d|--\.--)%)?"
    r"(?: SPCO=(?:\d\d\.\d|--\.-)%)?"
    r"(?: SPMET=(?:\d\d\.\d|--\.-)%)?"
    r"(?: DESAT=(?:\d\d|--))?"
    r"(?: PIDELTA=(?:[+-]\d\d|\+--))?"
    r"(?: PVI=(?:\d{3}|---))?"
    r" ALARM=(?P<alarm>[0-9A-F]{4})"
    r" EXC=(?P<exc>[0-9A-F]{6})"
    r"[ \r\n]*\Z")
SPO2_MAX = 100
BPM_MAX = 400
PI_MAX = 100.0


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


def _value(text: Optional[str], cast, top: float):
    """A field's number; None for an absent or dashed field; ValueError beyond the field's range."""
    if text is None or text.startswith("-"):
        return None
    v = cast(text)
    if v > top:
        raise ValueError(text)
    return v


def parse_line(line: bytes) -> Optional[OximetrySample]:
    """One line to a sample; None for a junk or corrupted line (any field off its grammar,
    an impossible date or time, a value out of range). Never raises."""
    return _parse(line.decode("latin-1"))


def _parse(text: str, start: int = 0) -> Optional[OximetrySample]:
    m = _LINE.search(text, start)
    if m is None:
        return None
    try:
        stamp = m["stamp"]
        datetime.datetime(2000 + int(stamp[6:8]), int(stamp[0:2]), int(stamp[3:5]),
                          int(stamp[9:11]), int(stamp[12:14]), int(stamp[15:17]))  # ValueError if impossible
        spo2 = _value(m["spo2"], int, SPO2_MAX)
        hr = _value(m["bpm"], int, BPM_MAX)
        pi = _value(m["pi"], float, PI_MAX)
    except ValueError:
        return None
    exc, alarm = int(m["exc"], 16), int(m["alarm"], 16)
    status = status_from_flags(
        sensor_off=bool(exc & EXC_SENSOR_PROBLEM),
        searching=bool(exc & EXC_PULSE_SEARCH),
        artifact=bool(exc & EXC_ARTIFACT),
        low_perfusion=bool(exc & EXC_LOW_PERFUSION))
    return OximetrySample(hr=hr, spo2=spo2, status=status, pi=pi, raw_status=(exc << 16) | alarm,
                          resynced=m.start() > start)


class MasimoDecoder:
    """Incremental ASCII 1 decoder: complete lines in, samples out."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = DecoderStats()
        self.junk_lines = 0
        self._lost = False  # a junk line or dropped bytes since the last good line

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
            if end - start > LINE_MAX:
                self._lost = True
            length, start = end + 1 - start, end + 1
            if not line.strip():
                continue
            sample = _parse(line.decode("latin-1"))
            if sample is None:
                self.junk_lines += 1
                self.stats.bad_frames += 1
                self.stats.skipped_bytes += length
                self._lost = True
            else:
                if self._lost and not sample.resynced:
                    sample = replace(sample, resynced=True)
                self._lost = False
                out.append(sample)
                self.stats.frames += 1
        del buf[:start]
        if len(buf) > LINE_MAX:
            self._lost = True
            self.stats.skipped_bytes += len(buf) - LINE_MAX
            del buf[:len(buf) - LINE_MAX]
        return out
