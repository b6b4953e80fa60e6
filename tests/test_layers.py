"""The layering docs/ARCHITECTURE.md promises, checked on the source: SQL only in the
store, the engine and the session rules pure, comments pointing inside the repository."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "adapters")
SQL = re.compile(r"\b(SELECT\s+.+\s+FROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                 r"CREATE\s+(TABLE|INDEX)|PRAGMA\s+\w+)\b", re.IGNORECASE | re.DOTALL)
PRIVATE_STORE = re.compile(r"\.(_query|_one|_execute|_transaction|_reading|_readers|_conn)\b")


def _sources():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def _outside_store():
    return [(name, text) for name, text in _sources() if not name.startswith("monitor/store/")]


def _string_literals(text: str):
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_sql_outside_the_store():
    found = [f"{name}:{line}: {value[:60]!r}" for name, text in _outside_store()
             for line, value in _string_literals(text) if SQL.search(value)]
    assert found == []


def test_no_driver_or_private_store_use_outside_the_store():
    found = []
    for name, text in _outside_store():
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(r"^\s*(import sqlite3|from sqlite3|import psycopg)", line) or PRIVATE_STORE.search(line):
                found.append(f"{name}:{n}: {line.strip()}")
    assert found == []


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = path.relative_to(ROOT).with_suffix("").parts[:-node.level]
                mod = ".".join([*base, mod] if mod else base)
            out.add(mod)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.split(".")[0] in PACKAGES}


@pytest.mark.parametrize("module,allowed", [
    ("monitor/sessions.py", {"monitor.model"}),
    ("monitor/alerts", {"monitor.model", "monitor.protocol", "monitor.sessions", "monitor.alerts",
                        "monitor.alerts.engine", "monitor.alerts.baseline", "monitor.alerts.escalation",
                        "monitor.formatting"}),
])
def test_pure_layers_import_only_what_they_may(module, allowed):
    target = ROOT / module
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    used = set().union(*(_imports(f) for f in files))
    assert used <= allowed, used - allowed


def test_code_comments_point_inside_the_repository():
    files = [p for d in ("monitor", "adapters", "tests", "benchmarks", "assets") for p in (ROOT / d).rglob("*")
             if p.suffix in (".py", ".js", ".css", ".toml", ".j2") and p.name != "test_layers.py"]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in files
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if "DESIGN.md" in line or "shared/" in line]
    assert found == []
    assert (ROOT / "docs" / "ARCHITECTURE.md").is_file()
