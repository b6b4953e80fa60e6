"""Shared fixtures: a real SQLite file per test, the shipped protocol, the CLI."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.protocol import load_protocol
from monitor.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def protocol():
    return load_protocol()


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "monitor.db"


@pytest.fixture
def store(db_path):
    s = Store(db_path)
    yield s
    s.close()


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll until predicate() returns something truthy; returns it (or fails the test)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def run_cli(*args, db=None, check=False, timeout=120, **kw) -> subprocess.CompletedProcess:
    """Run the installed console script as a user would."""
    cmd = [str(Path(sys.executable).parent / "infusion-monitor")]
    if db is not None:
        cmd += ["--db", str(db)]
    cmd += [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT),
                          env={**os.environ, **kw.pop("env", {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture
def cli(db_path):
    def _run(*args, **kw):
        return run_cli(*args, db=db_path, **kw)
    return _run
