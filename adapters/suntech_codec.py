"""SunTech Advantage NIBP module wire format: pure functions over bytes, no I/O.

Host → module frames are `3A` + command + CHK; module → host frames are
`3E` + LEN + data + CHK with LEN counting the whole frame. In both, CHK makes the
byte sum of the frame 0 mod 256. Keeping this free of I/O lets the adapter, the
emulator, the fuzz tests and the benchmark share one definition of the bytes.

Offsets: every offset below is counted from the frame's first byte, so in a module
frame byte 0 is 0x3E, byte 1 is LEN and the data starts at byte 2. The 24-byte BP
data frame therefore holds SYS in bytes 2-3, DIA in 4-5, pulse rate in 16-17 and
MAP in 18-19 (each a little-endian uint16), the error code in byte 20 and CHK in
byte 23. Nothing here raises on bad bytes: garbage is skipped and counted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

HOST_START = 0x3A
MODULE_START = 0x3E


def checksum(body: bytes) -> int:
    """The byte that makes sum(body + CHK) == 0 mod 256."""
    return -sum(body) & 0xFF


def checksum_ok(frame: bytes) -> bool:
    return sum(frame) & 0xFF == 0


# ------------------------------------------------------------------ host → module
def host_frame(command: bytes) -> bytes:
    """`3A` + command + CHK."""
    body = bytes([HOST_START]) + bytes(command)
    return body + bytes([checksum(body)])


CMD_START_ADULT = b"\x20"
CMD_ABORT = b"\x79\x01\x00"
CMD_GET_BP_DATA = b"\x79\x03\x00"
CMD_GET_CUFF_PRESSURE = b"\x79\x05\x00"

START_ADULT = host_frame(CMD_START_ADULT)            # 3A 20 A6
ABORT = host_frame(CMD_ABORT)                        # 3A 79 01 00 4C
GET_BP_DATA = host_frame(CMD_GET_BP_DATA)            # 3A 79 03 00 4A
GET_CUFF_PRESSURE = host_frame(CMD_GET_CUFF_PRESSURE)  # 3A 79 05 00 48

HOST_COMMANDS = {CMD_START_ADULT: "start", CMD_ABORT: "abort", CMD_GET_BP_DATA: "get_bp_data",
                 CMD_GET_CUFF_PRESSURE: "get_cuff_pressure"}
# Command length (without 3A and CHK) by the command's first byte; host frames carry no LEN.
_HOST_COMMAND_LENGTHS = {0x20: 1, 0x79: 3}

# ------------------------------------------------------------------ module → host
ACK_LENGTH, PRESSURE_LENGTH, BP_DATA_LENGTH = 4, 5, 24
FRAME_LENGTHS = frozenset((ACK_LENGTH, PRESSURE_LENGTH, BP_DATA_LENGTH))

ACK_STARTED, ACK_COMPLETE, ACK_ABORTED = ord("O"), ord("K"), ord("A")
ACK_NAMES = {ACK_STARTED: "started", ACK_COMPLETE: "complete", ACK_ABORTED: "aborted"}

# Error byte meanings; worded like adapters.sim.physiology.NIBP_ERRORS so the simulated
# and the real cuff chart the same text (a test keeps them in step).
ERROR_MEANINGS = {
    1: "weak signal", 2: "motion artifact", 3: "out of range", 4: "measurement timeout",
    85: "air leak or blockage", 87: "cuff error", 89: "over-pressure", 90: "hardware fault",
}


def error_meaning(code: int) -> str:
    return ERROR_MEANINGS.get(code, "unknown error")


def module_frame(data: bytes) -> bytes:
    """`3E` + LEN + data + CHK, LEN counting all of it."""
    body = bytes([MODULE_START, len(data) + 3]) + bytes(data)
    return body + bytes([checksum(body)])


@dataclass(frozen=True)
class Ack:
    """A 4-byte status frame: started ('O'), complete ('K') or aborted ('A')."""

    code: int

    @property
    def name(self) -> str:
        return ACK_NAMES.get(self.code, f"unknown 0x{self.code:02X}")


@dataclass(frozen=True)
class CuffPressure:
    mmhg: int


@dataclass(frozen=True)
class BpData:
    """The result of the last measurement; `error` 0 means the values are valid."""

    sbp: int
    dbp: int
    map: int
    pulse: int
    error: int = 0

    @property
    def ok(self) -> bool:
        return self.error == 0

    @property
    def error_detail(self) -> str:
        """'<meaning> (code N)', as charted in readings.detail."""
        return f"{error_meaning(self.error)} (code {self.error})"


ModuleMessage = Union[Ack, CuffPressure, BpData]

ACK_START_FRAME = module_frame(bytes([ACK_STARTED]))      # 3E 04 4F 6F
COMPLETE_FRAME = module_frame(bytes([ACK_COMPLETE]))      # 3E 04 4B 73
ABORT_ACK_FRAME = module_frame(bytes([ACK_ABORTED]))      # 3E 04 41 7D


def cuff_pressure_frame(mmhg: int) -> bytes:
    """`3E 05 lo hi CHK`."""
    return module_frame(_u16(mmhg))


def bp_data_frame(sbp: int, dbp: int, map_: int, pulse: int, error: int = 0) -> bytes:
    """The 24-byte answer to GET_BP_DATA; fields the adapter does not use are zero."""
    frame = bytearray(BP_DATA_LENGTH - 1)
    frame[0], frame[1] = MODULE_START, BP_DATA_LENGTH
    frame[2:4], frame[4:6] = _u16(sbp), _u16(dbp)
    frame[16:18], frame[18:20] = _u16(pulse), _u16(map_)
    frame[20] = error & 0xFF
    return bytes(frame) + bytes([checksum(frame)])


def parse_module_frame(frame: bytes) -> Optional[ModuleMessage]:
    """One whole module frame → message; None if it is not a well-formed frame."""
    n = len(frame)
    if n < ACK_LENGTH or frame[0] != MODULE_START or frame[1] != n or not checksum_ok(frame):
        return None
    if n == ACK_LENGTH:
        return Ack(frame[2])
    if n == PRESSURE_LENGTH:
        return CuffPressure(_le16(frame, 2))
    if n == BP_DATA_LENGTH:
        return BpData(sbp=_le16(frame, 2), dbp=_le16(frame, 4), map=_le16(frame, 18),
                      pulse=_le16(frame, 16), error=frame[20])
    return None


class _StreamDecoder:
    """Buffering shared by both directions: feed bytes, or expire a quiet line's leftovers."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.discarded = 0  # bytes skipped as garbage

    def feed(self, data: bytes) -> list:
        self._buf += data
        return self._scan()

    def expire(self) -> list:
        """The line went quiet: what is buffered will never complete; salvage frames inside it."""
        out: list = []
        while self._buf:
            del self._buf[0]
            self.discarded += 1
            out += self._scan()
        return out

    def _scan(self) -> list:
        raise NotImplementedError


