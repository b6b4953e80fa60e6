"""Nonin serial formats: Data Format 2 (5-byte frames, 25 a packet) and Data Format 8.

Pure codecs over bytes (docs/ARCHITECTURE.md, "Device wire formats"). Decoders are incremental:
feed them whatever the port returned and they hand back whole samples, dropping
garbage, partial frames and bad checksums without losing the next good packet.
The builders are the device side, used by the emulators and the tests.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

from .oximeter_sample import DecoderStats, OximetrySample, status_from_flags

HR_MISSING = 511
SPO2_MISSING = 127

# ------------------------------------------------------------------ Data Format 2
DF2_FRAME = 5
DF2_FRAMES_PER_PACKET = 25
DF2_PACKET = DF2_FRAME * DF2_FRAMES_PER_PACKET
DF2_FRAMES_PER_S = 75

# STATUS byte
DF2_ALWAYS = 0x80
DF2_SENSOR_DISCONNECTED = 0x40
DF2_ARTIFACT = 0x20
DF2_OUT_OF_TRACK = 0x10
DF2_SENSOR_ALARM = 0x08
DF2_PERFUSION_MASK = 0x06
DF2_PERFUSION_GREEN = 0x02
DF2_PERFUSION_RED = 0x04
DF2_PERFUSION_YELLOW = 0x06
DF2_PACKET_START = 0x01
# STATUS2 (VALUE of frame 7)
DF2_LOW_BATTERY = 0x01

# VALUE byte by frame index
DF2_HR_MSB, DF2_HR_LSB, DF2_SPO2, DF2_FIRMWARE = 0, 1, 2, 3
DF2_TIMER_MSB, DF2_TIMER_LSB, DF2_STATUS2 = 5, 6, 7
DF2_SPO2_D, DF2_SPO2_FAST, DF2_SPO2_BB = 8, 9, 10
DF2_EHR_MSB, DF2_EHR_LSB, DF2_E_SPO2, DF2_E_SPO2_D = 13, 14, 15, 16
DF2_HR_D_MSB, DF2_HR_D_LSB, DF2_EHR_D_MSB, DF2_EHR_D_LSB = 19, 20, 21, 22

# How a reading status is put on the wire (the emulator's choice of bits).
DF2_BITS_FOR_STATUS = {
    "ok": DF2_PERFUSION_GREEN,
    "sensor_off": DF2_SENSOR_DISCONNECTED | DF2_SENSOR_ALARM,
    "searching": DF2_OUT_OF_TRACK,
    "artifact": DF2_ARTIFACT | DF2_PERFUSION_GREEN,
    "low_perfusion": DF2_PERFUSION_RED,
}


def _hr_bytes(hr: Optional[int]) -> tuple[int, int]:
    v = HR_MISSING if hr is None else max(0, min(HR_MISSING, int(hr)))
    return (v >> 7) & 0x03, v & 0x7F


def _spo2_byte(spo2: Optional[int]) -> int:
    return SPO2_MISSING if spo2 is None else max(0, min(SPO2_MISSING, int(spo2)))


def df2_frame(status: int, pleth: int, value: int) -> bytes:
    """One 5-byte frame `01 STATUS PLETH VALUE CHK` (CHK: low byte of the sum of the first four)."""
    status, pleth, value = status & 0xFF, pleth & 0xFF, value & 0xFF
    return bytes((1, status, pleth, value, (1 + status + pleth + value) & 0xFF))


def df2_packet(sample: OximetrySample, pleth: Optional[Sequence[int]] = None, timer: int = 0,
               firmware: int = 0x36, status_bits: Optional[int] = None) -> bytes:
    """The 125 bytes a Nonin sends for one packet (a third of a second).

    `status_bits` overrides the STATUS bits 6..1 derived from `sample.status`, so tests
    can put any combination on the wire.
    """
    bits = DF2_BITS_FOR_STATUS.get(sample.status, 0) if status_bits is None else status_bits
    bits = (bits & 0x7E) | DF2_ALWAYS
    hr_msb, hr_lsb = _hr_bytes(sample.hr)
    spo2 = _spo2_byte(sample.spo2)
    values = [0] * DF2_FRAMES_PER_PACKET
    values[DF2_HR_MSB] = values[DF2_EHR_MSB] = values[DF2_HR_D_MSB] = values[DF2_EHR_D_MSB] = hr_msb
    values[DF2_HR_LSB] = values[DF2_EHR_LSB] = values[DF2_HR_D_LSB] = values[DF2_EHR_D_LSB] = hr_lsb
    for i in (DF2_SPO2, DF2_SPO2_D, DF2_SPO2_FAST, DF2_SPO2_BB, DF2_E_SPO2, DF2_E_SPO2_D):
        values[i] = spo2
    values[DF2_FIRMWARE] = firmware & 0x7F
    values[DF2_TIMER_MSB], values[DF2_TIMER_LSB] = (timer >> 7) & 0x7F, timer & 0x7F
    values[DF2_STATUS2] = DF2_LOW_BATTERY if sample.low_battery else 0
    waves = list(pleth) if pleth is not None else [0] * DF2_FRAMES_PER_PACKET
    out = bytearray()
    for i in range(DF2_FRAMES_PER_PACKET):
        status = bits | (DF2_PACKET_START if i == 0 else 0)
        out += df2_frame(status, waves[i] if i < len(waves) else 0, values[i])
    return bytes(out)


def _df2_frame_ok(buf, off: int, first: bool) -> bool:
    if buf[off] != 0x01:
        return False
    status = buf[off + 1]
    if (status & 0x81) != (0x81 if first else 0x80):
        return False
    return (1 + status + buf[off + 2] + buf[off + 3]) & 0xFF == buf[off + 4]


def _df2_decode_packet(p) -> OximetrySample:
    union = 0
    red = False
    for off in range(1, DF2_PACKET, DF2_FRAME):
        s = p[off]
        union |= s
        red = red or (s & DF2_PERFUSION_MASK) == DF2_PERFUSION_RED
    value = [p[off] for off in range(3, DF2_PACKET, DF2_FRAME)]
    hr = ((value[DF2_HR_MSB] & 0x03) << 7) | (value[DF2_HR_LSB] & 0x7F)
    spo2 = value[DF2_SPO2] & 0x7F
    status = status_from_flags(
        sensor_off=bool(union & (DF2_SENSOR_DISCONNECTED | DF2_SENSOR_ALARM)),
        searching=bool(union & DF2_OUT_OF_TRACK),
        artifact=bool(union & DF2_ARTIFACT),
        low_perfusion=red)
    return OximetrySample(hr=None if hr == HR_MISSING else hr, spo2=None if spo2 == SPO2_MISSING else spo2,
                          status=status, low_battery=bool(value[DF2_STATUS2] & DF2_LOW_BATTERY),
                          raw_status=union & 0x7E)


class Df2Decoder:
    """Incremental DF2 decoder: one sample per complete, checksummed 25-frame packet.

    Sync: a frame with byte0 = 01, STATUS & 0x81 = 0x81 and a good CHK starts a packet.
    On any later bad frame (or a packet-start bit in mid-packet) the packet is dropped
    and the search restarts one byte after where that packet began, so a false sync
    found in noise can never swallow the real packet that follows it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._checked = 0  # frames at the front of _buf already validated as this packet's
        self.stats = DecoderStats()

    def feed(self, data: bytes) -> list[OximetrySample]:
        buf = self._buf
        buf += data
        out: list[OximetrySample] = []
        while True:
            if self._checked == 0:
                start = self._find_packet_start(buf)
                if start:
                    self.stats.skipped_bytes += start
                    del buf[:start]
                if len(buf) < DF2_FRAME:
                    break
                self._checked = 1
            while self._checked < DF2_FRAMES_PER_PACKET and len(buf) >= (self._checked + 1) * DF2_FRAME:
                if not _df2_frame_ok(buf, self._checked * DF2_FRAME, first=False):
                    break
                self._checked += 1
            else:
                if self._checked == DF2_FRAMES_PER_PACKET:
                    out.append(_df2_decode_packet(buf))
                    self.stats.frames += 1
                    del buf[:DF2_PACKET]
                    self._checked = 0
                    continue
                break  # the next frame has not fully arrived
            self.stats.bad_frames += 1  # a bad frame: slide one byte past this packet's start
            self.stats.skipped_bytes += 1
            del buf[:1]
            self._checked = 0
        return out

    @staticmethod
    def _find_packet_start(buf: bytearray) -> int:
        """Index of the first valid packet-start frame, or of a candidate still arriving."""
        i = 0
        n = len(buf)
        while True:
            i = buf.find(1, i)
            if i < 0:
                return n
            if i + DF2_FRAME > n:
                return i
            if _df2_frame_ok(buf, i, first=True):
                return i
            i += 1


