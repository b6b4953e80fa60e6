"""`infusion-monitor emulate` and `devices`, run as a user runs them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from adapters.contec import START_LIVE, ContecDecoder
from adapters.masimo import MasimoDecoder
from adapters.nonin import Df2Decoder, Df8Decoder
from conftest import ROOT, wait_until

pytestmark = pytest.mark.slow  # every test runs the console script in a subprocess

DECODERS = {"nonin": Df2Decoder, "nonin-df8": Df8Decoder, "masimo": MasimoDecoder, "contec": ContecDecoder}


def start_emulate(*args) -> tuple[subprocess.Popen, str]:
    cmd = [str(Path(sys.executable).parent / "infusion-monitor"), "emulate", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = proc.stdout.readline().strip()
    return proc, path


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("kind, args, status", [
    ("nonin", ["--speed", "4"], "ok"),
    ("nonin-df8", ["--speed", "4"], "ok"),
    ("masimo", ["--scenario", "sensor-off", "--start", "905", "--speed", "4"], "sensor_off"),
    ("contec", ["--speed", "2"], "ok"),
])
@pytest.mark.serial
def test_emulate_prints_a_pty_whose_bytes_decode(kind, args, status):
    proc, path = start_emulate(kind, *args)
    try:
        assert path and os.path.exists(path), proc.stderr.read() if proc.poll() is not None else path
        decoder, samples = DECODERS[kind](), []
        with serial.serial_for_url(path, timeout=0.1) as port:
            if kind == "contec":
                port.write(START_LIVE)

            def decoded():
                samples.extend(decoder.feed(port.read(4096)))
                return len(samples) >= 2
            wait_until(decoded, timeout=15)
        assert all(s.status == status for s in samples), samples
        if status == "ok":
            assert all(30 < s.hr < 200 and 85 < s.spo2 <= 100 for s in samples)
    finally:
        code = stop(proc)
    assert code == 0, proc.stderr.read()
    assert not os.path.exists(path), "the pty link is removed on exit"


@pytest.mark.serial
def test_emulate_stops_on_ctrl_c():
    proc, path = start_emulate("nonin-df8")
    assert os.path.exists(path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(path)


@pytest.mark.parametrize("args, message", [
    (["pulsox"], "unknown device kind"),
    (["nonin", "--scenario", "nope"], "--scenario 'nope'"),
    (["nonin", "--speed", "0"], "--speed '0'"),
    (["nonin", "--speed", "fast"], "--speed 'fast'"),
])
def test_emulate_bad_input_exits_2_with_one_line(cli, args, message):
    proc = cli("emulate", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_devices_lists_serial_ports(cli):
    proc = cli("devices", "--json", check=True)
    ports = json.loads(proc.stdout)
    assert isinstance(ports, list)
    assert all(set(p) == {"device", "description", "hwid"} for p in ports)
    text = cli("devices", check=True)
    assert [line.split()[0] for line in text.stdout.splitlines()] == [p["device"] for p in ports]


@pytest.mark.serial
def test_the_printed_path_works_as_port_for_acquire(cli, tmp_path):
    """The path `emulate` prints works as PORT for `acquire` end to end."""
    proc, path = start_emulate("nonin", "--speed", "2")
    try:
        started = time.time()
        out = cli("acquire", "--device", f"nonin:{path}", "--patient", "EMU-1", "--duration", "4",
                  check=True, timeout=60)
        session_id = int(out.stdout.strip().splitlines()[-1])
    finally:
        stop(proc)
    import sqlite3
    db = sqlite3.connect(tmp_path / "monitor.db")
    rows = db.execute("SELECT parameter, value, status, source, ts FROM readings WHERE session_id = ?",
                      (session_id,)).fetchall()
    db.close()
    assert {r[0] for r in rows} == {"hr", "spo2"}
    assert all(r[2] == "ok" and r[1] is not None and r[3] == "chair1-nonin" and r[4] >= started for r in rows)
