"""`--help` starts without the heavy libraries: they are imported inside the commands that use them.

Behaviour only: what gets imported. How long start-up takes is measured in
benchmarks/cli_startup.py, never asserted here.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

# The web stack, data frames, serial ports, FHIR models, templates: none is needed to print help.
HEAVY = ("dash", "plotly", "pandas", "numpy", "waitress", "flask", "jinja2", "serial", "sqlite_utils", "fhir",
         "monitor.web")

PROGRAM = """
import json, sys
from monitor.cli import entry
sys.argv = ["infusion-monitor", *json.loads(sys.argv[1])]
try:
    entry()
except SystemExit as e:
    assert e.code in (0, None), e.code
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["export", "--help"], ["--version"]])
def test_help_imports_no_heavy_library(args):
    proc = subprocess.run([sys.executable, "-c", PROGRAM, json.dumps(args)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout.splitlines()[-1])
    assert "monitor.cli" in modules and any(line.startswith("Usage:") or "infusion-monitor" in line
                                            for line in proc.stdout.splitlines()[:-1])
    loaded = sorted({h for h in HEAVY for m in modules if m == h or m.startswith(h + ".")})
    assert loaded == [], f"infusion-monitor {' '.join(args)} imported {loaded}"
