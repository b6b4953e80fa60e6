"""How long review takes: opening a 60-minute session's chart, and the list of 5,000 sessions.

Run: .venv/bin/python benchmarks/review.py   (about a minute; results in RESULTS-review.md)

The chart is timed end to end on the server side: summary, readings, figure, alarm
and event tables, and serialising the page to JSON as Dash sends it. The list is
timed over 5,000 sessions made by copying two simulated sessions' rows (one with a
high-priority alarm for every tenth session) through the store; the 50 newest keep
every reading, the older ones keep their NIBP readings, alerts, events and baselines
(so the database stays a few hundred MB instead of ~4 GB; list queries never read
readings once a session's summary is stored, and the cold case is measured on the
50 sessions with full readings).
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plotly.utils import PlotlyJSONEncoder  # noqa: E402

from monitor.exports import render  # noqa: E402
from monitor.playback import simulate  # noqa: E402
from monitor.protocol import load_protocol  # noqa: E402
from monitor.session_review import load  # noqa: E402
from monitor.store import Store, summaries  # noqa: E402
from monitor.web import review as review_page  # noqa: E402
from monitor.web.review_figures import session_figure  # noqa: E402

N_SESSIONS = 5000
FULL = 50


def timed(fn, repeat: int = 7) -> tuple[float, object]:
    """Median wall time in ms over `repeat` runs, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def clone(store: Store, src: int, k: int, shift: float, full: bool) -> int:
    """Copy session src as a new session k, moved `shift` seconds earlier (benchmark data only)."""
    with store._transaction() as conn:
        sid = conn.execute(
            "INSERT INTO sessions (patient_ref, chair, protocol, state, started_at, infusion_start, infusion_end, "
            "ended_at, ended_by, source) SELECT ?, ?, protocol, state, started_at - ?, infusion_start - ?, "
            "infusion_end - ?, ended_at - ?, ended_by, 'bench' FROM sessions WHERE id = ?",
            (f"P-{k % 800:04d}", str(1 + k % 8), shift, shift, shift, shift, src)).lastrowid
        param_filter = "" if full else " AND parameter IN ('sbp', 'dbp', 'map', 'nibp_hr')"
        conn.execute("INSERT INTO readings (session_id, ts, parameter, value, source, status, detail) "
                     "SELECT ?, ts - ?, parameter, value, source, status, detail FROM readings "
                     f"WHERE session_id = ?{param_filter} ORDER BY id", (sid, shift, src))
        conn.execute("INSERT INTO alerts (session_id, key, rule, parameter, kind, priority, started_at, ended_at, "
                     "value, limit_value, message, acknowledged_at, acknowledged_by) SELECT ?, key, rule, parameter, "
                     "kind, priority, started_at - ?, ended_at - ?, value, limit_value, message, acknowledged_at - ?, "
                     "acknowledged_by FROM alerts WHERE session_id = ?", (sid, shift, shift, shift, src))
        conn.execute("INSERT INTO events (session_id, ts, type, text, author, data) SELECT ?, ts - ?, type, text, "
                     "author, data FROM events WHERE session_id = ?", (sid, shift, src))
        conn.execute("INSERT INTO baselines (session_id, parameter, value, source, ts, n) SELECT ?, parameter, "
                     "value, source, ts - ?, n FROM baselines WHERE session_id = ?", (sid, shift, src))
    return sid


