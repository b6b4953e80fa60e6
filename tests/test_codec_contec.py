"""Contec CMS50D+ live protocol: the documented example (docs/ARCHITECTURE.md), status bits, invalid values,
resynchronisation and the host commands."""
from __future__ import annotations

import pytest

from adapters.contec import (CMD_KEEP_ALIVE, CMD_START_LIVE, CMD_STOP_LIVE, KEEP_ALIVE, PR_MAX, START_LIVE,
                             STOP_LIVE, CommandDecoder, ContecDecoder, live_packet)
from adapters.oximeter_sample import OximetrySample

EXAMPLE = bytes.fromhex("01 E0 85 B3 96 C1 E1 FF FF")  # the documented example: PR 65, SpO2 97


def test_design_example_decodes():
    (s,) = ContecDecoder().feed(EXAMPLE)
    assert (s.hr, s.spo2, s.status) == (65, 97, "ok")


def test_design_example_encodes_byte_exact():
    assert live_packet(OximetrySample(65, 97), beat=False, pleth=0x33, bar=0x16, strength=5) == EXAMPLE


@pytest.mark.parametrize("status_byte, expected", [
    (0xE0, "ok"), (0xE1, "sensor_off"), (0xE2, "searching"), (0xE3, "sensor_off"),
])
def test_status_bits(status_byte, expected):
    p = bytearray(EXAMPLE)
    p[1] = status_byte
    (s,) = ContecDecoder().feed(bytes(p))
    assert s.status == expected


@pytest.mark.parametrize("pr_byte, spo2_byte, hr, spo2", [
    (0xFF, 0xE1, None, 97),     # PR 0x7F: no value
    (0x80, 0xE1, None, 97),     # PR 0: no pulse found
    (0xC1, 0xFF, 65, None),     # SpO2 127 > 100: invalid
    (0xC1, 0xE5, 65, None),     # SpO2 101: invalid
    (0xC1, 0xE4, 65, 100),
    (0xC1, 0x80, 65, None),     # SpO2 0
])
def test_missing_and_invalid_values(pr_byte, spo2_byte, hr, spo2):
    p = bytearray(EXAMPLE)
    p[5], p[6] = pr_byte, spo2_byte
    (s,) = ContecDecoder().feed(bytes(p))
    assert (s.hr, s.spo2) == (hr, spo2)


@pytest.mark.parametrize("status", ["ok", "sensor_off", "searching"])
def test_builder_round_trips(status):
    sample = OximetrySample(None, None, status) if status != "ok" else OximetrySample(120, 91)
    (s,) = ContecDecoder().feed(live_packet(sample, beat=True, pleth=100, bar=9))
    assert (s.hr, s.spo2, s.status) == (sample.hr, sample.spo2, status)


def test_rates_above_the_7_bit_field_are_capped():
    (s,) = ContecDecoder().feed(live_packet(OximetrySample(180, 95)))
    assert s.hr == PR_MAX == 126


def test_resyncs_after_garbage_and_broken_packets():
    d = ContecDecoder()
    stream = (b"\xff\xfe\x80"             # bit7-set junk
              + EXAMPLE[:5]               # truncated packet...
              + EXAMPLE                   # ...cut short by a new packet start
              + b"\x05\x07"               # bit7-clear junk
              + EXAMPLE)
    out = d.feed(stream)
    assert [(s.hr, s.spo2) for s in out] == [(65, 97), (65, 97)]
    assert d.stats.bad_frames >= 1 and d.stats.skipped_bytes > 0


def test_byte_by_byte_and_other_packet_types():
    d = ContecDecoder()
    other = bytes.fromhex("0C 80 81 82 83 84 85 86 87")  # not live data: ignored
    out = [s for b in other + EXAMPLE + EXAMPLE for s in d.feed(bytes([b]))]
    assert len(out) == 2


def test_host_commands_match_design():
    assert START_LIVE == bytes.fromhex("7D 81 A1 80 80 80 80 80 80")
    assert KEEP_ALIVE == bytes.fromhex("7D 81 AF 80 80 80 80 80 80")
    assert STOP_LIVE[2] == CMD_STOP_LIVE


def test_command_decoder_for_the_emulator():
    d = CommandDecoder()
    assert d.feed(b"\x00junk" + START_LIVE + KEEP_ALIVE[:4]) == [CMD_START_LIVE]
    assert d.feed(KEEP_ALIVE[4:] + STOP_LIVE) == [CMD_KEEP_ALIVE, CMD_STOP_LIVE]
