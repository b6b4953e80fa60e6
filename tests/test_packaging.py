"""`pip install .` (not only editable) must carry the profile, the assets and the report template."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # builds and installs a wheel


def test_wheel_installs_with_profile_and_assets(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels,
                    ROOT], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("infusion_monitor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    from monitor.protocol import SHIPPED_PROFILES
    for profile in SHIPPED_PROFILES:  # --protocol NAME works from an installed wheel
        assert f"monitor/profiles/{profile}.toml" in names
    assert "monitor/assets/monitor.css" in names
    assert "monitor/exports/templates/report.html.j2" in names
    for init in list(ROOT.glob("monitor/**/__init__.py")) + list(ROOT.glob("adapters/**/__init__.py")):
        assert str(init.relative_to(ROOT)) in names, f"{init.parent.name} missing from pyproject packages"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, wheel],
                   check=True, capture_output=True, timeout=300)
    code = ("import monitor, monitor.web as w, monitor.protocol as p, os;"
            "from monitor.exports.html_report import _environment;"
            "assert monitor.__file__.startswith(os.environ['T']), monitor.__file__;"
            "print(p.load_protocol().name, p.load_protocol('esketamine-rems').name); print(sorted(os.listdir(w.assets_path())));"
            "print(_environment().get_template('report.html.j2').filename)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(target), "T": str(target)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ketamine-iv esketamine-rems" in out.stdout and "monitor.css" in out.stdout
    assert out.stdout.strip().splitlines()[-1].startswith(str(target)), out.stdout  # the installed template
