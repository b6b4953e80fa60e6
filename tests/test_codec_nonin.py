"""Nonin Data Format 2 and Data Format 8 codecs: real byte strings, every status bit,
missing values, checksum failures and resynchronisation."""
from __future__ import annotations

import pytest

from adapters.nonin import (DF2_ARTIFACT, DF2_OUT_OF_TRACK, DF2_PACKET, DF2_PERFUSION_GREEN,
                            DF2_PERFUSION_RED, DF2_PERFUSION_YELLOW, DF2_SENSOR_ALARM,
                            DF2_SENSOR_DISCONNECTED, Df2Decoder, Df8Decoder, df2_frame, df2_packet,
                            df8_packet)
from adapters.oximeter_sample import OximetrySample, status_from_flags


def frames(*triples) -> bytes:
    """A DF2 stream from (status, pleth, value) triples, checksums computed by hand here."""
    out = bytearray()
    for status, pleth, value in triples:
        out += bytes((0x01, status, pleth, value, (0x01 + status + pleth + value) & 0xFF))
    return bytes(out)


def packet_from_values(values: dict, status: int = 0x82, status_of: dict = None) -> bytes:
    """25 frames; `values` maps frame index to VALUE, `status_of` overrides STATUS per frame."""
    status_of = status_of or {}
    triples = []
    for i in range(25):
        s = status_of.get(i, status) | (0x01 if i == 0 else 0)
        triples.append((s, 0x40 + i, values.get(i, 0)))
    return frames(*triples)


NORMAL = packet_from_values({0: 0x00, 1: 72, 2: 97, 7: 0x00})  # HR 72, SpO2 97, green perfusion


# ------------------------------------------------------------------ DF2 wire bytes
def test_df2_frame_checksum_is_low_byte_of_sum():
    assert df2_frame(0x83, 0x40, 0x00) == bytes.fromhex("01 83 40 00 c4")
    assert df2_frame(0xFF, 0xFF, 0x7F) == bytes.fromhex("01 ff ff 7f 7e")  # 0x27E -> 0x7E


def test_df2_builder_puts_hr_and_spo2_in_frames_0_to_2():
    p = df2_packet(OximetrySample(72, 97), pleth=[0x40] * 25)
    assert len(p) == DF2_PACKET == 125
    assert p[:15] == bytes.fromhex("01 83 40 00 c4  01 82 40 48 0b  01 82 40 61 24")
    assert all(p[5 * i] == 0x01 and p[5 * i + 1] & 0x81 == 0x80 for i in range(1, 25))


def test_df2_decodes_a_hand_built_packet():
    (s,) = Df2Decoder().feed(NORMAL)
    assert (s.hr, s.spo2, s.status, s.low_battery) == (72, 97, "ok", False)


def test_df2_heart_rate_uses_two_msb_bits():
    (s,) = Df2Decoder().feed(packet_from_values({0: 0x02, 1: 0x2C, 2: 95}))
    assert s.hr == 300  # (2 << 7) | 44
    (s,) = Df2Decoder().feed(packet_from_values({0: 0x7E, 1: 0xC8, 2: 95}))  # only the low bits count
    assert s.hr == (0x02 << 7) | 0x48


def test_df2_missing_values_decode_to_none():
    (s,) = Df2Decoder().feed(packet_from_values({0: 0x03, 1: 0x7F, 2: 0x7F}))
    assert (s.hr, s.spo2) == (None, None)  # HR 511, SpO2 127
    assert df2_packet(OximetrySample(None, None))[3::5][:3] == bytes((0x03, 0x7F, 0x7F))


def test_df2_low_battery_from_status2():
    (s,) = Df2Decoder().feed(packet_from_values({1: 70, 2: 96, 7: 0x01}))
    assert s.low_battery


@pytest.mark.parametrize("bits, expected", [
    (DF2_PERFUSION_GREEN, "ok"),
    (DF2_PERFUSION_YELLOW, "ok"),
    (0, "ok"),
    (DF2_PERFUSION_RED, "low_perfusion"),
    (DF2_ARTIFACT | DF2_PERFUSION_GREEN, "artifact"),
    (DF2_OUT_OF_TRACK, "searching"),
    (DF2_SENSOR_ALARM, "sensor_off"),
    (DF2_SENSOR_DISCONNECTED, "sensor_off"),
    # priority: sensor_off > searching > artifact > low_perfusion
    (DF2_SENSOR_DISCONNECTED | DF2_OUT_OF_TRACK | DF2_ARTIFACT | DF2_PERFUSION_RED, "sensor_off"),
    (DF2_OUT_OF_TRACK | DF2_ARTIFACT | DF2_PERFUSION_RED, "searching"),
    (DF2_ARTIFACT | DF2_PERFUSION_RED, "artifact"),
])
def test_df2_status_bits(bits, expected):
    (s,) = Df2Decoder().feed(packet_from_values({1: 80, 2: 96}, status=0x80 | bits))
    assert s.status == expected
    (again,) = Df2Decoder().feed(df2_packet(OximetrySample(80, 96), status_bits=bits))
    assert again.status == expected


def test_df2_a_flag_on_one_frame_flags_the_packet():
    (s,) = Df2Decoder().feed(packet_from_values({1: 80, 2: 96}, status_of={17: 0x80 | DF2_ARTIFACT}))
    assert s.status == "artifact"
    (s,) = Df2Decoder().feed(packet_from_values({1: 80, 2: 96}, status_of={9: 0x80 | DF2_PERFUSION_RED}))
    assert s.status == "low_perfusion"


