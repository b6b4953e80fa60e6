"""Scale, measured (issue 14 item 4): N sim chairs over P acquisition processes into one
database, PostgreSQL and SQLite side by side, with a web server and page clients on it.

One run per (engine, N):
- The database: PostgreSQL is a throwaway server of our own (tests/pg_server.py,
  `PostgresServer`: fsync off, synchronous_commit on, as the tests run it), one fresh
  database per run; SQLite is one fresh file. Both get the benchmark's nurse first.
- Acquisition: N chairs, each one `sim:normal` device with a patient (so an open session
  from the start), split round-robin over P `infusion-monitor run --config` processes
  (`acquire` takes one chair, `run --config` any number; each `run` also serves its own
  idle dashboard on a free port, which is how `Product` knows it is up).
- Pages: one `infusion-monitor serve` on the same database and CLIENTS page clients
  (benchmarks/page_clients.py: HTTP only, in their own process, polling every server-side
  callback of a bedside page's 1 s interval, as a browser tab does), each on a different
  chair (/chair/1, /chair/1+N/CLIENTS, ...).
- After WARMUP s the window opens and lasts SECONDS.

What is measured, and how:
- Readings in: a `sim` device produces five readings a second while the oximeter is on
  (hr, spo2, pi, rr, etco2; adapters/sim/devices.py `SimBedside.step`, one step a wall
  second) and a cuff reading set every few minutes. Expected = 5 x N x SECONDS; the cuff
  is left out of both sides. A chair's steps are exactly 1 s apart, so a window of SECONDS
  whole seconds holds exactly SECONDS of them. Stored = rows of those five parameters whose `ts` falls in
  the window, counted after every acquisition was stopped the way Ctrl-C stops it (every
  held row flushed). A process that falls more than 3 s behind its devices' beat skips
  the missed seconds (`CATCH_UP_S`): that shows here as stored < expected.
- Writer lag: neither schema keeps a commit time, so a poller (its own read-only
  connection, every POLL s) reads each session's newest `ts` (one correlated max() per
  session, an index seek in both engines). When a chair's newest `ts` moves from m0 to
  m1, the seconds m1, m1-1, ... > m0 (the sim stamps its readings exactly 1 s apart)
  became visible since the previous poll; each one's lag is counted as (this poll's
  start - its ts), an upper bound that overstates by at most POLL s (half on average).
  It includes everything between the sim stamping a reading and another process being
  able to read it: the device thread's scheduling, the alarm engine, the held rows, the
  writer's turn at the lock and the commit.
- Tick latency: each page client's callback round trips (/_dash-update-component of
  the bedside interval), sent within the window: p50 / p95 / max, and how many failed.
- CPU over the window, in cores (CPU seconds / window seconds) from /proc: every
  acquisition process (`Product.cpu_seconds`: their sum, and the busiest one), the
  `serve` process, the PostgreSQL postmaster and all its backends, the page clients;
  and the machine in all (`MachineLoad`).

The machine is part of the result: on 2 cores, P acquisitions + the database + `serve`
+ the clients ask for more CPU than there is, and the tables say how busy it was.

    .venv/bin/python benchmarks/scale_store.py [--seconds 60] [--chairs 100] [--sqlite-chairs 100 200]
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_machine import (CLOCK_TICKS, MachineLoad, _descendants, _process_ticks, code_version,  # noqa: E402
                           machine, pct_cells, percentiles)
from live_harness import (BENCH_PASSWORD, BENCH_USER, ROOT, Product, clinic_toml, prepare_database,  # noqa: E402
                          session_ids)
from page_clients import PageClients  # noqa: E402

PER_SECOND = ("hr", "spo2", "pi", "rr", "etco2")  # what one sim:normal step stores each second
HOLDS = {"stored": 0.999, "lag_p95_ms": 1000.0, "tick_p95_ms": 1000.0}  # what "holds" means in the summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=60, help="length of the measured window")
    p.add_argument("--warmup", type=int, default=10, help="seconds after everything is up before the window")
    p.add_argument("--chairs", type=int, nargs="*", default=[100], help="PostgreSQL runs: chair counts")
    p.add_argument("--sqlite-chairs", type=int, nargs="*", default=[100, 200],
                   help="SQLite runs: chair counts (a larger count runs only if the smaller held)")
    p.add_argument("--processes", type=int, default=4, help="acquisition processes the chairs are split over")
    p.add_argument("--clients", type=int, default=20, help="page clients polling the bedside tick")
    p.add_argument("--poll", type=float, default=0.25, help="writer-lag poller interval, seconds")
    return p.parse_args(argv)


def _pg_server_class():
    """tests/pg_server.py's PostgresServer, imported by path (tests/ is no package)."""
    spec = importlib.util.spec_from_file_location("pg_server", ROOT / "tests" / "pg_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PostgresServer


# ----------------------------------------------------------------- the database, read directly
def _connect(db: str):
    if db.startswith("postgresql://"):
        import psycopg
        return psycopg.connect(db, autocommit=True)
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def _rows(conn, sql: str, args=()) -> list:
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql, args).fetchall()
    return conn.execute(sql.replace("?", "%s"), args).fetchall()


