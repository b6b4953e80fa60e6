"""What the nurse-side benchmarks share (live_latency.py, browser_cost.py, ingest_chairs.py).

Real parts only (issue 12 item 5):
- `MasimoWriters`: emulated Masimo Radical-7s, each on its own pty (adapters.emulators'
  `DroppingPtyPort`, lines from the codec's `masimo_line`), one line a second with the HR
  a schedule gives, every write's wall time kept. Our own pacing instead of
  `MasimoEmulator`, because the measure needs the exact time each value went on the wire.
- `Product`: `infusion-monitor run --config` / `serve` as subprocesses on a temp database.
- `chromium()`: the headless Chromium the browser tests use, with the performance log
  (CDP Network events) on, and `INSTRUMENT_JS` injected before any page script runs.
- `RowWatcher`: a reader polling the database every 20 ms, so the moment a row became
  visible to readers (its commit) is known to within that.
"""
from __future__ import annotations

import heapq
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]  # tests/: headless_chromium

BENCH_USER, BENCH_PASSWORD = "bench-nurse", "bench nurse password"
CLI = str(Path(sys.executable).parent / "infusion-monitor")


# ----------------------------------------------------------------- HR schedules
def sawtooth(k: int, offset: int = 0) -> int:
    """HR for second k: up 60, 62 .. 100, then down 99, 97 .. 61; each value once per 41 s,
    consecutive values 1-2 bpm apart (inside the cross-frame check's 7 bpm, adapters/frame_check.py)."""
    p = (k + offset) % 41
    return 60 + 2 * p if p <= 20 else 100 - 2 * (p - 20) + 1


def alarm_schedule(seconds: int, normal_s: int = 35) -> tuple[list[int], list[int]]:
    """HR per second for the latency run: the sawtooth, and every ~70 s a climb past the
    default profile's HIGH tachycardia limit (hr_critical: > 140 for 15 s) held 19 s with a
    distinct value each second, then back down; under 30 s above 120, so hr_high (MEDIUM)
    does not fire. Returns (values, indices where a plateau starts)."""
    out, starts = [], []
    while len(out) < seconds:
        k = 21  # the sawtooth's way down from 99, then up to 88: the climb starts from fresh values
        for _ in range(normal_s):
            out.append(sawtooth(k))
            k += 1
        v = out[-1]
        while v < 134:
            v += 6
            out.append(v)
        starts.append(len(out))
        out += list(range(142, 161, 2)) + list(range(159, 142, -2))
        v = out[-1]
        while v - 7 > 100:
            v -= 7
            out.append(v)
        out.append(100)
    return out[:seconds], [s for s in starts if s < seconds]