# ------------------------------------------------------------------ Data Format 8
DF8_PACKET = 4
# STATUS1
DF8_ALWAYS = 0x80
DF8_SENSOR_DISCONNECTED = 0x40
DF8_OUT_OF_TRACK = 0x20
DF8_LOW_PERFUSION = 0x10
DF8_MARGINAL_PERFUSION = 0x08
DF8_ARTIFACT = 0x04
DF8_HR_HIGH_BITS = 0x03
# STATUS2
DF8_SENSOR_ALARM = 0x08
DF8_LOW_BATTERY = 0x01
DF8_HR_MAX = 321  # Nonin's displayed range; anything else but 511 is not a DF8 packet
DF8_SPO2_MAX = 100

DF8_BITS_FOR_STATUS = {
    "ok": (0, 0),
    "sensor_off": (DF8_SENSOR_DISCONNECTED, DF8_SENSOR_ALARM),
    "searching": (DF8_OUT_OF_TRACK, 0),
    "artifact": (DF8_ARTIFACT, 0),
    "low_perfusion": (DF8_LOW_PERFUSION, 0),
}


def df8_packet(sample: OximetrySample, status1_bits: Optional[int] = None,
               status2_bits: Optional[int] = None) -> bytes:
    """The 4 bytes `STATUS1 HR-LSB SPO2 STATUS2` a Nonin sends once a second in DF8."""
    s1, s2 = DF8_BITS_FOR_STATUS.get(sample.status, (0, 0))
    if status1_bits is not None:
        s1 = status1_bits
    if status2_bits is not None:
        s2 = status2_bits
    if sample.low_battery:
        s2 |= DF8_LOW_BATTERY
    hr_high, hr_low = _hr_bytes(sample.hr)
    return bytes((DF8_ALWAYS | (s1 & 0x7C) | hr_high, hr_low, _spo2_byte(sample.spo2), s2 & 0x7F))


