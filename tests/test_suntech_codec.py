"""SunTech Advantage codec: the documented byte strings (docs/ARCHITECTURE.md), checksums, error codes, resync, fuzz."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from adapters import suntech_codec as codec
from adapters.sim.physiology import NIBP_ERRORS
from adapters.suntech_codec import Ack, BpData, CuffPressure, HostCommandDecoder, ModuleDecoder


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ------------------------------------------------------------ the documented frames, byte for byte
@pytest.mark.parametrize("frame, expected", [
    (codec.START_ADULT, "3A 20 A6"),
    (codec.GET_BP_DATA, "3A 79 03 00 4A"),
    (codec.ABORT, "3A 79 01 00 4C"),
    (codec.GET_CUFF_PRESSURE, "3A 79 05 00 48"),
])
def test_host_commands_are_the_documented_bytes(frame, expected):
    assert frame == h(expected)


@pytest.mark.parametrize("frame, expected, meaning", [
    (codec.ACK_START_FRAME, "3E 04 4F 6F", "started"),
    (codec.COMPLETE_FRAME, "3E 04 4B 73", "complete"),
    (codec.ABORT_ACK_FRAME, "3E 04 41 7D", "aborted"),
])
def test_module_status_frames_are_the_documented_bytes(frame, expected, meaning):
    assert frame == h(expected)
    (msg,) = ModuleDecoder().feed(h(expected))
    assert isinstance(msg, Ack) and msg.name == meaning


@pytest.mark.parametrize("text", ["3A 20 A6", "3A 79 03 00 4A", "3A 79 01 00 4C", "3A 79 05 00 48",
                                  "3E 04 4F 6F", "3E 04 4B 73", "3E 04 41 7D"])
def test_every_documented_frame_sums_to_zero_mod_256(text):
    frame = h(text)
    assert sum(frame) % 256 == 0
    assert codec.checksum_ok(frame)
    assert codec.checksum(frame[:-1]) == frame[-1]


def test_host_frame_builder_appends_the_checksum():
    assert codec.host_frame(b"\x20") == h("3A 20 A6")
    assert codec.host_frame(b"\x79\x05\x00") == h("3A 79 05 00 48")


def test_module_frame_length_counts_the_whole_frame():
    assert codec.module_frame(b"O")[1] == 4
    assert codec.cuff_pressure_frame(0)[1] == 5 and len(codec.cuff_pressure_frame(0)) == 5
    assert codec.bp_data_frame(120, 80, 93, 70)[1] == 24 and len(codec.bp_data_frame(120, 80, 93, 70)) == 24


@pytest.mark.parametrize("mmhg, lo_hi", [(0, "00 00"), (165, "A5 00"), (300, "2C 01")])
def test_cuff_pressure_frame_is_3e_05_lo_hi_chk(mmhg, lo_hi):
    body = h("3E 05 " + lo_hi)
    frame = body + bytes([-sum(body) & 0xFF])
    assert codec.cuff_pressure_frame(mmhg) == frame
    assert ModuleDecoder().feed(frame) == [CuffPressure(mmhg)]


def hand_built_bp_frame(sys_, dia, pulse, map_, error) -> bytes:
    """Written from the documented offsets (byte 0 = 3E), independently of the codec's encoder."""
    f = bytearray(24)
    f[0], f[1] = 0x3E, 0x18
    f[2], f[3] = sys_ & 0xFF, sys_ >> 8
    f[4], f[5] = dia & 0xFF, dia >> 8
    f[16], f[17] = pulse & 0xFF, pulse >> 8
    f[18], f[19] = map_ & 0xFF, map_ >> 8
    f[20] = error
    f[23] = -sum(f[:23]) & 0xFF
    return bytes(f)


def test_bp_data_frame_offsets_little_endian():
    frame = hand_built_bp_frame(sys_=0x0107, dia=0x0050, pulse=0x0048, map_=0x0080, error=0)
    assert frame[2:4] == h("07 01")  # 263, little-endian
    assert codec.parse_module_frame(frame) == BpData(sbp=263, dbp=80, map=128, pulse=72, error=0)
    assert codec.bp_data_frame(263, 80, 128, 72) == frame