class LagPoller:
    """Every `interval` s, each session's newest reading `ts`; new seconds' visibility lags."""

    SQL = "SELECT s.id, (SELECT max(r.ts) FROM readings r WHERE r.session_id = s.id) FROM sessions s"

    def __init__(self, db: str, interval: float):
        self.db, self.interval = db, interval
        self.window = (float("inf"), float("inf"))
        self.lags_ms: list[float] = []
        self.polls, self.failed = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = _connect(self.db)
        newest: dict[int, float] = {}
        try:
            while not self._stop.wait(self.interval):
                at = time.time()
                try:
                    rows = _rows(conn, self.SQL)
                except Exception:  # busy for a moment: the next poll sees it (its lag then larger)
                    self.failed += 1
                    continue
                self.polls += 1
                lo, hi = self.window
                for sid, m1 in rows:
                    if m1 is None:
                        continue
                    m0 = newest.get(sid)
                    newest[sid] = m1
                    if m0 is None:
                        continue
                    t = m1
                    while t > m0 + 1e-6:
                        if lo <= t < hi:
                            self.lags_ms.append((at - t) * 1000)
                        t -= 1.0
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _postgres_ticks(server) -> int:
    """CPU clock ticks so far of the postmaster and every backend of it."""
    pid = server.postmaster_pid()
    procs = _process_ticks()
    return sum(procs[p][1] for p in _descendants(procs, pid) if p in procs) if pid else 0


# ----------------------------------------------------------------- one run
def one_run(engine: str, n: int, args, pg=None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"im-scale-{engine}-{n}-"))
    db = pg.create_database(f"scale_{n}_{int(time.time())}") if engine == "postgresql" else str(tmp / "monitor.db")
    prepare_database(db)
    shares = [[i for i in range(n) if i % args.processes == p] for p in range(args.processes)]
    acquisitions, serve, clients, poller = [], None, None, None
    try:
        started = time.monotonic()
        for p, share in enumerate(shares):
            config = clinic_toml(tmp / f"clinic{p + 1}.toml",
                                 [(str(i + 1), ["sim:normal"], f"SCALE-{i + 1}") for i in share])
            acquisitions.append(Product(db, "run", "--config", str(config), log=tmp / f"run{p + 1}.log"))
        serve = Product(db, "serve", log=tmp / "serve.log")
        up_s = time.monotonic() - started
        sids = session_ids(db)
        pages = [f"/chair/{k * n // args.clients + 1}" for k in range(args.clients)]
        clients = PageClients(serve.url, pages, BENCH_USER, BENCH_PASSWORD)
        poller = LagPoller(db, args.poll)
        time.sleep(args.warmup)

        load = MachineLoad()
        lo = time.time()
        poller.window = (lo, lo + args.seconds)
        acq0 = [a.cpu_seconds() for a in acquisitions]
        serve0, pg0 = serve.cpu_seconds(), _postgres_ticks(pg) if pg else 0
        clients0 = Product.cpu_seconds(clients)
        time.sleep(args.seconds)
        span = time.time() - lo  # for CPU; the rows and ticks counted are those of [lo, lo + SECONDS)
        hi = lo + args.seconds
        acq_cpu = [(a.cpu_seconds() - c) / span for a, c in zip(acquisitions, acq0)]
        serve_cpu = (serve.cpu_seconds() - serve0) / span
        pg_cpu = (_postgres_ticks(pg) - pg0) / CLOCK_TICKS / span if pg else float("nan")
        clients_cpu = (Product.cpu_seconds(clients) - clients0) / span
        load.stop()
        time.sleep(2)  # the last window seconds' rows reach the poller
        poller.stop()
        requests = clients.stop()
        clients = None
    finally:
        if poller is not None:
            poller.stop()
        if clients is not None:
            clients.proc.kill()
        for product in [serve, *acquisitions]:
            if product is not None:
                product.stop()
    ticks = [r for r in requests if r["page"].startswith("/chair/") and lo <= r["t"] < hi]
    tick_ms = [r["ms"] for r in ticks if r["status"] == 200 and r.get("ok", True)]
    conn = _connect(db)
    try:
        marks = ",".join("?" * len(PER_SECOND))
        per_session = dict(_rows(conn, f"SELECT session_id, count(*) FROM readings WHERE ts >= ? AND ts < ? "
                                       f"AND parameter IN ({marks}) GROUP BY session_id", (lo, hi, *PER_SECOND)))
    finally:
        conn.close()
    errors = Counter(re.sub(r"\d+", "N", line.strip())[:200] for p in sorted(tmp.glob("*.log"))
                     for line in p.read_text(errors="replace").splitlines() if "ERROR" in line)
    if engine == "postgresql":
        pg.drop_database(db.rsplit("/", 1)[1])
    shutil.rmtree(tmp, ignore_errors=True)
    stored = [per_session.get(sids.get(str(i + 1)), 0) for i in range(n)]
    return {"engine": engine, "n": n, "processes": args.processes, "clients": args.clients, "seconds": span,
            "up_s": up_s, "expected": len(PER_SECOND) * n * args.seconds, "stored": sum(stored),
            "worst": min(stored), "chair_expected": len(PER_SECOND) * args.seconds, "lags": poller.lags_ms,
            "polls": poller.polls,
            "tick_ms": tick_ms, "ticks": len(ticks), "tick_failed": len(ticks) - len(tick_ms),
            "acq_cpu": acq_cpu, "serve_cpu": serve_cpu, "pg_cpu": pg_cpu, "clients_cpu": clients_cpu,
            "log_errors": errors, "load": load}


