"""One module formats every time and number: what it prints, that it stays pure
standard library (the alert engine imports it), and that nothing else formats times."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from datetime import datetime

from conftest import ROOT
from monitor import formatting as f


def test_numbers():
    assert (f.fmt_num(None), f.fmt_num(72.4), f.fmt_num(37.25, 1)) == ("–", "72", "37.2")
    assert (f.fmt_entered(72.0), f.fmt_entered(37.5), f.fmt_entered(0.25)) == ("72", "37.5", "0.25")
    assert (f.fmt_measured(None), f.fmt_measured(72.04), f.fmt_measured(37.25)) == ("--", "72", "37.2")
    assert (f.fmt_bp(120, 80.4), f.fmt_bp(120, None)) == ("120/80", "–")


def test_durations_and_review_minutes():
    assert [f.fmt_duration(s) for s in (None, 45, 185, 3725)] == ["–", "45 s", "3 min 05 s", "1 h 02 min"]
    assert [f.fmt_clock(s) for s in (-5, 249, 3723)] == ["00:00", "04:09", "1:02:03"]
    assert (f.fmt_min(None), f.fmt_min(12.46), f.fmt_min(-3)) == ("–", "+12.5 min", "−3.0 min")
    assert f.minutes_from_infusion(1000.0, 100.0) == 15.0
    assert f.minutes_from_infusion(None, 100.0) is None and f.minutes_from_infusion(1.0, None) is None


def test_local_time_for_people_utc_for_machines():
    ts = 1_700_000_000.25  # 2023-11-14 22:13:20.25 UTC
    local = datetime.fromtimestamp(ts)
    assert f.fmt_time(ts) == local.strftime("%H:%M:%S") and f.fmt_time(ts, seconds=False) == local.strftime("%H:%M")
    assert f.fmt_date(ts) == local.strftime("%Y-%m-%d %H:%M") and f.fmt_day(ts) == local.strftime("%d %b")
    assert f.local_iso(ts) == local.isoformat(timespec="seconds")
    assert f.fmt_datetime(ts) == local.strftime("%Y-%m-%d %H:%M:%S")
    assert (f.fmt_time(None), f.fmt_date(None), f.fmt_datetime(None)) == ("–", "–", "–")
    assert f.iso_utc(1_700_000_000) == "2023-11-14T22:13:20Z" and f.iso_utc(None) is None
    assert f.iso_utc(1e300) == repr(1e300)  # a corrupt row still prints
    assert f.iso_utc_ms(ts) == "2023-11-14T22:13:20.250Z" and f.iso_utc_ms(None) == ""


def test_formatting_is_pure_standard_library():
    tree = ast.parse((ROOT / "monitor" / "formatting.py").read_text(encoding="utf-8"))
    imported = {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    out = subprocess.run([sys.executable, "-c", "import sys, monitor.formatting;"
                          "print(sorted(m for m in sys.modules if m.startswith(('monitor.', 'dash', 'plotly'))))"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "['monitor.formatting']", out.stdout + out.stderr


def test_no_time_formatting_outside_the_formatting_module():
    pattern = re.compile(r"\.strftime\(|\.isoformat\(|time\.localtime\(|def (fmt|hms|clock|iso|_fmt)\b")
    offenders = []
    for path in sorted((ROOT / "monitor").rglob("*.py")):
        if path.name == "formatting.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
