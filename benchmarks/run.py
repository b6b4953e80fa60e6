"""Run every benchmark in this folder and print its table."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HELPERS = ("run.py", "__init__.py", "load_harness.py", "page_clients.py",  # shared code, not benchmarks
           "bench_machine.py", "live_harness.py")

here = Path(__file__).resolve().parent
for script in sorted(here.glob("*.py")):
    if script.name in HELPERS:
        continue
    print(f"\n## {script.stem}\n", flush=True)
    subprocess.run([sys.executable, str(script)], check=False)