@pytest.mark.parametrize("status", ["ok", "sensor_off", "searching", "artifact", "low_perfusion"])
def test_df2_builder_round_trips_every_status(status):
    sample = OximetrySample(131, 93, status, low_battery=True)
    (s,) = Df2Decoder().feed(df2_packet(sample))
    assert (s.hr, s.spo2, s.status, s.low_battery) == (131, 93, status, True)


# ------------------------------------------------------------------ DF2 resync
def test_df2_bad_checksum_drops_that_packet_only():
    good = df2_packet(OximetrySample(70, 98))
    bad = bytearray(df2_packet(OximetrySample(140, 80)))
    bad[5 * 12 + 4] ^= 0x01  # frame 12's checksum
    d = Df2Decoder()
    out = d.feed(good + bytes(bad) + good)
    assert [(s.hr, s.spo2) for s in out] == [(70, 98), (70, 98)]
    assert d.stats.bad_frames >= 1 and d.stats.frames == 2


def test_df2_resyncs_after_garbage_and_partial_packets():
    p = df2_packet(OximetrySample(66, 99))
    stream = b"\xff\x01\x81\x00" + p[:40] + b"\x01\x02\x03" + p + p[70:] + p
    out = Df2Decoder().feed(stream)
    assert [(s.hr, s.spo2) for s in out] == [(66, 99), (66, 99)]


def test_df2_false_sync_in_noise_does_not_swallow_the_real_packet():
    fake_start = df2_frame(0x81, 0x00, 0x00)  # a valid-looking packet-start frame in the noise
    p = df2_packet(OximetrySample(88, 94))
    out = Df2Decoder().feed(b"\x10" + fake_start + df2_frame(0x80, 1, 2) + p)
    assert [(s.hr, s.spo2) for s in out] == [(88, 94)]


def test_df2_fed_one_byte_at_a_time():
    stream = b"junk" + df2_packet(OximetrySample(61, 97)) + b"\x01" + df2_packet(OximetrySample(62, 96))
    d = Df2Decoder()
    out = [s for b in stream for s in d.feed(bytes([b]))]
    assert [(s.hr, s.spo2) for s in out] == [(61, 97), (62, 96)]


def test_df2_garbage_without_sync_bytes_is_dropped_not_kept():
    d = Df2Decoder()
    assert d.feed(bytes(range(2, 256)) * 10) == []
    assert d.stats.skipped_bytes == 254 * 10
    assert len(d._buf) == 0


# ------------------------------------------------------------------ DF8
def test_df8_decodes_real_bytes():
    (s,) = Df8Decoder().feed(bytes.fromhex("80 48 61 00"))
    assert (s.hr, s.spo2, s.status, s.low_battery) == (72, 97, "ok", False)
    (s,) = Df8Decoder().feed(bytes.fromhex("82 2c 5f 01"))
    assert (s.hr, s.spo2, s.low_battery) == (300, 95, True)


def test_df8_missing_values():
    (s,) = Df8Decoder().feed(bytes.fromhex("83 7f 7f 00"))
    assert (s.hr, s.spo2) == (None, None)


@pytest.mark.parametrize("status1, status2, expected", [
    (0x80, 0x00, "ok"),
    (0x88, 0x00, "ok"),             # marginal perfusion is not low perfusion
    (0x90, 0x00, "low_perfusion"),
    (0x84, 0x00, "artifact"),
    (0xA0, 0x00, "searching"),
    (0xC0, 0x00, "sensor_off"),
    (0x80, 0x08, "sensor_off"),     # STATUS2 sensor alarm
    (0xF4, 0x00, "sensor_off"),     # priority
    (0xB4, 0x00, "searching"),
    (0x94, 0x00, "artifact"),
])
def test_df8_status_bits(status1, status2, expected):
    (s,) = Df8Decoder().feed(bytes((status1, 75, 96, status2)))
    assert s.status == expected


@pytest.mark.parametrize("status", ["ok", "sensor_off", "searching", "artifact", "low_perfusion"])
def test_df8_builder_round_trips(status):
    (s,) = Df8Decoder().feed(df8_packet(OximetrySample(201, 88, status)))
    assert (s.hr, s.spo2, s.status) == (201, 88, status)
    assert df8_packet(OximetrySample(72, 97)) == bytes.fromhex("80 48 61 00")


def test_df8_syncs_on_bit7_pattern_and_rejects_insane_values():
    d = Df8Decoder()
    stream = (bytes.fromhex("05 85 10")        # junk, a STATUS1 followed by too few bytes
              + bytes.fromhex("80 48 70 00")   # SpO2 112: not a packet
              + bytes.fromhex("83 20 61 00")   # HR 416: not a packet
              + bytes.fromhex("80 48 61 00"))
    out = d.feed(stream)
    assert [(s.hr, s.spo2) for s in out] == [(72, 97)]
    assert d.stats.skipped_bytes > 0


def test_df8_split_across_reads():
    d = Df8Decoder()
    assert d.feed(bytes.fromhex("7f 80 48")) == []
    (s,) = d.feed(bytes.fromhex("61 00 81"))
    assert s.hr == 72
    (s,) = d.feed(bytes.fromhex("2c 5f 00"))
    assert s.hr == 172


def test_status_priority_helper():
    assert status_from_flags() == "ok"
    assert status_from_flags(low_perfusion=True, artifact=True) == "artifact"
    assert status_from_flags(low_perfusion=True, searching=True, sensor_off=True) == "sensor_off"
