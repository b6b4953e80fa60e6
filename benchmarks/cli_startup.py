"""How long `infusion-monitor --help` takes: the wall time of the console script, as a user types it.

Each command is run `--runs` times in a fresh process (output discarded); the table gives
the median and the fastest run, next to a bare `python -c pass` and `import click` for
scale (the script cannot start faster than the interpreter plus click). The machine's
load average is printed before and after: start-up time on a loaded 2-core machine is
mostly waiting for a core, so read the numbers with the load next to them.
The slowest imports of `--help` (python -X importtime, cumulative) are listed last.

    .venv/bin/python benchmarks/cli_startup.py [--runs 20]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SCRIPT = BIN / "infusion-monitor"


def wall(cmd: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def slowest_imports(n: int = 8) -> list[tuple[int, str]]:
    """(cumulative µs, module) of the slowest imports of `--help` at most two levels deep."""
    code = "import sys; from monitor.cli import entry; sys.argv = ['infusion-monitor', '--help']; entry()"
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        if depth <= 1 and name.strip() != "monitor.cli":
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:n]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not SCRIPT.exists():
        sys.exit(f"{SCRIPT} not found: run `make .venv/.installed` first")
    print(f"before: {load()}\n")
    print("| command | median s | fastest s |")
    print("|---|---:|---:|")
    for label, cmd in (("python -c pass", [sys.executable, "-c", "pass"]),
                       ("python -c 'import click'", [sys.executable, "-c", "import click"]),
                       ("**infusion-monitor --help**", [str(SCRIPT), "--help"]),
                       ("infusion-monitor simulate --help", [str(SCRIPT), "simulate", "--help"])):
        median, fastest = wall(cmd, args.runs)
        print(f"| {label} | {median:.3f} | {fastest:.3f} |", flush=True)
    print(f"\nafter: {load()}\n")
    print("slowest imports of --help (python -X importtime, cumulative ms): " +
          ", ".join(f"{name} {us / 1000:.0f}" for us, name in slowest_imports()))


if __name__ == "__main__":
    main()