def main() -> list[tuple[str, str, str]]:
    results: list[tuple[str, str, str]] = []
    protocol = load_protocol()
    with tempfile.TemporaryDirectory(prefix="im-bench-review-") as tmp:
        store = Store(Path(tmp) / "bench.db")
        hyper = simulate(store, protocol, "hypertensive", seed=1, patient_ref="BENCH").session_id
        normal = simulate(store, protocol, "normal", seed=2, patient_ref="BENCH").session_id
        n_readings = store._one("SELECT count(*) AS n FROM readings WHERE session_id = ?", (hyper,))["n"]

        # --- one 60-minute session's chart
        cold, _ = timed(lambda: summaries.summary(store, hyper), repeat=1)  # first open: summary computed, stored
        results.append(("session summary, first open (computed + stored)", f"{cold:.1f} ms",
                        f"{n_readings} readings, 65 min"))
        t_load, review = timed(lambda: load(store, hyper))
        results.append(("load review data (summary, readings, alerts, events)", f"{t_load:.1f} ms", ""))
        t_fig, fig = timed(lambda: session_figure(review, protocol))
        size = len(json.dumps(fig, cls=PlotlyJSONEncoder))
        results.append(("build chart figure", f"{t_fig:.1f} ms", f"{size / 1024:.0f} kB JSON, scattergl"))

        def open_chart():
            page = review_page.session_layout(store, protocol, str(hyper))
            return json.dumps(page, cls=PlotlyJSONEncoder)
        t_page, page = timed(open_chart)
        results.append(("**open chart page** (all of the above + tables + JSON)", f"**{t_page:.1f} ms**",
                        f"{len(page) / 1024:.0f} kB sent"))
        for fmt in ("csv", "html", "fhir"):
            t, text = timed(lambda: render(store, hyper, fmt, protocol), repeat=3)
            results.append((f"export {fmt}", f"{t:.0f} ms", f"{len(text.encode()) / 1024:.0f} kB"))

        # --- 5,000 sessions
        t0 = time.perf_counter()
        day = 86400.0
        for k in range(N_SESSIONS):
            src = hyper if k % 10 == 0 else normal
            clone(store, src, k, shift=(k + 1) * day / 7, full=k < FULL)
        build = time.perf_counter() - t0
        total = store._one("SELECT count(*) AS n FROM sessions")["n"]
        rows = store._one("SELECT count(*) AS n FROM readings")["n"]

        def first_page():
            return review_page._list_view(store, 0)
        cold_page, _ = timed(first_page, repeat=1)
        results.append((f"session list, first page, cold ({total} sessions; 50 summaries computed + stored)",
                        f"{cold_page:.0f} ms", f"generated in {build:.0f} s, {rows / 1e6:.1f} M readings"))
        t0 = time.perf_counter()
        page_no = 1
        while (page_no * review_page.PAGE_SIZE) < total:  # backfill as paging would
            review_page._list_view(store, page_no)
            page_no += 1
        backfill = (time.perf_counter() - t0) * 1000 / max(1, total - review_page.PAGE_SIZE)
        results.append(("  summary backfill per older session (NIBP-only copies)", f"{backfill:.2f} ms", ""))

        def list_page(**kw):
            table, count, n = review_page._list_view(store, **kw)
            return json.dumps(table, cls=PlotlyJSONEncoder), n
        for label, kw in (("**session list, first page, warm**", {}),
                          ("  filter patient 'P-0042'", {"patient": "P-0042"}),
                          ("  filter had high-priority alarm", {"high": True}),
                          ("  filter chair 3 + date range (30 days)", {"chair": "3", "start_date": None}),
                          ("  last page (offset 4,950)", {"page": (total - 1) // review_page.PAGE_SIZE})):
            if "start_date" in kw:
                from datetime import datetime
                newest = store._one("SELECT max(started_at) AS t FROM sessions")["t"]
                kw = {"chair": "3", "start_date": datetime.fromtimestamp(newest - 30 * day).strftime("%Y-%m-%d")}
            t, (payload, n) = timed(lambda: list_page(**kw))
            results.append((label, f"**{t:.1f} ms**" if label.startswith("**") else f"{t:.1f} ms",
                            f"{n} match, {len(payload) / 1024:.0f} kB"))
        t_pat, _ = timed(lambda: json.dumps(review_page.patient_layout(store, protocol, "P-0042"),
                                            cls=PlotlyJSONEncoder))
        results.append(("patient page (P-0042, 7 sessions)", f"{t_pat:.1f} ms", ""))
        store.close()
    return results


if __name__ == "__main__":
    rows = main()
    width = max(len(r[0]) for r in rows)
    for label, value, note in rows:
        print(f"{label.replace('**', ''):<{width}}  {value.replace('**', ''):>10}  {note}")
    if "--markdown" in sys.argv:
        print("\n| what | time | notes |\n|---|---|---|")
        for label, value, note in rows:
            print(f"| {label} | {value} | {note} |")