def holds(r: dict) -> bool:
    return (r["stored"] / max(r["expected"], 1) >= HOLDS["stored"]
            and percentiles(r["lags"])["p95"] <= HOLDS["lag_p95_ms"]
            and percentiles(r["tick_ms"])["p95"] <= HOLDS["tick_p95_ms"])


def table(runs: list[dict]) -> None:
    print("| chairs / processes | readings in (5 × chair-s) | stored (ts in window) | **stored / in** | worst chair "
          "| writer lag, ms p50 / p95 / max | bedside tick, ms p50 / p95 / max (n, failed) | acquisitions CPU, "
          "sum (busiest) | `serve` CPU | PostgreSQL CPU | clients CPU | machine busy | ERROR lines |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        pg = "—" if r["pg_cpu"] != r["pg_cpu"] else f"{r['pg_cpu']:.2f}"
        print(f"| {r['n']} / {r['processes']} | {r['expected']:,.0f} | {r['stored']:,} "
              f"| **{r['stored'] / max(r['expected'], 1):.3f}** | {r['worst']} / {r['chair_expected']:.0f} "
              f"| {pct_cells(r['lags'])} | {pct_cells(r['tick_ms'])} ({r['ticks']:,}, {r['tick_failed']}) "
              f"| {sum(r['acq_cpu']):.2f} ({max(r['acq_cpu']):.2f}) | {r['serve_cpu']:.2f} | {pg} "
              f"| {r['clients_cpu']:.2f} | {r['load'].machine_cpu:.2f} of {machine().split()[0]} "
              f"| {sum(r['log_errors'].values())} |")
    print()
    for r in runs:
        print(f"- {r['engine']}, {r['n']} chairs (all up in {r['up_s']:.1f} s; {r['polls']} lag polls): "
              f"{r['load'].line()}")
        for text, k in r["log_errors"].most_common(3):  # what the products logged as ERROR (digits as N)
            print(f"  - {k} × `{text}`")
    print()


def main(argv=None) -> None:
    args = parse_args(argv)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # Started in the background by a shell (`... &`): SIGINT ignored, and inherited so by the
        # products, whose Ctrl-C stop (every held row flushed) would then never happen.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    runs: list[dict] = []
    if args.chairs:
        pg = _pg_server_class()().start()
        try:
            runs += [one_run("postgresql", n, args, pg) for n in args.chairs]
        finally:
            pg.close()
    for n in sorted(args.sqlite_chairs):
        runs.append(one_run("sqlite", n, args))
        if not holds(runs[-1]):
            break  # the largest count SQLite holds is the one before
    print(f"`sim:normal` chairs, each with a patient, split over {args.processes} `run --config` processes; one "
          f"`serve` with {args.clients} page clients on bedside pages; {args.seconds} s window after "
          f"{args.warmup} s warm-up; writer lag polled every {args.poll} s. Code {code_version()}, "
          f"{machine()}.\n")
    for engine in ("postgresql", "sqlite"):
        mine = [r for r in runs if r["engine"] == engine]
        if mine:
            print(f"### {'PostgreSQL' if engine == 'postgresql' else 'SQLite'}\n")
            table(mine)
    print("### Side by side\n")
    print("| engine | chairs | stored / in | writer lag p95, ms | tick p95, ms | database server CPU "
          "| acquisitions CPU | holds? |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in runs:
        server = f"{r['pg_cpu']:.2f} (postgres)" if r["engine"] == "postgresql" else "— (in the writers)"
        print(f"| {r['engine']} | {r['n']} | {r['stored'] / max(r['expected'], 1):.3f} "
              f"| {percentiles(r['lags'])['p95']:.0f} | {percentiles(r['tick_ms'])['p95']:.0f} | {server} "
              f"| {sum(r['acq_cpu']):.2f} | {'yes' if holds(r) else 'no'} |")
    print(f"\n\"Holds\": stored / in ≥ {HOLDS['stored']}, writer lag p95 ≤ {HOLDS['lag_p95_ms']:.0f} ms and "
          f"tick p95 ≤ {HOLDS['tick_p95_ms']:.0f} ms.")


if __name__ == "__main__":
    main()
