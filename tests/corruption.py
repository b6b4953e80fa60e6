"""Corrupted-wire measurements for the oximeter decoders (issue 10 item 9), shared by
tests/test_codec_corruption.py and benchmarks/codecs.py.

`bit_flips` corrupts one frame of a clean, realistic stream with one flipped bit per
trial and counts the samples that come out valid (`ok`/`low_perfusion`) with a value
other than the one sent; `random_bytes` counts the valid samples decoded out of noise.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from adapters.contec import PACKETS_PER_S, live_packet
from adapters.masimo import masimo_line
from adapters.nonin import df2_packet, df8_packet
from adapters.oximeter_devices import ContecOximeter, MasimoOximeter, NoninDf2Oximeter, NoninDf8Oximeter
from adapters.oximeter_sample import OximetrySample

VALID = ("ok", "low_perfusion")
EPOCH = 1_764_000_000  # a fixed clock for the Masimo time stamps
LARGE = (12, 5, 2.0)  # HR bpm, SpO2 %, PI: an error beyond these would change what a clinician does


@dataclass(frozen=True)
class Wire:
    """One format: the decoder its adapter uses, and how one second of a patient goes on the wire."""

    adapter: type
    frames: Callable[[int, OximetrySample], list[bytes]]  # second, sample -> that second's frames
    pi: bool = False

    def decoder(self):
        return self.adapter("corruption-test").new_decoder()


def _contec_second(k: int, s: OximetrySample) -> list[bytes]:
    return [live_packet(s, beat=j == 0, pleth=(j * 7) % 100, bar=(j * 7) % 100 // 7, strength=5)
            for j in range(PACKETS_PER_S)]


def _df2_second(k: int, s: OximetrySample) -> list[bytes]:
    packets = [df2_packet(s, pleth=[(k * 3 + p * 25 + j) % 200 + 20 for j in range(25)], timer=(k * 3 + p) & 0x3FFF)
               for p in range(3)]
    return [p[i:i + 5] for p in packets for i in range(0, len(p), 5)]


WIRES = {
    "nonin": Wire(NoninDf2Oximeter, _df2_second),
    "nonin-df8": Wire(NoninDf8Oximeter, lambda k, s: [df8_packet(s)]),
    "masimo": Wire(MasimoOximeter, lambda k, s: [masimo_line(s, when=EPOCH + k)], pi=True),
    "contec": Wire(ContecOximeter, _contec_second),
}


def patient(seconds: int, seed: int = 1) -> list[OximetrySample]:
    """A patient's seconds: HR, SpO2 and PI wandering as real ones do (a step of a few units at most)."""
    rng = random.Random(seed)
    hr, spo2, pi = 75, 97, 2.4
    out = []
    for _ in range(seconds):
        hr = min(150, max(45, hr + rng.choice((-2, -1, -1, 0, 0, 0, 1, 1, 2))))
        spo2 = min(100, max(86, spo2 + rng.choice((-1, 0, 0, 0, 0, 1))))
        pi = round(min(9.0, max(0.5, pi + rng.uniform(-0.2, 0.2))), 2)
        out.append(OximetrySample(hr, spo2, "ok", pi=pi))
    return out


def stream(wire: Wire, frames: int, seed: int = 1) -> list[tuple[bytes, OximetrySample]]:
    """At least `frames` clean frames, each with the sample it carries."""
    per_second = len(wire.frames(0, OximetrySample(75, 97)))
    out: list[tuple[bytes, OximetrySample]] = []
    for k, s in enumerate(patient(frames // per_second + 1, seed)):
        out += [(f, s) for f in wire.frames(k, s)]
    return out


def _values(s: OximetrySample, pi: bool) -> tuple:
    return (s.hr, s.spo2, s.pi if pi else None)


@dataclass
class FlipResult:
    trials: int
    wrong_ok: int = 0        # valid samples whose values differ from what was sent
    wrong_ok_large: int = 0  # of which off by more than LARGE
    good: int = 0            # valid samples with the values sent


def bit_flips(name: str, trials: int = 20_000, seed: int = 9, before: int = 3, after: int = 2,
              decoder: Callable | None = None) -> FlipResult:
    """Each trial: a fresh decoder fed `before` clean frames, one frame with one bit flipped,
    then `after` clean frames, frame by frame; what it hands back after each frame is
    compared with the sample that frame carries."""
    wire = WIRES[name]
    make = decoder or wire.decoder
    clean = stream(wire, 4_000, seed)
    rng = random.Random(seed)
    result = FlipResult(trials)
    for _ in range(trials):
        i = rng.randrange(before, len(clean) - after)
        frame = bytearray(clean[i][0])
        bit = rng.randrange(len(frame) * 8)
        frame[bit // 8] ^= 1 << (bit % 8)
        d = make()
        for j in range(i - before, i + after + 1):
            data, sent = (bytes(frame), clean[j][1]) if j == i else clean[j]
            want = _values(sent, wire.pi)
            for s in d.feed(data):
                if s.status not in VALID:
                    continue
                # a value left out is no value (the adapter reports it as searching), never a wrong one
                wrong = [(g, w, limit) for g, w, limit in zip(_values(s, wire.pi), want, LARGE)
                         if g is not None and g != w]
                if not wrong:
                    result.good += 1
                    continue
                result.wrong_ok += 1
                if any(w is None or abs(g - w) > limit for g, w, limit in wrong):
                    result.wrong_ok_large += 1
    return result


def random_bytes(name: str, size: int = 1 << 20, seed: int = 5, decoder: Callable | None = None) -> int:
    """Valid samples with a value decoded out of `size` random bytes, fed in 256-byte reads."""
    d = (decoder or WIRES[name].decoder)()
    data = random.Random(seed).randbytes(size)
    n = 0
    for i in range(0, size, 256):
        n += sum(1 for s in d.feed(data[i:i + 256]) if s.status in VALID and (s.hr is not None or s.spo2 is not None))
    return n
