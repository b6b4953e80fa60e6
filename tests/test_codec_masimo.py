"""Masimo ASCII 1 codec: real lines, dashes, every EXC bit, junk lines and missing fields."""
from __future__ import annotations

import re

import pytest

from adapters.masimo import (EXC_AMBIENT_LIGHT, EXC_DEFECTIVE_SENSOR, EXC_INTERFERENCE, EXC_LOW_PERFUSION,
                             EXC_LOW_SIGNAL_IQ, EXC_NO_CABLE, EXC_NO_SENSOR, EXC_PULSE_SEARCH, EXC_SENSOR_OFF,
                             EXC_SET_MODE, EXC_UNRECOGNISED_SENSOR, LINE_MAX, MasimoDecoder, masimo_line,
                             parse_line)
from adapters.oximeter_sample import OximetrySample

RADICAL7 = (b"02/18/24 14:18:04 SN=0000101979 SPO2=098% BPM=072 PI=02.34% SPCO=--.-% SPMET=--.-% "
            b"DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000800\r\n")
SENSOR_OFF = (b"02/18/24 14:18:05 SN=0000101979 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% "
              b"DESAT=-- PIDELTA=+-- PVI=--- ALARM=0004 EXC=000820\r\n")


def test_decodes_a_radical7_line_set_mode_is_not_an_error():
    (s,) = MasimoDecoder().feed(RADICAL7)
    assert (s.spo2, s.hr, s.pi, s.status) == (98, 72, 2.34, "ok")


def test_dashes_are_missing_values():
    (s,) = MasimoDecoder().feed(SENSOR_OFF)
    assert (s.spo2, s.hr, s.pi, s.status) == (None, None, None, "sensor_off")


@pytest.mark.parametrize("exc, expected", [
    (0, "ok"),
    (EXC_SET_MODE, "ok"),
    (EXC_NO_SENSOR, "sensor_off"),
    (EXC_DEFECTIVE_SENSOR, "sensor_off"),
    (EXC_SENSOR_OFF, "sensor_off"),
    (EXC_UNRECOGNISED_SENSOR, "sensor_off"),
    (EXC_NO_CABLE, "sensor_off"),
    (EXC_PULSE_SEARCH, "searching"),
    (EXC_INTERFERENCE, "artifact"),
    (EXC_AMBIENT_LIGHT, "artifact"),
    (EXC_LOW_SIGNAL_IQ, "artifact"),
    (EXC_LOW_PERFUSION, "low_perfusion"),
    (EXC_LOW_PERFUSION | EXC_INTERFERENCE | EXC_SET_MODE, "artifact"),
    (EXC_LOW_PERFUSION | EXC_INTERFERENCE | EXC_PULSE_SEARCH, "searching"),
    (EXC_PULSE_SEARCH | EXC_SENSOR_OFF, "sensor_off"),
    (0x200, "ok"),  # an undocumented bit does not invent a condition
])
def test_exception_bits(exc, expected):
    line = f"02/18/24 14:18:04 SPO2=097% BPM=070 PI=01.50% ALARM=0000 EXC={exc:06X}\r\n".encode()
    (s,) = MasimoDecoder().feed(line)
    assert s.status == expected
    assert s.raw_status >> 16 == exc


def test_optional_fields_may_be_absent_required_ones_may_not():
    # SN, PI and the SpCO/SpMet/DESAT/PIDELTA/PVI fields are left out by some models
    (s,) = MasimoDecoder().feed(b"01/01/24 00:00:00 SPO2=095% BPM=081 ALARM=0000 EXC=000008\r\n")
    assert (s.spo2, s.hr, s.pi, s.status) == (95, 81, None, "searching")
    # without the time stamp, SPO2, BPM, ALARM or EXC a line is not a reading (issue 10 item 9)
    d = MasimoDecoder()
    assert d.feed(b"SPO2=095% BPM=081\r\n01/01/24 00:00:00 BPM=064 EXC=000008\r\n"
                  b"01/01/24 00:00:00 SPO2=095% BPM=081 EXC=000000\r\n") == []
    assert d.junk_lines == 3


def test_junk_lines_are_skipped_and_counted():
    d = MasimoDecoder()
    out = d.feed(b"\r\n\x00\xff\xfe garbage\r\nRadical-7 v7.8.1.3\r\n" + RADICAL7 + b"ALARM=0000\r\n")
    assert [(s.spo2, s.hr) for s in out] == [(98, 72)]
    assert d.junk_lines == 3
    assert d.stats.skipped_bytes == len(b"\x00\xff\xfe garbage\r\nRadical-7 v7.8.1.3\r\nALARM=0000\r\n")


@pytest.mark.parametrize("bad", [
    b"SPO2=9x% BPM=072 EXC=000800\r\n",      # corrupted digit
    b"SPO2=101% BPM=072 EXC=000800\r\n",     # out of range
    b"SPO2=098% BPM=07.2 EXC=000800\r\n",
    b"SPO2=098% BPM=072 PI=2,34% EXC=000800\r\n",
    b"SPO2=098% BPM=072 EXC=00Z800\r\n",
])
def test_a_corrupted_line_is_skipped_not_guessed(bad):
    d = MasimoDecoder()
    assert d.feed(bad + RADICAL7) == [parse_line(RADICAL7)]


def test_junk_fused_to_a_line_head_still_decodes_the_line():
    (s,) = MasimoDecoder().feed(b"\x93\x01SPO2=5" + RADICAL7)
    assert (s.spo2, s.hr) == (98, 72)


def test_lf_only_and_split_lines():
    d = MasimoDecoder()
    assert d.feed(RADICAL7[:30]) == []
    assert d.feed(RADICAL7[30:-2]) == []
    (s,) = d.feed(b"\n")
    assert s.spo2 == 98


def test_an_endless_junk_line_does_not_grow_the_buffer():
    d = MasimoDecoder()
    for _ in range(50):
        d.feed(b"x" * 1000)
    assert len(d._buf) <= LINE_MAX
    (s,) = d.feed(b"\r\n" + RADICAL7)
    assert s.hr == 72


@pytest.mark.parametrize("status", ["ok", "sensor_off", "searching", "artifact", "low_perfusion"])
def test_builder_round_trips(status):
    sample = OximetrySample(hr=None if status == "sensor_off" else 101,
                            spo2=None if status == "sensor_off" else 90,
                            status=status, pi=None if status == "sensor_off" else 0.42)
    line = masimo_line(sample, when=0)
    (s,) = MasimoDecoder().feed(line)
    assert (s.hr, s.spo2, s.pi, s.status) == (sample.hr, sample.spo2, sample.pi, status)


def test_builder_line_format():
    line = masimo_line(OximetrySample(72, 98, pi=2.34), serial="0000101979").decode()
    assert re.fullmatch(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d (.*)\r\n", line)
    assert line[18:] == RADICAL7.decode()[18:]
