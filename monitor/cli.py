"""The `infusion-monitor` command line (docs/ARCHITECTURE.md, "CLI").

Errors are one line on stderr with exit status 2, and nothing is half-written.

Start-up stays quick (`--help` well under 0.3 s): this module and the command modules
import only click and the standard library at the top; the store, the profile loader,
the engine, the adapters and the web stack are imported inside the commands that use them.
"""
from __future__ import annotations

import importlib
import json
import logging
import math
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import click

from . import __version__
from . import sessions as session_rules  # `sessions` is also a command below
from .cli_context import Context, InputError, parse_speed, pass_ctx
from .cli_devices import devices, emulate
from .cli_forward import forward
from .cli_integrate import integrate
from .cli_operations import backup, purge, restore
from .cli_profiles import profiles
from .cli_review import alarms_report, export, import_
from .cli_users import signer, users
from .cli_web import check_listen_host, listen_options, serve, serve_dashboard

DEFAULT_DB = "data/monitor.db"
_TERMINATED_BY: list[int] = []  # the signal that stopped the command, if one did (_stop_like_ctrl_c)


class _Stopped(click.ClickException):
    """A command stopped by a signal after its Ctrl-C clean-up: one line, exit 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.exit_code = 128 + signum

    def show(self, file=None):
        click.echo(f"infusion-monitor: {self.format_message()}", err=True)


class _Commands(click.Group):
    """The command group: a database failure in any command is one line naming the file (exit 2)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if _TERMINATED_BY:  # SIGTERM or SIGHUP, through Ctrl-C's path (_stop_like_ctrl_c)
                raise _Stopped(_TERMINATED_BY[0]) from None
            raise
        except Exception as e:
            from .store import StoreError  # imported here, not at start-up (see the module docstring)
            if not isinstance(e, StoreError):
                raise
            db = ctx.obj.db_name if isinstance(ctx.obj, Context) else DEFAULT_DB
            raise InputError(str(e) if db in str(e) else f"{db}: {e}") from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default=DEFAULT_DB, show_default=True, envvar="INFUSION_MONITOR_DB",
              help="SQLite database file, or a postgresql://… URL (a clinic group's shared database).")
@click.option("--protocol", "protocol_path", default=None, metavar="NAME|FILE",
              help="Alarm protocol profile: a shipped one by name (ketamine-iv, esketamine-rems, "
                   "ketamine-pain; `profiles` lists them) or a TOML file; default: ketamine-iv.")
@click.version_option(__version__, prog_name="infusion-monitor")
@click.pass_context
def main(ctx: click.Context, db: str, protocol_path: Optional[str]) -> None:
    """In-session vital-sign monitoring for IV ketamine infusion clinics.

    Decision support only: the devices' own alarms stay primary.
    """
    ctx.obj = Context(db, protocol_path)
    if protocol_path and not ctx.resilient_parsing:
        ctx.obj.protocol  # a broken profile is reported whatever the command


# ----------------------------------------------------------------- playback
@main.command()
@click.option("--scenario", required=True, help="Scenario name (see --help for the list).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed; same seed, same session.")
@click.option("--speed", default="max", show_default=True, help="Times real time, or 'max'.")
@click.option("--patient", "patient_ref", default="SIM", show_default=True, help="Patient reference.")
@click.option("--chair", default="sim", show_default=True, help="Chair the session is shown on.")
@click.option("--json", "as_json", is_flag=True, help="Print {session_id, readings, alerts} as JSON.")
@pass_ctx
def simulate(c: Context, scenario: str, seed: int, speed: str, patient_ref: str, chair: str, as_json: bool):
    """Run a complete simulated session (baseline, infusion, recovery) through the engine.

    Scenarios: normal, hypertensive, tachycardia, desaturation, sensor-off,
    disconnect, artifact, deep-sedation, emergence, respiratory-depression,
    esketamine (run it with --protocol esketamine-rems).
    """
    from adapters.sim import SCENARIOS
    from .playback import simulate as run_sim

    if scenario not in SCENARIOS:
        raise InputError(f"--scenario {scenario!r}: unknown; choose from {', '.join(SCENARIOS)}")
    sp = parse_speed(speed)
    protocol = c.protocol
    patient_ref = _patient_option(patient_ref)
    try:
        result = run_sim(c.store(), protocol, scenario, seed=seed, speed=sp, patient_ref=patient_ref, chair=chair)
    except session_rules.RuleError as e:
        raise InputError(str(e)) from None
    _print_result(result, as_json)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--patient", "patient_ref", default="REPLAY", show_default=True, help="Patient reference.")
