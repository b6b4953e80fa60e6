"""Contec CMS50D+ (firmware >= 4.6) live protocol, 115200 8N1.

Device packets are 9 bytes: `01 STATUS 80|beat<<6 PLETH|80 BAR|80 PR|80 SPO2|80 FF FF`.
Byte 0 is the only byte with bit7 clear, which is all the framing there is: any
bit7-clear byte starts a packet, so the decoder re-aligns on the very next packet
after any garbage. Host commands use the same framing (`7D 81 cmd 80 80 80 80 80 80`).
"""
from __future__ import annotations

from dataclasses import replace

from .oximeter_sample import DecoderStats, OximetrySample, status_from_flags

PACKET = 9
TRAILER = b"\xff\xff"  # the last two bytes of every live packet
LIVE_DATA = 0x01
STATUS_VALID = 0xE0
STATUS_FINGER_OUT = 0x01
STATUS_SEARCHING = 0x02
BEAT = 0x40
VALUE_MISSING = 0x7F  # PR or SpO2 field with no value
SPO2_MAX = 100        # SpO2 above this means invalid
PACKETS_PER_S = 60
# The documented packet (docs/ARCHITECTURE.md, "Device wire formats") gives PR as 7 bits
# (PR|0x80), so 126 is the highest rate this framing carries.
PR_MAX = 0x7E

COMMAND_PREFIX = 0x7D
CMD_START_LIVE = 0xA1
CMD_STOP_LIVE = 0xA2
CMD_KEEP_ALIVE = 0xAF


def command(code: int) -> bytes:
    """A host command: `7D 81 code 80 80 80 80 80 80`."""
    return bytes((COMMAND_PREFIX, 0x81, 0x80 | code, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80))


START_LIVE = command(CMD_START_LIVE)
STOP_LIVE = command(CMD_STOP_LIVE)
KEEP_ALIVE = command(CMD_KEEP_ALIVE)
KEEP_ALIVE_TIMEOUT_S = 5.0  # the device stops streaming without a keep-alive for this long

STATUS_BITS_FOR = {"sensor_off": STATUS_FINGER_OUT, "searching": STATUS_SEARCHING}


def live_packet(sample: OximetrySample, beat: bool = False, pleth: int = 0, bar: int = 0,
                strength: int = 0) -> bytes:
    """The 9 bytes the oximeter streams 60 times a second.

    `strength` fills the low nibble of byte 2, as in the documented example (`85`); the
    decoder does not interpret it. Rates above PR_MAX are sent as PR_MAX.
    """
    status = STATUS_VALID | STATUS_BITS_FOR.get(sample.status, 0)
    pr = VALUE_MISSING if sample.hr is None else max(0, min(PR_MAX, int(sample.hr)))
    spo2 = VALUE_MISSING if sample.spo2 is None else max(0, min(SPO2_MAX, int(sample.spo2)))
    return bytes((LIVE_DATA, status, 0x80 | (BEAT if beat else 0) | (strength & 0x0F),
                  0x80 | (pleth & 0x7F), 0x80 | (bar & 0x7F), 0x80 | pr, 0x80 | spo2, 0xFF, 0xFF))


def _decode_live(p) -> OximetrySample:
    status = p[1]
    pr = p[5] & 0x7F
    spo2 = p[6] & 0x7F
    return OximetrySample(
        hr=None if pr in (0, VALUE_MISSING) else pr,
        spo2=None if spo2 == 0 or spo2 > SPO2_MAX else spo2,
        status=status_from_flags(sensor_off=bool(status & STATUS_FINGER_OUT),
                                 searching=bool(status & STATUS_SEARCHING)),
        raw_status=status)


class _Bit7Framer:
    """Splits a stream into `PACKET`-byte packets that start at the one bit7-clear byte."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = DecoderStats()
        self.lost = False  # bytes or packets thrown away since the last packet handed out

    def packets(self, data: bytes) -> list[tuple[bytes, bool]]:
        """Whole packets, each with whether something was thrown away just before it."""
        buf = self._buf
        buf += data
        out: list[tuple[bytes, bool]] = []
        i, n = 0, len(buf)
        while i < n:
            if buf[i] & 0x80:  # not a packet start: garbage or the tail of a broken packet
                i += 1
                self.stats.skipped_bytes += 1
                self.lost = True
                continue
            j = i + 1
            end = min(i + PACKET, n)
            while j < end and buf[j] & 0x80:
                j += 1
            if j == i + PACKET:
                out.append((bytes(buf[i:j]), self.lost))
                self.lost = False
                i = j
            elif j < end:  # a new packet began before this one ended: drop the broken one
                self.stats.bad_frames += 1
                self.stats.skipped_bytes += j - i
                self.lost = True
                i = j
            else:
                break  # the packet is still arriving
        del buf[:i]
        return out


class ContecDecoder:
    """Incremental decoder for the device's stream: live-data samples out.

    A live packet must end in the documented `FF FF`; a sample found after thrown-away
    bytes is marked `resynced`. The adapter puts `frame_check.CrossFrameCheck` around
    this decoder: a new PR/SpO2 is passed only once two packets running carry it."""

    def __init__(self) -> None:
        self._framer = _Bit7Framer()
        self.stats = self._framer.stats

    def feed(self, data: bytes) -> list[OximetrySample]:
        out = []
        thrown = False  # a packet thrown away here since the last sample
        for p, lost in self._framer.packets(data):
            if p[0] == LIVE_DATA and p[7:] == TRAILER:
                sample = _decode_live(p)
                out.append(replace(sample, resynced=True) if lost or thrown else sample)
                self.stats.frames += 1
                thrown = False
            else:  # another packet type (e.g. a reply), or a live packet with a broken trailer
                self.stats.bad_frames += 1
                thrown = True
        if thrown:
            self._framer.lost = True
        return out


class CommandDecoder:
    """The device side: host commands in, their codes (CMD_*) out."""

    def __init__(self) -> None:
        self._framer = _Bit7Framer()

    def feed(self, data: bytes) -> list[int]:
        return [p[2] for p, _ in self._framer.packets(data) if p[0] == COMMAND_PREFIX]