def _df8_decode(s1: int, hr_low: int, spo2: int, s2: int) -> Optional[OximetrySample]:
    hr = ((s1 & DF8_HR_HIGH_BITS) << 7) | hr_low
    if not (hr <= DF8_HR_MAX or hr == HR_MISSING) or not (spo2 <= DF8_SPO2_MAX or spo2 == SPO2_MISSING):
        return None
    status = status_from_flags(
        sensor_off=bool(s1 & DF8_SENSOR_DISCONNECTED or s2 & DF8_SENSOR_ALARM),
        searching=bool(s1 & DF8_OUT_OF_TRACK),
        artifact=bool(s1 & DF8_ARTIFACT),
        low_perfusion=bool(s1 & DF8_LOW_PERFUSION))
    return OximetrySample(hr=None if hr == HR_MISSING else hr, spo2=None if spo2 == SPO2_MISSING else spo2,
                          status=status, low_battery=bool(s2 & DF8_LOW_BATTERY),
                          raw_status=((s1 & 0x7C) << 8) | s2)


class Df8Decoder:
    """Incremental DF8 decoder. There is no checksum, so sync is the bit pattern
    (STATUS1 bit7 set, the other three bytes' bit7 clear) plus sane HR/SpO2 values; a
    packet found after skipped bytes is marked `resynced`. Whether its values are
    plausible next to its neighbours is for `frame_check.CrossFrameCheck`, which the
    adapter puts around this decoder."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = DecoderStats()
        self._lost = False  # bytes skipped since the last packet

    def feed(self, data: bytes) -> list[OximetrySample]:
        buf = self._buf
        buf += data
        out: list[OximetrySample] = []
        i, n = 0, len(buf)
        while i + DF8_PACKET <= n:
            s1, hr_low, spo2, s2 = buf[i], buf[i + 1], buf[i + 2], buf[i + 3]
            if s1 & 0x80 and not (hr_low | spo2 | s2) & 0x80:
                sample = _df8_decode(s1, hr_low, spo2, s2)
                if sample is not None:
                    if self._lost:
                        sample = replace(sample, resynced=True)
                        self._lost = False
                    out.append(sample)
                    self.stats.frames += 1
                    i += DF8_PACKET
                    continue
                self.stats.bad_frames += 1
            self.stats.skipped_bytes += 1
            self._lost = True
            i += 1
        # Keep a tail that may still become a packet: it must start with a bit7-set byte.
        while i < n and not buf[i] & 0x80:
            self.stats.skipped_bytes += 1
            self._lost = True
            i += 1
        del buf[:i]
        return out