@click.option("--speed", default="max", show_default=True, help="Times real time, or 'max'.")
@click.option("--chair", default="replay", show_default=True, help="Chair the session is shown on.")
@click.option("--partial", is_flag=True,
              help="The file is an incomplete recording (no session_end, maybe cut mid-line): play what is "
                   "complete and end the session as a partial recording.")
@click.option("--json", "as_json", is_flag=True, help="Print {session_id, readings, alerts} as JSON.")
@pass_ctx
def replay(c: Context, file: str, patient_ref: str, speed: str, chair: str, partial: bool, as_json: bool):
    """Play a recorded session (t_s,parameter,value,status CSV) through the engine.

    The whole file is checked first; a malformed line, a row written twice or a
    recording cut short (no session_end, a last line without its line end) is
    reported with its line number and nothing is written. The file is read as a
    stream, twice (check, then play), never held in memory.
    """
    from .playback import replay as run_replay
    from .replay_csv import ReplayError, check_file, iter_file

    sp = parse_speed(speed)
    try:
        recording = check_file(file, partial=partial)
    except ReplayError as e:
        raise InputError(str(e)) from None
    if recording.cut_line is not None:
        click.echo(f"warning: {file}: line {recording.cut_line} is cut off (no line end): left out", err=True)
    protocol = c.protocol
    patient_ref = _patient_option(patient_ref)
    try:
        result = run_replay(c.store(), protocol, iter_file(file, partial=partial), speed=sp,
                            patient_ref=patient_ref, chair=chair, source=f"replay:{Path(file).name}",
                            length_s=recording.length_s, expected_rows=recording.rows)
    except (session_rules.RuleError, ReplayError) as e:  # ReplayError: the file changed since it was checked
        raise InputError(str(e)) from None
    if not recording.complete:
        click.echo("warning: partial recording: the session is ended as one (no session_end in the file)", err=True)
    _print_result(result, as_json)


def _patient_option(raw: str) -> str:
    try:
        return session_rules.patient_ref(raw)
    except session_rules.RuleError as e:
        raise InputError(f"--patient {raw!r}: {e}") from None


def _print_result(result, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"session_id": result.session_id, "readings": result.readings,
                               "alerts": result.alerts}))
    else:
        click.echo(f"{result.readings} readings, {result.alerts} alerts", err=True)
        click.echo(result.session_id)


# ----------------------------------------------------------------- review
@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_ctx
def sessions(c: Context, as_json: bool):
    """List sessions, newest first."""
    from .store import queries
    rows = [queries.session_json(r) for r in queries.sessions(c.store(readonly=True, existing=True))]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no sessions", err=True)
    for r in rows:
        click.echo(f"{r['id']:>5}  {r['patient_ref'] or '-':<12} chair {r['chair'] or '-':<6} "
                   f"{r['state']:<9} {r['started_at']}  {r.get('protocol') or '-'}")


