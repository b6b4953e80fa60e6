"""The machine a benchmark ran on and how busy it was, for every table (issue 12 item 5).

A figure without its load is not a figure: the same ingest run gave ~46,000 readings/s
on a quiet machine and ~29,700 on a shared one. `MachineLoad` records the load average
before and after a run, how busy the CPUs were in all (/proc/stat), and how much of that
was this process and its children and how much other processes still running at its end.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine() -> str:
    """`2 cores (AMD EPYC ...), 7.8 GB RAM`, from /proc."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {ram:.1f} GB RAM"


def _process_ticks() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, utime + stime in clock ticks) for every process readable now."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
        out[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


def code_version() -> str:
    """The commit measured (`git describe`), marked when the work tree differs from it."""
    import subprocess
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot (/proc/stat: machine-wide, even in a
    container whose /proc lists only its own processes)."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    idle = f[3] + (f[4] if len(f) > 4 else 0)  # idle + iowait
    return sum(f[:8]) - idle, sum(f[:8])


def _descendants(procs: dict, root: int) -> set[int]:
    ours, grew = {root}, True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in ours and pid not in ours:
                ours.add(pid)
                grew = True
    return ours


class MachineLoad:
    """Load average before/after and other processes' CPU over a run.

        load = MachineLoad()      # at the start
        ...
        print(load.stop().line())
    """

    def __init__(self):
        self.began = time.monotonic()
        self.load_before = os.getloadavg()
        self._before = _process_ticks()
        self._machine_before = _machine_ticks()
        self.machine_cpu = float("nan")  # cores' worth busy machine-wide (everything on the host)
        self.load_after = self.load_before
        self.other_cpu = float("nan")  # cores' worth used by other processes (1.0 = one core busy)
        self.own_cpu = float("nan")
        self.seconds = 0.0

    def stop(self) -> "MachineLoad":
        after = _process_ticks()
        self.seconds = time.monotonic() - self.began
        self.load_after = os.getloadavg()
        ours = _descendants(after, os.getpid())
        other = own = 0
        for pid, (_, ticks) in after.items():
            used = ticks - self._before.get(pid, (0, 0))[1]  # a process born during the run: all of it
            if pid in ours:
                own += used
            else:
                other += used
        span = max(self.seconds, 1e-6) * CLOCK_TICKS
        self.other_cpu, self.own_cpu = other / span, own / span
        busy, total = (a - b for a, b in zip(_machine_ticks(), self._machine_before))
        if total > 0:
            self.machine_cpu = busy / total * (os.cpu_count() or 1)
        return self

    def line(self) -> str:
        return (f"Code {code_version()}. Machine: {machine()}. Load average {self.load_before[0]:.2f} before, {self.load_after[0]:.2f} after. "
                f"Over the {self.seconds:.0f} s run the CPUs were {self.machine_cpu:.2f} cores busy in all: this "
                f"benchmark and its children {self.own_cpu:.2f}, other processes visible here {self.other_cpu:.2f}, "
                f"the rest ({max(0.0, self.machine_cpu - self.own_cpu - self.other_cpu):.2f}) processes that "
                "ended before the run did, or ones this /proc cannot see.")


def percentiles(values: list[float]) -> dict:
    """n, p50, p95, max of a list (NaN when empty)."""
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    q = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else [values[0]] * 19
    return {"n": len(values), "p50": statistics.median(values), "p95": q[18], "max": max(values)}


def pct_cells(values: list[float], fmt: str = "{:.0f}") -> str:
    """`p50 / p95 / max` for a table cell."""
    p = percentiles(values)
    return " / ".join(fmt.format(p[k]) for k in ("p50", "p95", "max"))
