"""How fast the SunTech module decoder is, in MB/s of wire bytes.

A cuff sends a few hundred bytes a minute at 9600 baud (at most ~960 B/s), so any
figure far above that says decoding never limits a chair. Two streams are timed:
clean traffic as a measurement produces it, and the same traffic with line noise
between frames (the resync path). Each is fed in 64-byte chunks, like serial reads.

    .venv/bin/python benchmarks/suntech_codec.py [--mb 4]
"""
from __future__ import annotations

import argparse
import random
import time

from adapters import suntech_codec as codec


def measurement_traffic(rng: random.Random) -> bytes:
    """One measurement's answers: ack, ~60 pressure polls, completion, the data frame."""
    out = [codec.ACK_START_FRAME]
    out += [codec.cuff_pressure_frame(rng.randint(0, 180)) for _ in range(60)]
    out += [codec.COMPLETE_FRAME, codec.bp_data_frame(rng.randint(90, 180), rng.randint(50, 110),
                                                        rng.randint(60, 130), rng.randint(50, 120))]
    return b"".join(out)


def build_stream(target_bytes: int, noisy: bool, seed: int = 1) -> tuple[bytes, int]:
    rng = random.Random(seed)
    parts, size, frames = [], 0, 0
    while size < target_bytes:
        chunk = measurement_traffic(rng)
        frames += 63
        if noisy:
            noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            chunk = noise + chunk
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), frames


def time_decode(stream: bytes, chunk: int = 64, repeats: int = 3) -> tuple[float, int]:
    """Best of `repeats`: seconds to decode the stream, and the frames found."""
    best, found = float("inf"), 0
    for _ in range(repeats):
        decoder = codec.ModuleDecoder()
        t0 = time.perf_counter()
        n = 0
        for i in range(0, len(stream), chunk):
            n += len(decoder.feed(stream[i:i + chunk]))
        n += len(decoder.expire())
        best, found = min(best, time.perf_counter() - t0), n
    return best, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=4.0, help="stream size in MB (default 4)")
    args = parser.parse_args()
    target = int(args.mb * 1_000_000)
    for label, noisy in (("clean", False), ("noisy", True)):
        stream, expected = build_stream(target, noisy)
        seconds, found = time_decode(stream)
        mb_s = len(stream) / seconds / 1e6
        print(f"{label:5s}: {len(stream) / 1e6:.1f} MB, {found} frames decoded of {expected} sent "
              f"in {seconds:.2f} s → {mb_s:.2f} MB/s, {found / seconds / 1e3:.0f} k frames/s")


if __name__ == "__main__":
    main()
