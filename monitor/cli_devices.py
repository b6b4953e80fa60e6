"""`emulate` and `devices`: the serial-device side of the command line.

`emulate KIND` puts a byte-exact device on a new pseudo-terminal so the real adapter
(or any serial tool) can be pointed at it; `devices` lists the serial ports present.
They are plain click commands; cli.py adds them to the `infusion-monitor` group.
"""
from __future__ import annotations

import json
import signal
import threading
from typing import Optional

import click

from .cli_context import InputError


@click.command()
@click.argument("kind")
@click.option("--scenario", default="normal", show_default=True, help="Simulated patient scenario.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed; same seed, same bytes.")
@click.option("--speed", default="1", show_default=True, help="Times real time (a number > 0).")
@click.option("--start", "start_s", default=0.0, show_default=True, type=float,
              help="Session second the patient starts at (e.g. 900: just before sensor-off's episode).")
def emulate(kind: str, scenario: str, seed: int, speed: str, start_s: float):
    """Start a device emulator on a new pseudo-terminal; print its path; run until Ctrl-C.

    KIND: {kinds}. Point an adapter at the printed path, e.g.
    `infusion-monitor acquire --device nonin:PATH`.
    """
    from adapters.emulators import EMULATORS, emulator_class
    from adapters.sim import SCENARIOS

    kind = kind.strip().lower()
    if kind not in EMULATORS:
        raise InputError(f"emulate {kind!r}: unknown device kind; choose from {', '.join(sorted(EMULATORS))}")
    if scenario not in SCENARIOS:
        raise InputError(f"--scenario {scenario!r}: unknown; choose from {', '.join(SCENARIOS)}")
    try:
        factor = float(speed)
    except ValueError:
        factor = 0.0
    if not 0 < factor < float("inf"):
        raise InputError(f"--speed {speed!r}: expected a number > 0")
    if start_s < 0:
        raise InputError(f"--start {start_s:g}: must be >= 0")
    try:
        emulator = emulator_class(kind)(scenario=scenario, seed=seed, speed=factor, start_s=start_s)
    except OSError as e:
        raise InputError(f"cannot create a pseudo-terminal: {e.strerror or e}") from None
    done = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    emulator.start()
    try:
        click.echo(emulator.path)
        click.get_text_stream("stdout").flush()
        click.echo(f"infusion-monitor: {kind} emulator ({scenario}, x{factor:g}) on {emulator.path}; "
                   f"Ctrl-C to stop", err=True)
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _list_kinds_in_help() -> None:
    from adapters.emulators import EMULATORS
    emulate.help = emulate.help.replace("{kinds}", ", ".join(sorted(EMULATORS)))


_list_kinds_in_help()


def _ports() -> list[dict]:
    from serial.tools import list_ports
    return [{"device": p.device, "description": p.description or "", "hwid": p.hwid or ""}
            for p in sorted(list_ports.comports(), key=lambda p: p.device)]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {device, description, hwid}.")
def devices(as_json: bool):
    """List the serial ports on this machine (to find PORT for --device KIND:PORT)."""
    ports = _ports()
    if as_json:
        click.echo(json.dumps(ports, indent=1))
        return
    if not ports:
        click.echo("no serial ports found", err=True)
    width: Optional[int] = max((len(p["device"]) for p in ports), default=0)
    for p in ports:
        click.echo(f"{p['device']:<{width}}  {p['description']}  {p['hwid']}")
