"""Property tests over every oximeter codec: no input makes a decoder raise, how bytes
are split into reads never changes what is decoded, and every valid frame embedded in
noise, truncated neighbours or other frames is recovered."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.contec import ContecDecoder, live_packet
from adapters.masimo import MasimoDecoder, masimo_line
from adapters.nonin import Df2Decoder, Df8Decoder, df2_packet, df8_packet
from adapters.oximeter_devices import ContecOximeter, MasimoOximeter, NoninDf8Oximeter
from adapters.oximeter_sample import STATUS_PRIORITY, OximetrySample

pytestmark = pytest.mark.slow  # hundreds of examples per property; the example tests in test_codec_*.py stay quick

STATUSES = ("ok",) + STATUS_PRIORITY


@dataclass(frozen=True)
class Codec:
    decoder: Callable
    encode: Callable[[OximetrySample], bytes]
    samples: st.SearchStrategy
    hr_max: int
    pi: bool = False


def _samples(hr: st.SearchStrategy, spo2: st.SearchStrategy, statuses=STATUSES, pi=st.none()):
    return st.builds(OximetrySample, hr=st.none() | hr, spo2=st.none() | spo2,
                     status=st.sampled_from(statuses), pi=pi)


CODECS = {
    "nonin-df2": Codec(Df2Decoder, df2_packet, _samples(st.integers(0, 510), st.integers(0, 126)), 511),
    "nonin-df8": Codec(Df8Decoder, df8_packet, _samples(st.integers(0, 321), st.integers(0, 100)), 321),
    "masimo": Codec(MasimoDecoder, lambda s: masimo_line(s, when=0),
                    _samples(st.integers(0, 400), st.integers(0, 100),
                             pi=st.none() | st.integers(0, 9999).map(lambda v: v / 100)), 400, pi=True),
    "contec": Codec(ContecDecoder, live_packet,
                    _samples(st.integers(1, 126), st.integers(1, 100), ("ok", "sensor_off", "searching")), 126),
}
NAMES = sorted(CODECS)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key(s: OximetrySample) -> tuple:
    return (s.hr, s.spo2, s.status, s.pi)


def decode_in_chunks(codec: Codec, data: bytes, cuts: list[int]) -> list[OximetrySample]:
    d = codec.decoder()
    out, last = [], 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        out += d.feed(data[last:cut])
        last = cut
    return out


def is_subsequence(wanted: list, got: list) -> bool:
    it = iter(got)
    return all(any(w == g for g in it) for w in wanted)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_random_bytes_never_raise_and_decode_to_sane_values(name, data, cuts):
    codec = CODECS[name]
    for s in decode_in_chunks(codec, data, cuts):
        assert s.status in STATUSES
        assert s.hr is None or 0 <= s.hr <= codec.hr_max
        assert s.spo2 is None or 0 <= s.spo2 <= 100
        assert s.pi is None or 0 <= s.pi <= 100


def _stream_and_cuts(data, codec, pieces: int) -> tuple[bytes, list[int]]:
    """Junk and well-formed frames run together, and where the reads split them."""
    stream = b"".join(data.draw(st.lists(st.binary(max_size=40) | codec.samples.map(codec.encode),
                                         max_size=pieces)))
    return stream, data.draw(st.lists(st.integers(0, max(0, len(stream))), max_size=12))


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_read_boundaries_never_change_the_result(name, data):
    codec = CODECS[name]
    stream, cuts = _stream_and_cuts(data, codec, pieces=8)
    whole = [key(s) for s in codec.decoder().feed(stream)]
    assert [key(s) for s in decode_in_chunks(codec, stream, cuts)] == whole


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_every_valid_frame_in_noise_is_recovered(name, data):
    codec = CODECS[name]
    samples = data.draw(st.lists(codec.samples, min_size=1, max_size=4))
    stream = b""
    for s in samples:
        stream += data.draw(st.binary(max_size=64)) + codec.encode(s)
    stream += data.draw(st.binary(max_size=64))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    got = [key(s) for s in decode_in_chunks(codec, stream, cuts)]
    assert is_subsequence([key(s) for s in samples], got), (samples, got)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_truncated_frames_lose_only_themselves(name, data):
    codec = CODECS[name]
    samples = data.draw(st.lists(codec.samples, min_size=2, max_size=5))
    frames = [codec.encode(s) for s in samples]
    broken = data.draw(st.integers(0, len(frames) - 2))  # never the last: something must follow it
    keep = data.draw(st.integers(1, len(frames[broken]) - 1))
    frames[broken] = frames[broken][:keep]
    expected = [key(s) for i, s in enumerate(samples) if i != broken]
    got = [key(s) for s in codec.decoder().feed(b"".join(frames))]
    assert is_subsequence(expected, got), (samples, broken, keep, got)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_concatenated_frames_decode_exactly(name, data):
    codec = CODECS[name]
    samples = data.draw(st.lists(codec.samples, max_size=10))
    got = codec.decoder().feed(b"".join(codec.encode(s) for s in samples))
    assert [key(s) for s in got] == [key(s) for s in samples]


# The decoders the adapters use for the formats without a checksum: the codec inside its
# cross-frame check (adapters/frame_check.py), whose verdicts depend on what came before.
CHECKED = {"nonin-df8": NoninDf8Oximeter, "masimo": MasimoOximeter, "contec": ContecOximeter}


@pytest.mark.parametrize("name", sorted(CHECKED))
@FUZZ
@given(data=st.data())
def test_checked_decoders_never_raise_and_read_boundaries_never_change_a_verdict(name, data):
    codec = CODECS[name]
    stream, cuts = _stream_and_cuts(data, codec, pieces=12)
    whole = CHECKED[name]("fuzz").new_decoder().feed(stream)
    checked = Codec(lambda: CHECKED[name]("fuzz").new_decoder(), codec.encode, codec.samples, codec.hr_max)
    assert decode_in_chunks(checked, stream, cuts) == whole
    assert all(s.status in STATUSES for s in whole)
