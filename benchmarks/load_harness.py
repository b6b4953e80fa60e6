"""The load harness shared by `benchmarks/load.py` and `tests/test_load.py` (README "Load").

Real parts only:
- `LiveClinic`: a real SQLite file, N simulated chairs under live acquisition, and the
  real Dash app on waitress (as `serve` runs it), all in this process. Every reading a
  chair is handed is counted on its way in (`received`), so it can be compared with
  the rows stored once acquisition has stopped and flushed.
- `PageClients` (benchmarks/page_clients.py): browser tabs in a separate process,
  polling the bedside and overview pages' callbacks once a second, signed in as the
  clinic's nurse (LOAD_USER, added to the database with the chairs).
- `BulkWriter`: another process, `infusion-monitor replay --speed max` of a big
  generated recording (`write_replay_csv`) on the same database.
"""
from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from page_clients import PageClients  # noqa: E402


# ----------------------------------------------------------------- the clinic (server side)
LOAD_USER, LOAD_PASSWORD = "load-nurse", "load test password"  # the tabs' login (a nurse: bedside work)


class LiveClinic:
    """Acquisition on `n_chairs` simulated chairs, each with an open session, and the
    dashboard on a real waitress server on a free port."""

    def __init__(self, db: Path, n_chairs: int, protocol=None):
        from waitress import create_server

        from monitor.acquisition import Acquisition
        from monitor.clinic_config import build_chair
        from monitor.protocol import load_protocol
        from monitor.store import Store, people
        from monitor.web import create_app

        self.db = Path(db)
        self.protocol = protocol or load_protocol()
        self.store = Store(self.db)
        if people.user(self.store, LOAD_USER) is None:
            people.add_user(self.store, LOAD_USER, "nurse", LOAD_PASSWORD, "LN")
        self.received: Counter = Counter()
        self._count_lock = threading.Lock()
        self.chairs = [build_chair(self.store, self.protocol, str(k), [{"spec": "sim:normal", "seed": k}])
                       for k in range(1, n_chairs + 1)]
        self.sessions = {c.name: c.open_session(f"LOAD-{c.name}") for c in self.chairs}
        for chair in self.chairs:
            self._count(chair)
        self.acquisition = Acquisition(self.store, self.chairs)
        app = create_app(self.store, self.protocol)
        self.server = create_server(app.server, host="127.0.0.1", port=0, threads=8)  # as `serve`
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.max_held = 0
        self.write_problems: list[str] = []
        self.queue_depth = QueueDepth()
        self._stop_sampling = threading.Event()
        self._threads: list[threading.Thread] = []

    def _count(self, chair) -> None:
        """Count every reading the chair's devices hand it (the chair is their DeviceContext)."""
        deliver = chair.reading

        def reading(r):
            if chair.recorder is not None:
                with self._count_lock:
                    self.received[chair.name] += 1
            deliver(r)
        chair.reading = reading

    def start(self) -> "LiveClinic":
        self.acquisition.start()
        for target, name in ((self.server.run, "waitress"), (self._sample, "held-sampler")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _sample(self) -> None:
        """How many rows acquisition holds in memory, and any write problem it reports."""
        while not self._stop_sampling.wait(0.2):
            self.max_held = max(self.max_held, self.store.pending)
            problem = self.store.write_problem
            if problem and problem not in self.write_problems:
                self.write_problems.append(problem)

    def stop(self) -> None:
        """Stop serving, then stop acquisition (recorders finished, every held row flushed)."""
        self._stop_sampling.set()
        self.server.close()  # its loop ends once the clients' connections have closed
        for t in self._threads:
            t.join(timeout=10)
        self.server.task_dispatcher.shutdown()
        self.queue_depth.close()
        self.acquisition.stop()

    def outcome(self) -> dict:
        """After stop: per chair, readings received and stored, device_disconnected alarms,
        and the longest gap between consecutive stored readings."""
        from monitor.store import Store, queries
        store = Store(self.db, readonly=True)
        try:
            out = {}
            for chair in self.chairs:
                sid = self.sessions[chair.name]
                rows = queries.readings(store, sid)
                times = sorted({r["ts"] for r in rows})
                out[chair.name] = {
                    "received": self.received[chair.name], "stored": len(rows),
                    "disconnected": [a["message"] for a in queries.alerts(store, sid)
                                     if a["rule"] == "device_disconnected"],
                    "longest_gap_s": max((b - a for a, b in zip(times, times[1:])), default=0.0)}
            return out
        finally:
            store.close()


class QueueDepth(logging.Handler):
    """The deepest waitress's request queue got (it logs each depth while all its threads are busy)."""

    def __init__(self):
        super().__init__()
        self.deepest = 0
        logging.getLogger("waitress.queue").addHandler(self)

    def emit(self, record) -> None:
        if record.args:
            self.deepest = max(self.deepest, int(record.args[0]))

    def close(self) -> None:
        logging.getLogger("waitress.queue").removeHandler(self)
        super().close()


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (VmHWM: its peak so far), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ----------------------------------------------------------------- the concurrent writer
def write_replay_csv(path: Path, seconds: int, hz: float = 2.0) -> int:
    """A long recording in the replay CSV format (README "Replay CSV"): HR, SpO2 and PI
    `hz` times a second, an infusion from 10 % to 80 % of it, then the end. Returns rows."""
    step = 1.0 / hz
    n = int(seconds * hz)
    lines = ["t_s,parameter,value,status"]
    for k in range(n + 1):
        t = round(k * step, 3)
        if k == n // 10:
            lines.append(f"{t:g},event,infusion_start,")
        if k == n * 8 // 10:
            lines.append(f"{t:g},event,infusion_stop,")
        lines += [f"{t:g},hr,{72 + k % 7},", f"{t:g},spo2,{96 + k % 3},", f"{t:g},pi,{2 + k % 5 / 10:g},"]
    lines.append(f"{round(n * step, 3):g},event,session_end,")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


class BulkWriter:
    """`infusion-monitor replay FILE --speed max` on the same database, in its own process."""

    def __init__(self, db: Path, csv_path: Path, chair: str = "bulk"):
        self.started = time.time()
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db), "replay", str(csv_path),
             "--speed", "max", "--chair", chair, "--patient", "BULK", "--json"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.ended: Optional[float] = None
        self.result: dict = {}
        self.stderr = ""

    def wait(self, timeout: float = 600) -> dict:
        out, self.stderr = self.proc.communicate(timeout=timeout)
        self.ended = time.time()
        if self.proc.returncode != 0:
            raise RuntimeError(f"replay failed ({self.proc.returncode}): {self.stderr.strip()}")
        self.result = json.loads(out.strip().splitlines()[-1])
        return self.result