def test_bp_data_frame_ignores_bytes_it_does_not_know():
    f = bytearray(hand_built_bp_frame(121, 79, 66, 93, 0))
    f[6:16] = bytes(range(10, 20))  # cycle counters etc. in a real module
    f[21], f[22] = 0xAA, 0x55
    f[23] = -sum(f[:23]) & 0xFF
    assert codec.parse_module_frame(bytes(f)) == BpData(121, 79, 93, 66, 0)


@pytest.mark.parametrize("code, meaning", [
    (1, "weak signal"), (2, "motion artifact"), (3, "out of range"), (4, "measurement timeout"),
    (85, "air leak or blockage"), (87, "cuff error"), (89, "over-pressure"), (90, "hardware fault"),
])
def test_every_error_code_decodes_with_its_meaning(code, meaning):
    (msg,) = ModuleDecoder().feed(hand_built_bp_frame(0, 0, 0, 0, code))
    assert isinstance(msg, BpData) and not msg.ok and msg.error == code
    assert msg.error_detail == f"{meaning} (code {code})"


def test_error_meanings_agree_with_the_simulated_cuff():
    assert codec.ERROR_MEANINGS == NIBP_ERRORS


def test_valid_result_and_unknown_error_code():
    assert codec.parse_module_frame(hand_built_bp_frame(118, 77, 70, 91, 0)).ok
    msg = codec.parse_module_frame(hand_built_bp_frame(0, 0, 0, 0, 77))
    assert msg.error_detail == "unknown error (code 77)"


@pytest.mark.parametrize("frame", [b"", h("3E"), h("3E 04 4F"), h("3E 04 4F 70"), h("3A 04 4F 73"),
                                   h("3E 05 4F 6F"), h("3E 03 BF")])
def test_parse_module_frame_rejects_malformed_frames(frame):
    assert codec.parse_module_frame(frame) is None


# ------------------------------------------------------------ resynchronisation
def test_garbage_before_a_frame_is_skipped_and_counted():
    d = ModuleDecoder()
    assert d.feed(b"\x00\xffnoise\x3e" + b"\x00" + codec.COMPLETE_FRAME) == [Ack(codec.ACK_COMPLETE)]
    assert d.discarded == 9 and d.pending == 0


def test_bad_checksum_costs_one_byte_and_the_next_frame_survives():
    d = ModuleDecoder()
    bad = h("3E 04 4F 70")
    assert d.feed(bad + codec.ACK_START_FRAME) == [Ack(codec.ACK_STARTED)]


def test_frame_split_byte_by_byte_is_decoded_once():
    d = ModuleDecoder()
    frame = codec.bp_data_frame(140, 90, 107, 80)
    out = []
    for b in frame:
        out += d.feed(bytes([b]))
    assert out == [BpData(140, 90, 107, 80, 0)]


def test_a_frame_inside_a_truncated_long_frame_is_recovered_when_the_line_goes_quiet():
    d = ModuleDecoder()
    truncated = codec.bp_data_frame(140, 90, 107, 80)[:9]
    assert d.feed(truncated + codec.ACK_START_FRAME) == []  # could still be the 24-byte frame
    assert d.pending == 9 + 4
    assert d.expire() == [Ack(codec.ACK_STARTED)]
    assert d.pending == 0


def test_a_truncated_frame_followed_by_enough_bytes_resyncs_on_the_checksum():
    d = ModuleDecoder()
    truncated = codec.bp_data_frame(140, 90, 107, 80)[:6]
    tail = codec.cuff_pressure_frame(150) * 6  # 30 bytes: completes the bogus 24-byte candidate
    out = d.feed(truncated + tail)
    assert out == [CuffPressure(150)] * 6


def test_two_frames_in_one_chunk_and_a_partial_third():
    d = ModuleDecoder()
    third = codec.cuff_pressure_frame(42)
    assert d.feed(codec.ACK_START_FRAME + codec.cuff_pressure_frame(9) + third[:2]) == \
        [Ack(codec.ACK_STARTED), CuffPressure(9)]
    assert d.feed(third[2:]) == [CuffPressure(42)]


