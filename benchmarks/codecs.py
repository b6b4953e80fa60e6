"""Pulse-oximeter codecs: decode throughput, and what one chair costs at full device rate.

1. Throughput (MB/s of wire bytes) of each decoder on clean traffic and on the same
   traffic with 1-24 junk bytes before one unit in ten (the resync path), fed in
   256-byte reads, best of 3; and, for the formats without a checksum, of the decoder
   the adapter really uses (the codec inside its cross-frame check), on the clean
   traffic whose values jump every unit (the check's slowest path).
2. CPU seconds per minute of device data for one chair, live: the real adapter on
   the real SerialLink against the emulator over a pty at real-time rate, with the
   real Chair, engine and SQLite store. Each thread's own CPU clock is read, so the
   emulator (which stands in for the device) is not counted against the chair.

    .venv/bin/python benchmarks/codecs.py [--mb 2] [--seconds 10] [--no-live]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path

from adapters.contec import ContecDecoder, live_packet
from adapters.masimo import MasimoDecoder, masimo_line
from adapters.nonin import Df2Decoder, Df8Decoder, df2_packet, df8_packet
from adapters.oximeter_devices import ContecOximeter, MasimoOximeter, NoninDf8Oximeter
from adapters.oximeter_sample import OximetrySample

CODECS = {
    "nonin (DF2)": (Df2Decoder, lambda s: df2_packet(s, pleth=[128] * 25), 375),
    "nonin-df8": (Df8Decoder, df8_packet, 4),
    "masimo": (MasimoDecoder, lambda s: masimo_line(s, when=0), 150),
    "contec": (ContecDecoder, live_packet, 540),
}
CHECKED = {"nonin-df8": NoninDf8Oximeter, "masimo": MasimoOximeter, "contec": ContecOximeter}
KINDS = {"nonin (DF2)": "nonin", "nonin-df8": "nonin-df8", "masimo": "masimo", "contec": "contec"}
READ = 256


def traffic(encode, target: int, noisy: bool, seed: int = 1) -> tuple[bytes, int]:
    rng = random.Random(seed)
    parts, size, units = [], 0, 0
    while size < target:
        status = rng.choice(("ok",) * 7 + ("artifact", "searching", "low_perfusion"))
        sample = OximetrySample(rng.randint(40, 126), rng.randint(85, 100), status, pi=round(rng.uniform(0.2, 9), 2))
        unit = encode(sample)
        if noisy and rng.random() < 0.1:
            unit = rng.randbytes(rng.randint(1, 24)) + unit
        parts.append(unit)
        size += len(unit)
        units += 1
    return b"".join(parts), units


def throughput(decoder_cls, data: bytes) -> tuple[float, int]:
    best, decoded = float("inf"), 0
    for _ in range(3):
        d = decoder_cls()
        t0 = time.perf_counter()
        n = 0
        for i in range(0, len(data), READ):
            n += len(d.feed(data[i:i + READ]))
        best = min(best, time.perf_counter() - t0)
        decoded = n
    return len(data) / best / 1e6, decoded


def thread_cpu(thread: threading.Thread) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def live_chair(kind: str, seconds: float) -> dict:
    """CPU seconds per device-minute for one chair running one oximeter for real."""
    from adapters.emulators import emulator_class
    from monitor.acquisition import Acquisition
    from monitor.clinic_config import build_chair
    from monitor.protocol import load_protocol
    from monitor.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        emulator = emulator_class(kind)(scenario="normal").start()
        store = Store(Path(tmp) / "bench.db")
        chair = build_chair(store, load_protocol(), "1", [{"kind": kind, "port": emulator.path}])
        chair.open_session("BENCH")
        acq = Acquisition(store, [chair])
        acq.start()
        time.sleep(1.0)  # connected and streaming
        names = {"adapter": f"device-{chair.devices[0].source}", "tick": "acquisition-tick",
                 "store": "store-writer", "emulator": f"emulator-{kind}"}
        threads = {k: next(t for t in threading.enumerate() if t.name == n) for k, n in names.items()}
        start = {k: thread_cpu(t) for k, t in threads.items()}
        wall0 = time.monotonic()
        time.sleep(seconds)
        used = {k: thread_cpu(t) - start[k] for k, t in threads.items()}
        wall = time.monotonic() - wall0
        readings = chair.devices[0].readings_out
        acq.stop()
        emulator.stop()
    per_min = {k: v * 60.0 / wall for k, v in used.items()}
    per_min["chair"] = per_min["adapter"] + per_min["tick"] + per_min["store"]
    per_min["readings"] = readings
    return per_min


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=2.0, help="MB of traffic per stream")
    ap.add_argument("--seconds", type=float, default=10.0, help="live run per device kind")
    ap.add_argument("--no-live", action="store_true", help="skip the live per-chair measurement")
    args = ap.parse_args()

    print("| codec | device rate | clean MB/s | noisy MB/s | checked MB/s (as the adapter decodes) "
          "| device-minutes decoded per CPU-second |")
    print("|---|---|---|---|---|---|")
    for name, (cls, encode, rate) in CODECS.items():
        clean, n_clean = traffic(encode, int(args.mb * 1e6), noisy=False)
        noisy, n_noisy = traffic(encode, int(args.mb * 1e6), noisy=True)
        mb_clean, got_clean = throughput(cls, clean)
        mb_noisy, got_noisy = throughput(cls, noisy)
        assert got_clean == n_clean, (name, got_clean, n_clean)
        assert got_noisy >= n_noisy * 0.85, (name, got_noisy, n_noisy)
        checked = "-"
        if name in CHECKED:
            adapter = CHECKED[name]
            mb_checked, _ = throughput(lambda: adapter("bench").new_decoder(), clean)
            checked = f"{mb_checked:.1f}"
        minutes = mb_clean * 1e6 / (rate * 60)
        print(f"| {name} | {rate} B/s | {mb_clean:.1f} | {mb_noisy:.1f} | {checked} | {minutes:,.0f} |", flush=True)

    if args.no_live:
        return
    print()
    print(f"Live, one chair, real-time device rate, {args.seconds:g} s each "
          "(CPU seconds per minute of device data):")
    print()
    print("| device | adapter thread | engine tick | store writer | chair total | emulator (not counted) |")
    print("|---|---|---|---|---|---|")
    for name, kind in KINDS.items():
        r = live_chair(kind, args.seconds)
        print(f"| {name} | {r['adapter']:.3f} | {r['tick']:.3f} | {r['store']:.3f} | **{r['chair']:.3f}** "
              f"| {r['emulator']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
