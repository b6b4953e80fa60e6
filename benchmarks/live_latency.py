"""What a nurse sees, end to end: device value -> bedside page, alarm -> tile, bytes per tick.

Twelve emulated Masimo Radical-7s on ptys, one line a second each, every HR distinct from
the seconds around it (benchmarks/live_harness.py). `infusion-monitor run --config` does
acquisition of all twelve chairs; the page comes from a separate `infusion-monitor serve`
(or, with --server run, from `run` itself). A signed-in headless Chromium shows chair 1's
bedside page; a script injected before the page's own records, in the page, when each
new HR text and each new alarm tile appears (MutationObserver), when each tick request
left and its answer was read, and any push message. Chair 1's HR climbs past the default
profile's HIGH tachycardia limit (> 140 bpm for 15 s) about every 70 s.

Prints: samples stored/sent for every chair; device -> page p50/p95/max with the stage
breakdown; alarm raised -> tile visible; the bytes of one tick both ways (Chrome's own
Network events: headers and bodies, and how much of it is `bed-state`).

    .venv/bin/python benchmarks/live_latency.py [--seconds 300] [--chairs 12] [--server serve|run]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_machine import MachineLoad, pct_cells  # noqa: E402
from live_harness import (MasimoWriters, Product, RowWatcher, alarm_schedule, chromium, clinic_toml,  # noqa: E402
                          close_chromium, match_writes, page_record, prepare_database, sawtooth, session_ids,
                          sign_in, stored_hr)

WARMUP_S = 10  # after the page is up, before values count (start-up backlog, first full draw)
TAIL_S = 3  # after the last counted write, for it to reach page and database


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=300, help="values counted (one a second; an alarm about every 70 s)")
    p.add_argument("--chairs", type=int, default=12, help="chairs under acquisition (chair 1 is watched)")
    p.add_argument("--server", choices=("serve", "run"), default="serve",
                   help="the page from a separate `serve` (default) or from `run` itself")
    return p.parse_args(argv)


def run(args) -> dict:
    load = MachineLoad()
    tmp = Path(tempfile.mkdtemp(prefix="im-latency-"))
    db = tmp / "monitor.db"
    prepare_database(db)
    schedule, _ = alarm_schedule(args.seconds + WARMUP_S + 180)
    writers = MasimoWriters(args.chairs, lambda i, k: schedule[k] if i == 0 else sawtooth(k, 5 * i)).start()
    config = clinic_toml(tmp / "clinic.toml", [(str(i + 1), [f"masimo:{p.path}"], f"E2E-{i + 1}")
                                               for i, p in enumerate(writers.ports)])
    acquisition = web = drv = watcher = None
    try:
        acquisition = Product(db, "run", "--config", str(config), log=tmp / "run.log")
        web = Product(db, "serve", log=tmp / "serve.log") if args.server == "serve" else acquisition
        sids = session_ids(db)
        watcher = RowWatcher(db, sids["1"])
        drv = chromium()
        sign_in(drv, web.url, "/chair/1")
        time.sleep(WARMUP_S)
        window = [time.time(), None]
        cpu0 = acquisition.cpu_seconds(), web.cpu_seconds()
        time.sleep(args.seconds)
        window[1] = time.time()
        cpu = (acquisition.cpu_seconds() - cpu0[0]) / args.seconds, (web.cpu_seconds() - cpu0[1]) / args.seconds
        time.sleep(TAIL_S)
        load.stop()
        writers.stop()
        record = page_record(drv)
        perf_log = drv.get_log("performance")
    finally:
        if watcher:
            watcher.stop()
        if drv:
            close_chromium(drv)
        for proc in (web, acquisition):
            if proc:
                proc.stop()
        writers.close()
    return {"args": args, "load": load, "db": db, "sids": sids, "writes": writers.writes, "window": window,
            "record": record, "perf_log": perf_log, "watcher": watcher, "cpu": cpu}


# ----------------------------------------------------------------- analysis
def counted(result, chair_index: int) -> list[tuple[float, int]]:
    lo, hi = result["window"]
    return [(t, hr) for i, t, hr in result["writes"] if i == chair_index and lo <= t <= hi]


def stored_sent(result) -> tuple[list, dict]:
    """Per chair: (written, sent) over the window; and chair 1's matches."""
    per_chair, first = [], {}
    for i in range(result["args"].chairs):
        matches = match_writes(counted(result, i), stored_hr(result["db"], result["sids"][str(i + 1)]))
        per_chair.append((sum(1 for m in matches if m[2] is not None), len(matches)))
        if i == 0:
            first = matches
    return per_chair, first


def delivery(record, hr: int, t_write: float, shown: float):
    """What brought this value to the page: the first tick answer carrying it (its HR numeric),
    else the last push message before it was shown. (kind, arrived s, request sent s | None)."""
    for n in record["net"]:
        if n["tick"] and n.get("hr") == str(hr) and t_write <= n["t1"] / 1000 <= shown:
            return "tick", n["t1"] / 1000, n["t0"] / 1000
    pushed = [p["t"] / 1000 for p in record["push"] if t_write <= p["t"] / 1000 <= shown]
    return ("push", pushed[-1], None) if pushed else (None, None, None)