@main.command()
@click.option("--session", "session_id", required=True, type=int, help="Session id.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_ctx
def alerts(c: Context, session_id: int, as_json: bool):
    """List a session's alerts in start order."""
    from .store import queries
    store = c.store(readonly=True, existing=True)
    s = queries.session(store, session_id)
    if s is None:
        raise InputError(f"--session {session_id}: no such session in {c.db_name}")
    rows = [queries.alert_json(a, s["infusion_start"]) for a in queries.alerts(store, session_id)]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no alerts", err=True)
    for a in rows:
        when = f"{a['started_min']:+.1f} min" if a["started_min"] is not None else a["started_at"]
        end = "active" if a["ended_at"] is None else (
            f"to {a['ended_min']:+.1f} min" if a["ended_min"] is not None else f"to {a['ended_at']}")
        click.echo(f"{a['id']:>5}  {a['priority']:<6} {a['rule']:<22} {when:>12} {end:<16} {a['message']}")


@main.command("end-session")
@click.option("--session", "session_id", required=True, type=int, help="Session id.")
@click.option("--by", "author", required=True, help="Initials of who ends it (2-4 letters).")
@click.option("--note", default="", help="Why, recorded with the event.")
@click.option("--override", default=None, metavar="REASON",
              help="End although a HIGH alarm is unacknowledged; the reason and the alarms are recorded.")
@pass_ctx
def end_session(c: Context, session_id: int, author: str, note: str, override: Optional[str]):
    """End an open session, e.g. one left open when acquisition was stopped.

    Like the bedside, it refuses while a HIGH alarm is unacknowledged; --override
    REASON is the administrator's way past that, signed with --by and kept on the record.
    """
    from .model import Event
    from .store import queries
    store = c.store(existing=True)
    s = queries.session(store, session_id)
    if s is None:
        raise InputError(f"--session {session_id}: no such session in {c.db_name}")
    try:
        by = session_rules.initials(author)
    except session_rules.RuleError:
        raise InputError(f"--by {author!r}: initials are 2-4 letters") from None
    if override is not None and not override.strip():
        raise InputError("--override: give the reason")
    now = session_rules.session_clock(time.time(), queries.newest_reading_ts(store, session_id))
    try:
        store.record_event(session_id, Event(now, "session_end", note, by), override=override,
                           actor=signer(store, by))
    except session_rules.RuleError as e:
        from .access import AccessError
        way_out = "; to end it anyway: --override REASON" if s["state"] != "ended" and not isinstance(
            e, AccessError) else ""
        raise InputError(f"--session {session_id}: {str(e).rstrip('.')}{way_out}") from None
    for a in session_rules.unacknowledged_high(queries.alarm_board(store, session_id)):
        click.echo(f"warning: ended over an unacknowledged HIGH alarm ({override}): {a['message']}", err=True)
    click.echo(session_id)


# ----------------------------------------------------------------- live
def _start_acquisition(c: Context, chairs: list):
    from .acquisition import Acquisition
    acq = Acquisition(c.store(), chairs)
    acq.start()
    return acq


def _wait_forever(stop_after: Optional[float] = None) -> None:
    """Block until Ctrl-C, SIGTERM (see _stop_like_ctrl_c) or stop_after seconds."""
    end = None if stop_after is None else time.monotonic() + stop_after
    try:
        while end is None or time.monotonic() < end:
            time.sleep(0.2 if end is None else max(0.0, min(0.2, end - time.monotonic())))
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--device", "devices", multiple=True, required=True, metavar="KIND:PORT",
              help="A device, e.g. sim:normal, nonin:/dev/ttyUSB0, masimo:socket://10.0.0.5:4001. Repeatable.")
@click.option("--chair", default="1", show_default=True, help="Chair name.")
@click.option("--patient", "patient_ref", default=None, help="Open a session for this patient now.")
@click.option("--duration", default=None, type=float, help="Stop (and end the session) after S seconds.")
@pass_ctx
def acquire(c: Context, devices: tuple, chair: str, patient_ref: Optional[str], duration: Optional[float]):
    """Headless acquisition from devices into the database."""
    from .clinic_config import build_chair
    from adapters.base import DeviceSpecError
    if duration is not None and not (duration > 0 and math.isfinite(duration)):
        raise InputError(f"--duration {duration:g}: must be > 0 seconds")
    protocol = c.protocol
    c.store().require_writable()  # a database it cannot write is one line now, not an error every second
    try:
        ch = build_chair(c.store(), protocol, chair, [{"spec": d} for d in devices])
    except (DeviceSpecError, ValueError) as e:
        raise InputError(str(e)) from None
    if patient_ref:
        patient_ref = _patient_option(patient_ref)
        try:
            sid, resumed = ch.session_for(patient_ref)
        except session_rules.RuleError as e:
            raise InputError(str(e)) from None
        click.echo(f"{'resuming' if resumed else 'opened'} session {sid} on chair {chair}", err=True)
    acq = _start_acquisition(c, [ch])
    try:
        _wait_forever(duration)
    finally:
        if patient_ref and duration is not None:
            ch.end_session("acquire", "--duration elapsed",
                           override="acquire --duration elapsed: a timed, unattended run")
            from .store import queries
            for a in session_rules.unacknowledged_high(queries.alarm_board(c.store(), sid)):
                click.echo(f"warning: ended over an unacknowledged HIGH alarm: {a['message']}", err=True)
        acq.stop()
    if patient_ref:
        click.echo(sid)


