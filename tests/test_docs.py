"""The documentation keeps up with the code: every CLI command and page is in the README
and docs/ARCHITECTURE.md, every module and every rule function the architecture names exists."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor import sessions
from monitor.cli import main
from monitor.web import PAGES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_documented(command):
    assert f"infusion-monitor {command}" in README, f"README: no example of `infusion-monitor {command}`"
    assert f"`{command}`" in ARCHITECTURE, f"docs/ARCHITECTURE.md: `{command}` missing from the CLI contract"
    assert main.commands[command].help, f"{command}: no --help text"


@pytest.mark.parametrize("option", sorted({o for c in main.commands.values() for p in c.params
                                           for o in p.opts if o.startswith("--")} - {"--help"}))
def test_every_option_is_in_the_readme(option):
    assert option in README, f"README does not mention {option}"


@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_is_documented(path):
    shown = path if not path.endswith("/") or path == "/" else path + "<"
    assert f"`{shown}" in README, f"README: page {path} not documented"
    assert f"`{shown}" in ARCHITECTURE, f"docs/ARCHITECTURE.md: page {path} not documented"


def test_every_module_is_on_the_map():
    missing = [p.relative_to(ROOT).as_posix() for pkg in ("monitor", "adapters")
               for p in (ROOT / pkg).rglob("*.py")
               if p.name != "__init__.py" and "/profiles/" not in p.as_posix()
               and f"`{p.relative_to(ROOT).as_posix()}`" not in ARCHITECTURE
               and p.parent.name not in ("emulators", "sim")]
    assert missing == [], "docs/ARCHITECTURE.md: modules not on the map"


def test_every_rule_function_named_in_the_architecture_exists():
    named = set(re.findall(r"`sessions\.(\w+)`", ARCHITECTURE))
    assert named, "the rules table names no session rule"
    assert [n for n in named if not hasattr(sessions, n)] == []