# ----------------------------------------------------------------- devices
class MasimoWriters:
    """N emulated Masimos on ptys, one line a second each, staggered over the second.

    values(chair_index, k) -> HR of the k-th line. `writes` holds (chair_index, wall time
    just before os.write, hr) for every line put on the wire; `start()` begins at line 0.
    """

    def __init__(self, n: int, values: Callable[[int, int], int], directory: Optional[str] = None):
        from adapters.emulators.base import DroppingPtyPort
        self.dir = directory or tempfile.mkdtemp(prefix="im-bench-pty-")
        self.ports = [DroppingPtyPort(f"masimo{i + 1}", self.dir) for i in range(n)]
        self.values = values
        self.writes: list[tuple[int, float, int]] = []
        self.failed = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "MasimoWriters":
        self._thread = threading.Thread(target=self._run, name="masimo-writers", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from adapters.masimo import masimo_line
        from adapters.oximeter_sample import OximetrySample
        n = len(self.ports)
        t0 = time.monotonic() + 0.2
        due = [(t0 + i / n, i, 0) for i in range(n)]
        heapq.heapify(due)
        while not self._stop.is_set():
            at, i, k = heapq.heappop(due)
            wait = at - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            hr = self.values(i, k)
            line = masimo_line(OximetrySample(hr=hr, spo2=97, status="ok", pi=2.0))
            wrote = time.time()
            if self.ports[i].write(line):
                self.writes.append((i, wrote, hr))
            else:
                self.failed += 1
            heapq.heappush(due, (at + 1.0, i, k + 1))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def close(self) -> None:
        self.stop()
        for p in self.ports:
            p.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def clinic_toml(path: Path, chairs: list[tuple[str, list[str], Optional[str]]]) -> Path:
    """A clinic.toml (monitor/clinic_config.py) of (name, device specs, patient)."""
    lines = []
    for name, devices, patient in chairs:
        lines.append(f'[chairs."{name}"]')
        lines.append("devices = [" + ", ".join(f'"{d}"' for d in devices) + "]")
        if patient:
            lines.append(f'patient = "{patient}"')
        lines.append("")
    path.write_text("\n".join(lines))
    return path


# ----------------------------------------------------------------- the product
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(db: Path) -> None:
    """A database with the benchmark's nurse (a real argon2 hash, as `users add` makes)."""
    from monitor.store import Store, people
    store = Store(db)
    try:
        if people.user(store, BENCH_USER) is None:
            people.add_user(store, BENCH_USER, "nurse", BENCH_PASSWORD, "BN")
    finally:
        store.close()


class Product:
    """`infusion-monitor --db DB <args> --port P` in a subprocess, waited for until it serves."""

    def __init__(self, db: Path, *args: str, log: Optional[Path] = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or Path(tempfile.mkstemp(prefix="im-bench-", suffix=".log")[1])
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen([CLI, "--db", str(db), *args, "--port", str(self.port)], cwd=ROOT,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(args)} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=2):
                    break
            except OSError:
                if time.monotonic() > end:
                    raise RuntimeError(f"{' '.join(args)} did not answer in 60 s")
                time.sleep(0.2)

    def cpu_seconds(self) -> float:
        try:
            raw = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return float("nan")
        f = raw[raw.rindex(")") + 2:].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Ctrl-C's path (acquisition flushes every held row and closes), then wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ----------------------------------------------------------------- the database, read as a page would
class RowWatcher:
    """Polls a session's new readings (and its alerts) every `interval` s on a read-only
    connection, keeping when each row id was first seen: its commit time, within `interval`."""

    def __init__(self, db: Path, session_id: int, interval: float = 0.02):
        self.db, self.sid, self.interval = db, session_id, interval
        self.readings: dict[int, tuple[float, dict]] = {}  # id -> (first seen, row)
        self.alerts: dict[int, tuple[float, dict]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="row-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from monitor.store import Store, StoreError, queries
        store = Store(self.db, readonly=True)
        cursor = queries.max_reading_id(store, self.sid)
        try:
            while not self._stop.wait(self.interval):
                try:
                    rows = queries.readings_after(store, self.sid, cursor)
                    now = time.time()
                    for r in rows:
                        self.readings[r["id"]] = (now, r)
                        cursor = max(cursor, r["id"])
                    for a in queries.alerts(store, self.sid):
                        if a["id"] not in self.alerts:
                            self.alerts[a["id"]] = (now, a)
                except StoreError:
                    continue  # busy for a moment: the next poll sees it (its time is then later)
        finally:
            store.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def session_ids(db: Path) -> dict[str, int]:
    """chair -> its current session id."""
    from monitor.store import Store, queries
    store = Store(db, readonly=True)
    try:
        return {c: queries.current_session(store, c)["id"] for c in queries.chairs(store)
                if queries.current_session(store, c)}
    finally:
        store.close()


def stored_hr(db: Path, session_id: int) -> list[dict]:
    from monitor.store import Store, queries
    store = Store(db, readonly=True)
    try:
        return queries.readings(store, session_id, ("hr",))
    finally:
        store.close()


def match_writes(writes: list[tuple[float, int]], rows: list[dict], within_s: float = 5.0) -> list[tuple]:
    """Each write (wall time, hr) with the stored HR row of the same value closest in time
    (within `within_s`; a value recurs only every 20 s or more), or None: [(t, hr, row|None)]."""
    by_value: dict[float, list[dict]] = {}
    for r in rows:
        by_value.setdefault(r["value"], []).append(r)
    out, used = [], set()
    for t, hr in writes:
        best = None
        for r in by_value.get(float(hr), ()):
            if r["id"] not in used and abs(r["ts"] - t) <= within_s and (best is None or abs(r["ts"] - t) < abs(best["ts"] - t)):
                best = r
        if best is not None:
            used.add(best["id"])
        out.append((t, hr, best))
    return out


# ----------------------------------------------------------------- the browser
# Injected before any page script (CDP Page.addScriptToEvaluateOnNewDocument). Times are
# epoch ms (performance.timeOrigin + now(): sub-millisecond, same clock as Python's time.time()).
INSTRUMENT_JS = r"""
(() => {
  const T = () => performance.timeOrigin + performance.now();
  const rec = window.__bench = {hr: [], alerts: {}, net: [], push: [], longtasks: [], modes: []};
  const size = v => v === undefined ? 0 : JSON.stringify(v).length;
  const origFetch = window.fetch;
  window.fetch = function (input, init) {
    const body = init && typeof init.body === 'string' ? init.body : '';
    if (!body.includes('bed-beat') && !body.includes('bed-state')) return origFetch.apply(this, arguments);
    const t0 = T();
    let upState = 0;
    try { const b = JSON.parse(body); (b.state || []).concat(b.inputs || []).forEach(s => {
      if (s && s.id === 'bed-state') upState += size(s.value); }); } catch (e) {}
    return origFetch.apply(this, arguments).then(resp => {
      const t1 = T();
      resp.clone().text().then(txt => {
        let downState = 0, hr = null;
        const find = o => {  // the HR numeric's text in the answer (bedside_view.numerics: id num-hr)
          if (hr !== null || !o || typeof o !== 'object') return;
          if (o.props && o.props.id === 'num-hr') { hr = String(o.props.children).trim(); return; }
          for (const k in o) find(o[k]);
        };
        try { const r = JSON.parse(txt).response || {}; downState = size(r['bed-state']); find(r); } catch (e) {}
        rec.net.push({t0, t1, t2: T(), up: body.length, down: txt.length, upState, downState, hr,
                      status: resp.status, tick: body.includes('bed-beat')});
      });
      return resp;
    });
  };
  // a push channel (server-sent events or a WebSocket): when each message arrived
  const wrapPush = (Orig, kind) => {
    if (!Orig) return;
    const Wrapped = function (...args) {
      const conn = new Orig(...args);
      const seen = new WeakSet();
      const note = e => { if (!seen.has(e)) { seen.add(e);
        rec.push.push({t: T(), kind, type: e.type, n: typeof e.data === 'string' ? e.data.length : 0}); } };
      const add = conn.addEventListener.bind(conn);
      conn.addEventListener = (type, fn, opts) => add(type, e => { note(e); return fn.call(conn, e); }, opts);
      add('message', note);
      return conn;
    };
    Wrapped.prototype = Orig.prototype;
    Object.assign(Wrapped, Orig);
    window[kind] = Wrapped;
  };
  wrapPush(window.EventSource, 'EventSource');
  wrapPush(window.WebSocket, 'WebSocket');
  try { new PerformanceObserver(l => l.getEntries().forEach(e => rec.longtasks.push(
    {t: performance.timeOrigin + e.startTime, ms: e.duration}))).observe({entryTypes: ['longtask']}); } catch (e) {}
  let lastHr = null;
  const look = () => {
    const t = T();
    const el = document.getElementById('num-hr');
    const text = el ? el.textContent.trim() : null;
    if (text !== lastHr) { lastHr = text; rec.hr.push({t, text}); }
    const mode = document.body && document.body.getAttribute('data-live');  // the page's own word: push or poll
    if (mode && (!rec.modes.length || rec.modes[rec.modes.length - 1].mode !== mode)) rec.modes.push({t, mode});
    document.querySelectorAll('#bed-alarms [data-alert-id]').forEach(tile => {
      const id = tile.getAttribute('data-alert-id');
      if (!(id in rec.alerts)) rec.alerts[id] = t;
    });
  };
  const start = () => new MutationObserver(look).observe(document.documentElement,
    {subtree: true, childList: true, characterData: true, attributes: true});
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
})();
"""


def chromium(perf_log: bool = True):
    """Headless Debian Chromium, the tests' own (tests/headless_chromium.py), with precise memory figures."""
    from headless_chromium import start
    drv, profile = start("im-bench-chromium-", "--enable-precise-memory-info",
                         capabilities={"goog:loggingPrefs": {"performance": "ALL"}} if perf_log else None)
    drv.set_page_load_timeout(60)
    drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": INSTRUMENT_JS})
    drv.execute_cdp_cmd("Performance.enable", {"timeDomain": "timeTicks"})
    drv.bench_profile = profile
    return drv


def close_chromium(drv) -> None:
    drv.quit()
    shutil.rmtree(drv.bench_profile, ignore_errors=True)


def sign_in(drv, url: str, path: str) -> None:
    """The login form (login.html.j2), as tests/conftest.py Server.login does, then `path`."""
    from urllib.parse import quote
    from selenium.webdriver.common.by import By
    drv.get(url + "/login?next=" + quote(path, safe="/"))
    drv.find_element(By.ID, "login-name").send_keys(BENCH_USER)
    drv.find_element(By.ID, "login-password").send_keys(BENCH_PASSWORD)
    drv.find_element(By.ID, "login-submit").click()
    end = time.monotonic() + 30
    while "/login" in drv.current_url:
        if time.monotonic() > end:
            raise RuntimeError("the benchmark's nurse could not sign in")
        time.sleep(0.1)


def chromium_cpu(drv) -> dict[str, float]:
    """CPU seconds so far of this Chromium's processes by kind (renderer, gpu-process, browser...),
    from /proc: the page's cost also lands outside its main thread (WebGL drawn by the GPU
    process, here in software)."""
    from bench_machine import CLOCK_TICKS, _descendants, _process_ticks
    procs = _process_ticks()
    out: dict[str, float] = {}
    for pid in _descendants(procs, drv.service.process.pid) - {drv.service.process.pid}:
        try:  # Chromium rewrites its title: arguments separated by spaces, not NULs
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        kind = re.search(r"--type=(\S+)", cmd)
        kind = kind.group(1) if kind else "browser"
        out[kind] = out.get(kind, 0.0) + procs[pid][1] / CLOCK_TICKS
    return out


def page_record(drv) -> dict:
    return drv.execute_script("return window.__bench")


def metrics(drv) -> dict:
    """CDP Performance.getMetrics as a dict (TaskDuration, ScriptDuration: cumulative seconds)."""
    return {m["name"]: m["value"] for m in drv.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}


class SimSession:
    """A simulated patient's session fed second by second through the recorder, as
    acquisition would (browser_cost.py, live_tick.py): infusion from minute 5."""

    def __init__(self, store, protocol, chair: str, t0: float):
        from adapters.nibp_cycle import NibpCycle
        from adapters.sim import Patient, SimBedside
        from monitor.recording import SessionRecorder
        self.t0 = t0
        self.sid = store.open_session(f"COST-{chair}", chair, protocol.name, t0)[0]
        self.rec = SessionRecorder(store, self.sid, protocol)
        self.cycle = NibpCycle(protocol.nibp_cycle_infusion_s, protocol.nibp_cycle_other_s)
        self.bed = SimBedside(Patient("normal", 1), self.cycle, t0)
        self.k = 0

    def run_until(self, ts: float) -> int:
        from monitor.model import Event, Reading
        n = 0
        while self.t0 + self.k <= ts:
            t = self.t0 + self.k
            if self.k == 300:
                self.rec.event(Event(t, "infusion_start", "", "bench"))
            self.cycle.follow(self.sid, self.rec.engine.state)
            items, _ = self.bed.step(t)
            for it in items:
                if isinstance(it, Reading):
                    self.rec.reading(it)
                    n += 1
                else:
                    self.rec.signal(it)
            self.k += 1
        return n