def test_host_command_decoder_reads_every_command_through_noise():
    d = HostCommandDecoder()
    stream = (b"\x00\x3a\x99" + codec.START_ADULT + h("3A 79 03 00 4B") + codec.GET_BP_DATA
              + codec.ABORT + b"\xff" + codec.GET_CUFF_PRESSURE)
    names = [codec.HOST_COMMANDS[c] for c in d.feed(stream)]
    assert names == ["start", "get_bp_data", "abort", "get_cuff_pressure"]


# ------------------------------------------------------------ fuzz
def _ack(code):
    return codec.module_frame(bytes([code])), Ack(code)


def _pressure(mmhg):
    return codec.cuff_pressure_frame(mmhg), CuffPressure(mmhg)


def _bp(values):
    sbp, dbp, map_, pulse, error = values
    return codec.bp_data_frame(sbp, dbp, map_, pulse, error), BpData(sbp, dbp, map_, pulse, error)


u16 = st.integers(0, 0xFFFF)
valid_frames = st.one_of(
    st.integers(0, 255).map(_ack),
    u16.map(_pressure),
    st.tuples(u16, u16, u16, u16, st.integers(0, 255)).map(_bp),
)
noise_without_start = st.binary(max_size=60).map(lambda b: b.replace(b"\x3e", b""))


def feed_in_chunks(decoder: ModuleDecoder, data: bytes, cuts: list[int]) -> list:
    out, last = [], 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        out += decoder.feed(data[last:cut])
        last = max(last, cut)
    return out


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=10))
def test_random_bytes_never_raise_and_only_yield_messages(data, cuts):
    d = ModuleDecoder()
    out = feed_in_chunks(d, data, cuts) + d.expire()
    assert all(isinstance(m, (Ack, CuffPressure, BpData)) for m in out)
    assert d.pending == 0
    assert all(len(c) in (1, 3) and c[0] in (0x20, 0x79) for c in HostCommandDecoder().feed(data))


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=12))
def test_chunking_never_changes_what_is_decoded(data, cuts):
    whole = ModuleDecoder()
    expected = whole.feed(data) + whole.expire()
    chunked = ModuleDecoder()
    assert feed_in_chunks(chunked, data, cuts) + chunked.expire() == expected


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(noise_without_start, valid_frames), min_size=1, max_size=8), noise_without_start)
def test_valid_frames_between_garbage_are_all_recovered_in_order(pieces, tail):
    stream = b"".join(noise + frame for noise, (frame, _) in pieces) + tail
    assert ModuleDecoder().feed(stream) == [msg for _, (_, msg) in pieces]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.lists(valid_frames, min_size=1, max_size=6), st.binary(max_size=80))
def test_frames_after_any_garbage_and_a_quiet_line_are_recovered(garbage, frames, trailing):
    d = ModuleDecoder()
    d.feed(garbage)
    d.expire()
    out = d.feed(b"".join(f for f, _ in frames))
    assert out == [m for _, m in frames]
    d.feed(trailing)  # whatever follows never raises
    d.expire()


clean_frames = valid_frames.filter(lambda fm: codec.MODULE_START not in fm[0][1:])


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(clean_frames, st.integers(1, 23), st.lists(clean_frames, min_size=1, max_size=4))
def test_truncated_frame_then_valid_frames(first, keep, frames):
    truncated = first[0][:min(keep, len(first[0]) - 1)]
    stream = truncated + b"".join(f for f, _ in frames)
    d = ModuleDecoder()
    out = d.feed(stream) + d.expire()
    expected = [m for _, m in frames]
    if out == expected:
        return
    # The only other outcome: the cut-off frame's head plus the next bytes pass the
    # checksum by chance (1 in 256). That bogus frame is reported and every frame
    # starting after it is still recovered.
    bogus_end = truncated[1] if len(truncated) > 1 else 0
    offsets, at = [], len(truncated)
    for f, _ in frames:
        offsets.append(at)
        at += len(f)
    after = [m for off, m in zip(offsets, expected) if off >= bogus_end]
    assert out[1:] == after


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(valid_frames, max_size=20))
def test_concatenated_frames_decode_exactly(frames):
    d = ModuleDecoder()
    assert d.feed(b"".join(f for f, _ in frames)) == [m for _, m in frames]
    assert d.discarded == 0 and d.pending == 0
