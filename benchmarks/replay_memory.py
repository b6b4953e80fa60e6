"""Memory of `replay` on a 50 MB recording: the checking pass alone, and the whole command.

Run: .venv/bin/python benchmarks/replay_memory.py [--mb 50]   (a minute or two)

The file: HR, SpO2 and PI four times a second with the device named in a `source`
column, an NIBP measurement every 5 minutes, infusion start and stop, and session_end
(50 MB: 754,476 rows, 17 h). Measured:
- the checking pass (`replay_csv.check_file`), streamed;
- for comparison, the same rows held in a list, as `parse_file` did before;
- `infusion-monitor replay --speed max`, the whole command. Besides the reader this
  includes the engine and whatever the store keeps queued until it commits.
Each runs in a child process; its peak resident set size (getrusage) and wall time.
Issue 10 item 8 reported a 2.1 GB peak for such a file when it was read whole.

Measured on the project's 2-core machine (shared), 50 MB:

| what | peak RSS | time |
|---|---:|---:|
| checking pass, streamed (`check_file`) | 13 MB | 11 s |
| the same rows held in a list (the old `parse_file`) | 355 MB | 19 s |
| `replay --speed max`, the whole command | 432 MB | 67 s |

The reader no longer holds the file; what remains of the whole command's peak is the
store's queue of readings, committed only at the end of a max-speed playback. Flushing
that queue every 5,000 readings (into the same transaction, in an experiment) brings the
whole command to 25 MB: bounded once playback commits in chunks (issue 10 item 1).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SOURCE = "nonin:/dev/serial/by-id/usb-FTDI_Nonin-if00-port0"


def write_recording(path: Path, mb: float) -> int:
    """A valid recording of about `mb` megabytes; returns its size in bytes."""
    target = mb * 1_000_000
    step = 0.25
    with open(path, "w", newline="") as f:
        f.write("t_s,parameter,value,status,source,detail\n")
        size, k, started, stopped = 0, 0, False, False
        while size < target:
            t = round(k * step, 2)
            if t > 23.9 * 3600:
                break
            lines = []
            if not started and t >= 600:
                lines.append(f"{t:g},event,infusion_start,,,\n")
                started = True
            if started and not stopped and t >= 2400 + 600:
                lines.append(f"{t:g},event,infusion_stop,,,\n")
                stopped = True
            hr = 70 + (k // 40) % 9
            spo2 = 96 + (k // 60) % 3
            lines += [f"{t:g},hr,{hr},,{SOURCE},\n", f"{t:g},spo2,{spo2},,{SOURCE},\n",
                      f"{t:g},pi,{2.5 + (k % 7) / 10:g},,{SOURCE},\n"]
            if k % 1200 == 0:
                lines += [f"{t:g},sbp,{118 + k % 11},,suntech,\n", f"{t:g},dbp,{76 + k % 5},,suntech,\n",
                          f"{t:g},map,{90 + k % 4},,suntech,\n"]
            chunk = "".join(lines)
            f.write(chunk)
            size += len(chunk)
            k += 1
        f.write(f"{round(k * step, 2):g},event,session_end,,,\n")
    return path.stat().st_size


def peak_rss_mb(args: list[str]) -> tuple[float, float, str]:
    """(peak resident MB, wall seconds, stdout) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=os.environ)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far, kB on Linux
    return (peak / 1024 if peak > before else float("nan")), wall, out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=50.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "recording.csv"
        size = write_recording(rec, args.mb)
        py = [sys.executable, "-c"]
        check = "import sys; from monitor.replay_csv import check_file; print(check_file(sys.argv[1]).rows)"
        held = "import sys; from monitor.replay_csv import iter_file; rows = list(iter_file(sys.argv[1])); print(len(rows))"
        exe = str(Path(sys.executable).parent / "infusion-monitor")
        # smallest first: getrusage reports the largest child so far
        check_mb, check_s, rows = peak_rss_mb(py + [check, str(rec)])
        held_mb, held_s, _ = peak_rss_mb(py + [held, str(rec)])
        replay_mb, replay_s, result = peak_rss_mb([exe, "--db", str(Path(tmp) / "m.db"), "replay", str(rec), "--json"])
        print(f"file: {size / 1e6:.1f} MB, {int(rows):,} rows\n")
        print("| what | peak RSS | time |")
        print("|---|---:|---:|")
        print(f"| checking pass, streamed (`check_file`) | {check_mb:,.0f} MB | {check_s:.0f} s |")
        print(f"| the same rows held in a list (the old `parse_file`) | {held_mb:,.0f} MB | {held_s:.0f} s |")
        print(f"| `replay --speed max`, the whole command | {replay_mb:,.0f} MB | {replay_s:.0f} s |")
        print(f"\nreplay: {result}")


if __name__ == "__main__":
    main()