def shown_at(record, t_write: float, hr: int, next_same: float):
    """When the page first showed this HR after its write (s), or None."""
    for o in record["hr"]:
        t = o["t"] / 1000
        if t_write <= t < next_same and o["text"] == str(hr):
            return t
    return None


def value_stages(result, matches) -> dict:
    record, watcher = result["record"], result["watcher"]
    stages = {k: [] for k in ("ts", "commit", "to_page", "request", "to_dom", "total", "push_to_request",
                              "commit_to_push")}
    channels = {"tick": 0, "push": 0, "pushed tick": 0}
    shown = 0
    for n, (t, hr, row) in enumerate(matches):
        later = [u for u, v, _ in matches[n + 1:] if v == hr]
        d = shown_at(record, t, hr, later[0] if later else float("inf"))
        commit = watcher.readings[row["id"]][0] if row is not None and row["id"] in watcher.readings else None
        if row is not None:
            stages["ts"].append((row["ts"] - t) * 1000)
        if commit is not None:
            stages["commit"].append((commit - t) * 1000)
        if d is None:
            continue
        shown += 1
        stages["total"].append((d - t) * 1000)
        kind, arrived, sent = delivery(record, hr, t, d)
        if kind is None:
            continue
        channels[kind] += 1
        stages["to_dom"].append((d - arrived) * 1000)
        if sent is not None:
            stages["request"].append((arrived - sent) * 1000)
            told = [p["t"] / 1000 for p in record["push"] if t <= p["t"] / 1000 <= sent]
            if told:  # a push message made the page ask (assets/live-push.js); else the 1 s tick did
                stages["push_to_request"].append((sent - told[-1]) * 1000)
                channels["pushed tick"] += 1
            if commit is not None and told:
                stages["commit_to_push"].append((told[-1] - commit) * 1000)
        if commit is not None:
            stages["to_page"].append((arrived - commit) * 1000)
    stages["shown"], stages["channels"] = shown, channels
    return stages


def alarm_stages(result, matches) -> list[dict]:
    """Each HIGH hr_critical alarm raised in the window, from the write of the reading that
    completed it (the engine stamps the alarm with that reading's ts) to its tile."""
    from monitor.store import Store, queries
    lo, hi = result["window"]
    store = Store(result["db"], readonly=True)
    try:
        rows = queries.alerts(store, result["sids"]["1"])
    finally:
        store.close()
    stored = [(row["ts"], t) for t, _, row in matches if row is not None]
    out = []
    for a in rows:
        if a["rule"] != "hr_critical" or not lo <= a["started_at"] <= hi or not stored:
            continue
        ts, t = min(stored, key=lambda st: abs(st[0] - a["started_at"]))
        if abs(ts - a["started_at"]) > 0.01:
            continue  # the completing reading is not among the counted writes
        tile = result["record"]["alerts"].get(str(a["id"]))
        tile = tile / 1000 if tile is not None else None
        seen = result["watcher"].alerts.get(a["id"])
        out.append({"raised": (a["started_at"] - t) * 1000, "commit": (seen[0] - t) * 1000 if seen else None,
                    "tile": (tile - t) * 1000 if tile else None,
                    "commit_to_tile": (tile - seen[0]) * 1000 if tile and seen else None})
    return out


def wire_bytes(result) -> dict:
    """Per tick, from Chrome's Network events: request (line + headers + body) and response
    (encoded bytes received, headers included), and any push messages' bytes a second."""
    lo, hi = result["window"]
    sent, extra_up, extra_down, done, push = {}, {}, {}, {}, 0
    for entry in result["perf_log"]:
        m = json.loads(entry["message"])["message"]
        method, p = m["method"], m.get("params", {})
        if method == "Network.requestWillBeSent":
            req = p["request"]
            if "/_dash-update-component" in req["url"] and "bed-beat" in (req.get("postData") or "") \
                    and lo <= p.get("wallTime", 0) <= hi:
                sent[p["requestId"]] = len(req["postData"].encode())
        elif method == "Network.requestWillBeSentExtraInfo":
            extra_up[p["requestId"]] = sum(len(k) + len(v) + 4 for k, v in p.get("headers", {}).items())
        elif method == "Network.responseReceivedExtraInfo":
            extra_down[p["requestId"]] = len(p.get("headersText") or "")
        elif method == "Network.loadingFinished":
            done[p["requestId"]] = p["encodedDataLength"]
        elif method == "Network.eventSourceMessageReceived":
            push += len((p.get("data") or "").encode())
        elif method == "Network.webSocketFrameReceived":
            push += len((p.get("response", {}).get("payloadData") or "").encode())
    ids = [r for r in sent if r in done]
    up_headers = [extra_up.get(r, 0) + 60 for r in ids]  # + the request line, about 60 bytes
    net = [n for n in result["record"]["net"] if n["tick"] and lo * 1000 <= n["t0"] <= hi * 1000]
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    return {"ticks": len(ids), "per_s": len(ids) / (hi - lo),
            "up": med([sent[r] + h for r, h in zip(ids, up_headers)]), "up_body": med([sent[r] for r in ids]),
            "up_state": med([n["upState"] for n in net]),
            "down": med([done[r] for r in ids]), "down_headers": med([extra_down.get(r, 0) for r in ids]),
            "down_state": med([n["downState"] for n in net]), "push_per_s": push / (hi - lo)}