# ----------------------------------------------------------------- one run
@dataclass
class LoadRun:
    """What one run measured (see `run_load`)."""
    chairs: dict
    requests: list
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    load_start: tuple
    load_end: tuple
    seconds: float
    max_held: int
    write_problems: list
    queue_deepest: int
    writer: Optional[dict] = None
    writer_window: Optional[tuple] = None
    writer_rows_stored: Optional[int] = None

    def latencies(self, bedside: bool = True, window: Optional[tuple] = None) -> list[float]:
        """Milliseconds of the answered bedside ticks (or overview polls), sent within window."""
        return [r["ms"] for r in self.requests if r["page"].startswith("/chair/") == bedside and r["status"] == 200
                and (window is None or window[0] <= r["t"] <= window[1])]

    @property
    def received(self) -> int:
        return sum(c["received"] for c in self.chairs.values())

    @property
    def stored(self) -> int:
        return sum(c["stored"] for c in self.chairs.values())


def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    q = statistics.quantiles(ms, n=20, method="inclusive") if len(ms) > 1 else [ms[0]] * 19
    return {"n": len(ms), "p50": statistics.median(ms), "p95": q[18], "max": max(ms)}


def run_load(workdir: Path, n_chairs: int, bedside_clients: int, overview_clients: int, seconds: float,
             bulk_csv: Optional[Path] = None, bulk_after: float = 2.0, tail: float = 2.0) -> LoadRun:
    """Run the clinic under page load for `seconds`; with `bulk_csv`, a max-speed replay of it
    starts `bulk_after` s in and the run lasts at least until it ends, plus `tail` s."""
    from monitor.store import Store, queries
    db = Path(workdir) / "load.db"
    clinic = LiveClinic(db, n_chairs).start()
    rss_start, load_start = rss_mb(), os.getloadavg()
    pages = [f"/chair/{k % n_chairs + 1}" for k in range(bedside_clients)] + ["/"] * overview_clients
    clients = PageClients(clinic.url, pages, LOAD_USER, LOAD_PASSWORD)
    began = time.monotonic()
    writer = None
    try:
        if bulk_csv is not None:
            time.sleep(bulk_after)
            writer = BulkWriter(db, bulk_csv)
            writer.wait()
        time.sleep(max(0.0, began + seconds - time.monotonic(), tail if writer else 0.0))
        requests = clients.stop()
        elapsed = time.monotonic() - began
        rss_end, load_end = rss_mb(), os.getloadavg()
    finally:
        for proc in (clients.proc, writer and writer.proc):
            if proc and proc.poll() is None:
                proc.kill()
        clinic.stop()
    run = LoadRun(chairs=clinic.outcome(), requests=requests, rss_start_mb=rss_start, rss_end_mb=rss_end,
                  rss_peak_mb=rss_mb("VmHWM"), load_start=load_start, load_end=load_end, seconds=elapsed,
                  max_held=clinic.max_held, write_problems=clinic.write_problems,
                  queue_deepest=clinic.queue_depth.deepest)
    if writer is not None:
        run.writer, run.writer_window = writer.result, (writer.started, writer.ended)
        store = Store(db, readonly=True)
        try:
            run.writer_rows_stored = len(queries.readings(store, writer.result["session_id"]))
        finally:
            store.close()
    return run


