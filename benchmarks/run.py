"""Run every benchmark in this folder (or the ones named) and print its table.

    .venv/bin/python benchmarks/run.py                          (all of them: `make bench`)
    .venv/bin/python benchmarks/run.py live_latency browser_cost  (only these)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HELPERS = ("run.py", "__init__.py", "load_harness.py", "page_clients.py",  # shared code, not benchmarks
           "bench_machine.py", "live_harness.py")

here = Path(__file__).resolve().parent
chosen = set(sys.argv[1:])
scripts = [s for s in sorted(here.glob("*.py")) if s.name not in HELPERS and (not chosen or s.stem in chosen)]
unknown = chosen - {s.stem for s in scripts}
if unknown:
    sys.exit(f"no benchmark named {', '.join(sorted(unknown))} in {here}")
for script in scripts:
    print(f"\n## {script.stem}\n", flush=True)
    subprocess.run([sys.executable, str(script)], check=False)