def report(result) -> str:
    args = result["args"]
    per_chair, matches = stored_sent(result)
    written, sent = sum(w for w, _ in per_chair), sum(s for _, s in per_chair)
    worst = min(per_chair, key=lambda ws: ws[0] / max(ws[1], 1))
    v = value_stages(result, matches)
    al = alarm_stages(result, matches)
    b = wire_bytes(result)
    where = "a separate `serve`" if args.server == "serve" else "`run` itself"
    c = v["channels"]
    channel = (f"a tick request: {c['pushed tick']} of {c['tick']} asked at once on a push message, the rest by "
               f"the 1 s tick" + (f"; {c['push']} by a push message's own data" if c["push"] else ""))
    modes = result["record"].get("modes") or []
    channel += (f". The page said it was on: {' → '.join(m['mode'] for m in modes)}" if modes else
                ". The page shows no push/poll state (no push channel in this version)")
    rows = [
        result["load"].line(),
        f"{args.chairs} emulated Masimos (one line a second each) under `run --config`; chair 1's page from "
        f"{where} in headless Chromium; {args.seconds} s counted after {WARMUP_S} s warm-up. CPU: acquisition "
        f"process {result['cpu'][0]:.2f} cores, page server {result['cpu'][1]:.2f}. Values reached the page by "
        f"{channel}.", "",
        f"**samples stored/sent at 1 Hz: {written / max(sent, 1):.3f}** ({written:,} / {sent:,} over {args.chairs} "
        f"chairs; worst chair {worst[0]} / {worst[1]})", "",
        "| device (Masimo line written) → ... | ms p50 / p95 / max | n |", "|---|---:|---:|",
        f"| stored reading's `ts` (0 = stamped at arrival) | {pct_cells(v['ts'])} | {len(v['ts'])} |",
        f"| row committed (visible to a reader polling every 20 ms) | {pct_cells(v['commit'])} | {len(v['commit'])} |",
        f"| **value in the page's text (DOM)** | **{pct_cells(v['total'])}** | {len(v['total'])} |", "",
        "| stage | ms p50 / p95 / max | n |", "|---|---:|---:|",
        f"| commit → the first tick answer carrying the value (or the push message) reached the page | "
        f"{pct_cells(v['to_page'])} | {len(v['to_page'])} |",
        f"| of which commit → push message at the page | {pct_cells(v['commit_to_push'])} | "
        f"{len(v['commit_to_push'])} |",
        f"| of which push message → tick request sent | {pct_cells(v['push_to_request'])} | "
        f"{len(v['push_to_request'])} |",
        f"| of which the tick request itself (sent → answer) | {pct_cells(v['request'])} | {len(v['request'])} |",
        f"| answer (or push message) → value in the DOM | {pct_cells(v['to_dom'])} | {len(v['to_dom'])} |", "",
        f"Values shown / sent for chair 1: {v['shown']} / {len(matches)} (a value never shown was dropped "
        "before storage or replaced on the page within the same tick).", "",
        "| alarm (HIGH, HR > 140 for 15 s): write of the completing reading → ... | ms p50 / p95 / max | n |",
        "|---|---:|---:|",
        f"| alarm's `started_at` | {pct_cells([a['raised'] for a in al])} | {len(al)} |",
        f"| alarm row committed | {pct_cells([a['commit'] for a in al if a['commit'] is not None])} | "
        f"{sum(a['commit'] is not None for a in al)} |",
        f"| **alarm tile in the page** | **{pct_cells([a['tile'] for a in al if a['tile'] is not None])}** | "
        f"{sum(a['tile'] is not None for a in al)} |",
        f"| (commit → tile) | {pct_cells([a['commit_to_tile'] for a in al if a['commit_to_tile'] is not None])} | |",
        "",
        f"Bytes on the wire per bedside tick (Chrome Network events, median of {b['ticks']} ticks, "
        f"{b['per_s']:.2f} ticks/s): up **{b['up']:,.0f} B** (body {b['up_body']:,.0f}, of which `bed-state` "
        f"{b['up_state']:,.0f}; headers incl. cookie ~{b['up']- b['up_body']:,.0f}), down **{b['down']:,.0f} B** "
        f"(headers {b['down_headers']:,.0f}; `bed-state` in the body {b['down_state']:,.0f}). "
        f"Push channel: {b['push_per_s']:,.0f} B/s."]
    return "\n".join(rows)


def main(argv=None) -> None:
    args = parse_args(argv)
    print(report(run(args)))


if __name__ == "__main__":
    main()