@main.command()
@click.option("--config", default=None, type=click.Path(dir_okay=False),
              help="clinic.toml with chairs and devices; default: one simulated chair with a demo session.")
@listen_options
@pass_ctx
def run(c: Context, config: Optional[str], host: str, port: int, behind_tls: bool, live_streams: int):
    """Acquisition and dashboard in one process."""
    from .clinic_config import ConfigError, demo_chairs, load_clinic
    protocol = c.protocol
    store = c.store()
    store.require_writable()
    check_listen_host(store, host)
    try:
        chairs = load_clinic(config, store, protocol) if config else demo_chairs(store, protocol)
    except ConfigError as e:
        raise InputError(str(e)) from None
    # the dashboard's code, loaded before the device threads start: beside a thousand of them
    # the same imports took seconds longer (README, "Many chairs")
    importlib.import_module(".web", __package__)
    acq = _start_acquisition(c, chairs)
    sending = None
    try:
        sending = _start_integrations(store, config)
        serve_dashboard(c, store, host, port, behind_tls, live_streams)
    finally:
        acq.stop()
        if sending is not None:
            sending.stop()


def _start_integrations(store, config: Optional[str]):
    """clinic.toml's [integrations] sent from this process (README, "Integrations"), or None."""
    if not config:
        return None
    from .clinic_config import load_integrations
    integrations = load_integrations(config)  # already checked with the chairs
    if not integrations.destinations:
        return None
    from .integrations.runner import IntegrationRunner
    runner = IntegrationRunner(store, integrations)
    try:
        runner.start()
    except OSError as e:
        raise InputError(str(e.strerror or e)) from None
    click.echo("infusion-monitor: sending to " + ", ".join(f"{d.name} ({d.address})" for d in
                                                         integrations.destinations), err=True)
    return runner


for _command in (alarms_report, backup, devices, emulate, export, forward, import_, integrate, profiles, purge, restore,
                 serve, users):
    main.add_command(_command)


def _stop_like_ctrl_c(signum, _frame) -> None:
    """SIGTERM (a service manager, `kill`) and SIGHUP (the terminal closed) take Ctrl-C's path:
    every command's KeyboardInterrupt handling runs, so a paced playback is ended, not left
    open, and acquisition flushes and closes. Once only: a second signal does not cut the
    clean-up short."""
    _TERMINATED_BY.append(signum)
    signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt


def _install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:  # left alone under nohup
        signal.signal(signal.SIGHUP, _stop_like_ctrl_c)


def entry() -> None:
    """Console script: every error is one line on stderr (exit 2 for bad usage or input)."""
    logging.basicConfig(level=logging.WARNING, format="infusion-monitor: %(levelname)s %(message)s")
    _install_signal_handlers()
    try:
        code = main(standalone_mode=False)
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx else "infusion-monitor"
        click.echo(f"infusion-monitor: error: {e.format_message()} (see '{where} --help')", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("infusion-monitor: aborted", err=True)
        sys.exit(130)
    except Exception as e:
        from .protocol import ProtocolError  # imported here, not at start-up (see the module docstring)
        from .store import StoreError
        if not isinstance(e, (StoreError, ProtocolError, session_rules.RuleError)):
            raise
        click.echo(f"infusion-monitor: error: {e}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    entry()