class ModuleDecoder(_StreamDecoder):
    """Incremental decoder for the module's byte stream.

    A frame is accepted only when it starts with 3E, has a known LEN (4, 5 or 24) and a
    good checksum. Anything else costs exactly one byte before the search resumes, so
    a valid frame hidden behind garbage, a truncated frame or a bad checksum is still
    found. A frame cut off by silence cannot be told from one still arriving, so the
    caller says when the line went quiet with `expire()`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    @property
    def pending(self) -> int:
        """Bytes held back as the start of an incomplete frame."""
        return len(self._buf)

    def _scan(self) -> list[ModuleMessage]:
        buf, out, i, n = self._buf, [], 0, len(self._buf)
        while i < n:
            if buf[i] != MODULE_START:
                j = buf.find(MODULE_START, i + 1)
                skip_to = n if j < 0 else j
                self.discarded += skip_to - i
                i = skip_to
                continue
            if i + 1 >= n:
                break  # need LEN
            length = buf[i + 1]
            if length not in FRAME_LENGTHS:
                i += 1
                self.discarded += 1
                continue
            if i + length > n:
                break  # incomplete: wait for more bytes (or expire())
            msg = parse_module_frame(bytes(buf[i:i + length]))
            if msg is None:
                i += 1
                self.discarded += 1
                continue
            out.append(msg)
            self.frames += 1
            i += length
        del buf[:i]
        return out


class HostCommandDecoder(_StreamDecoder):
    """Incremental decoder for what the host sends (used by the emulator).

    Returns the command bytes (without 3A and CHK) of each good frame; unknown
    commands and bad checksums cost one byte each, as in ModuleDecoder.
    """

    def _scan(self) -> list[bytes]:
        buf, out, i = self._buf, [], 0
        while i < len(buf):
            if buf[i] != HOST_START:
                i += 1
                self.discarded += 1
                continue
            if i + 1 >= len(buf):
                break
            size = _HOST_COMMAND_LENGTHS.get(buf[i + 1])
            if size is None:
                i += 1
                self.discarded += 1
                continue
            end = i + 2 + size
            if end > len(buf):
                break
            if checksum_ok(buf[i:end]):
                out.append(bytes(buf[i + 1:end - 1]))
                i = end
            else:
                i += 1
                self.discarded += 1
        del buf[:i]
        return out


def _u16(value: int) -> bytes:
    return (int(value) & 0xFFFF).to_bytes(2, "little")


def _le16(frame: bytes, offset: int) -> int:
    return frame[offset] | frame[offset + 1] << 8
