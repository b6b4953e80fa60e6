"""The SunTech adapter over a real pty against the emulator, into a real SQLite store.

Every test runs the whole live path: emulator bytes → pty → SerialLink → codec →
adapter state machine → Chair → alarm engine → batched writer → SQLite file; but the
test of when a BP is stamped drives the state machine alone, on a clock it sets.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from adapters.base import DeviceSpecError
from adapters.nibp_cycle import NibpCycle
from adapters.registry import make_device, split_spec
from adapters.sim.physiology import INFUSION_START_S
from adapters import suntech_codec as codec
from adapters.suntech_device import LINK_LOST_DETAIL, TIMEOUT_DETAIL, CuffDriver, SunTechNibp
from monitor.acquisition import Acquisition
from monitor.clinic_config import build_chair
from monitor.store import queries

from conftest import RecordingContext, wait_until

BP = ("sbp", "dbp", "map", "nibp_hr")
SOURCE = "chair1-suntech"


@contextmanager
def live_chair(store, protocol, emulator, session: bool = True, retry_s: float = 60.0, **options):
    """Chair 1 with the SunTech adapter on the emulator's pty, acquiring until the block ends."""
    store.flush_interval = 0.1
    spec = {"kind": "suntech", "port": emulator.path, "keepalive": 0.3, **options}
    chair = build_chair(store, protocol, "1", [spec])
    chair.devices[0].cycle.retry_after_error_s = retry_s
    chair.pressures = []
    report = chair.cuff_pressure

    def record_pressure(source, mmhg):
        chair.pressures.append(mmhg)
        report(source, mmhg)

    chair.cuff_pressure = record_pressure
    if session:
        chair.session_id = chair.open_session("P-1")
    acquisition = Acquisition(store, [chair])
    acquisition.start()
    try:
        yield chair
    finally:
        acquisition.stop()


def bp_rows(store, session_id):
    return queries.readings(store, session_id, BP)


def device_row(store):
    return store._one("SELECT * FROM devices WHERE source = ?", (SOURCE,))


@pytest.mark.serial
def test_full_cycle_writes_a_bp_measurement_to_sqlite(store, protocol, suntech_emulator):
    emulator = suntech_emulator(scenario="normal", seed=3, measurement_s=30.0)  # 3 s of wall time
    with live_chair(store, protocol, emulator, poll=0.2) as chair:
        rows = wait_until(lambda: len(bp_rows(store, chair.session_id)) == 4 and bp_rows(store, chair.session_id))
        wait_until(lambda: chair.pressures and chair.pressures[-1] is None and emulator.count("get_bp_data"))
        wait_until(lambda: (device_row(store) or {}).get("connected") == 1)
    result = emulator.results[0]
    by_param = {r["parameter"]: r for r in rows}
    assert {p: by_param[p]["value"] for p in BP} == \
        {"sbp": result.sbp, "dbp": result.dbp, "map": result.map, "nibp_hr": result.hr}
    assert len({r["ts"] for r in rows}) == 1
    assert 0 <= rows[0]["ts"] - emulator.completed_at[0] <= 0.05  # stamped when the module said it was done
    assert all(r["status"] == "ok" and r["source"] == SOURCE for r in rows)
    # start → pressure polls while measuring → BP data, in that order
    commands = emulator.commands
    start = commands.index("start")
    fetch = commands.index("get_bp_data")
    assert start < fetch and "get_cuff_pressure" in commands[start:fetch]
    # the cuff pressure shown on the page rose (inflation), fell (deflation), then cleared
    pressures = [p for p in chair.pressures if p is not None]
    peak = pressures.index(max(pressures))
    assert 100 <= max(pressures) <= 180
    assert min(pressures[:peak + 1]) < max(pressures) and min(pressures[peak:]) < max(pressures)
    assert chair.pressures[-1] is None


@pytest.mark.serial
def test_cuff_error_code_gives_an_error_reading_and_nibp_failed(store, protocol, suntech_emulator):
    # The 'artifact' scenario's cuff reports motion (code 2) from infusion minute 10 for a minute.
    emulator = suntech_emulator(scenario="artifact", start_s=INFUSION_START_S + 600 + 5, speed=5.0)
    with live_chair(store, protocol, emulator) as chair:
        rows = wait_until(lambda: bp_rows(store, chair.session_id))
        alert = wait_until(lambda: [a for a in queries.alerts(store, chair.session_id)
                                    if a["rule"] == "nibp_failed"])[0]
    assert emulator.results[0].error == 2
    assert [(r["parameter"], r["value"], r["status"], r["detail"]) for r in rows] == \
        [("sbp", None, "error", "motion artifact (code 2)")]
    assert alert["kind"] == "technical" and alert["priority"] == "low"
    assert "motion artifact (code 2)" in alert["message"]


@pytest.mark.serial
def test_abort_command_stops_the_running_measurement(store, protocol, suntech_emulator):
    emulator = suntech_emulator(speed=1.0, measurement_s=60.0)
    with live_chair(store, protocol, emulator) as chair:
        wait_until(lambda: emulator.measuring and any(p for p in chair.pressures if p))
        store.request_command(chair.session_id, "nibp:abort", time.time(), by="nurse")
        wait_until(lambda: emulator.count("abort") == 1 and not emulator.measuring)
        wait_until(lambda: chair.pressures[-1] is None)
        command = wait_until(lambda: store._one("SELECT * FROM commands WHERE done_at IS NOT NULL"))
    assert command["command"] == "nibp:abort"
    assert emulator.measurements_completed == 0
    assert "get_bp_data" not in emulator.commands
    assert bp_rows(store, chair.session_id) == []  # an abort is the nurse's choice, not a cuff failure
    assert not [a for a in queries.alerts(store, chair.session_id) if a["rule"] == "nibp_failed"]


@pytest.mark.serial
def test_stat_command_takes_an_extra_measurement(store, protocol, suntech_emulator):
    emulator = suntech_emulator()
    with live_chair(store, protocol, emulator) as chair:
        wait_until(lambda: len(bp_rows(store, chair.session_id)) == 4)
        after_result = lambda: emulator.commands[emulator.commands.index("get_bp_data"):]  # noqa: E731
        wait_until(lambda: after_result().count("get_cuff_pressure") >= 3)  # idle polls
        assert emulator.count("start") == 1  # the next automatic one is 10 minutes away
        store.request_command(chair.session_id, "nibp:stat", time.time(), by="nurse")
        wait_until(lambda: len(bp_rows(store, chair.session_id)) == 8)
    assert emulator.measurements_started == 2
    assert [r["parameter"] for r in bp_rows(store, chair.session_id)].count("sbp") == 2


@pytest.mark.serial
def test_a_module_that_never_answers_times_out_and_is_retried(store, protocol, suntech_emulator):
    emulator = suntech_emulator(silent=True)
    with live_chair(store, protocol, emulator, retry_s=0.5, ack_timeout=0.5) as chair:
        rows = wait_until(lambda: len(bp_rows(store, chair.session_id)) >= 2 and bp_rows(store, chair.session_id))
        wait_until(lambda: [a for a in queries.alerts(store, chair.session_id) if a["rule"] == "nibp_failed"])
        device = wait_until(lambda: device_row(store))
    assert all((r["parameter"], r["value"], r["status"], r["detail"]) ==
               ("sbp", None, "error", TIMEOUT_DETAIL) for r in rows)
    # after each unanswered start it sends abort (the cuff may be inflating), then retries
    assert emulator.commands[:2] == ["start", "abort"]
    assert emulator.count("start") >= 2
    assert device["connected"] == 0  # never a byte back: no sign of life
    assert "adapter error" not in (device["error"] or "")  # the supervisor never had to restart it


@pytest.mark.serial
def test_first_measurement_starts_as_soon_as_a_session_opens(store, protocol, suntech_emulator):
    emulator = suntech_emulator()
    with live_chair(store, protocol, emulator, session=False) as chair:
        wait_until(lambda: emulator.count("get_cuff_pressure") >= 3)  # idle polls: the module is alive
        wait_until(lambda: (device_row(store) or {}).get("connected") == 1)
        assert emulator.count("start") == 0  # no patient, no measurement
        session_id = chair.open_session("P-2")
        wait_until(lambda: emulator.count("start") == 1)
        rows = wait_until(lambda: len(bp_rows(store, session_id)) == 4 and bp_rows(store, session_id))
    assert {r["parameter"] for r in rows} == set(BP)


@pytest.mark.serial
def test_answers_with_garbage_prefixed_still_decode(store, protocol, suntech_emulator):
    emulator = suntech_emulator(garbage=True, seed=7)
    with live_chair(store, protocol, emulator) as chair:
        rows = wait_until(lambda: len(bp_rows(store, chair.session_id)) == 4 and bp_rows(store, chair.session_id))
    assert {r["parameter"]: r["value"] for r in rows}["sbp"] == emulator.results[0].sbp


@pytest.mark.serial
def test_unplug_mid_measurement_fails_it_and_replug_reconnects(store, protocol, suntech_emulator):
    emulator = suntech_emulator(speed=1.0, measurement_s=60.0)
    with live_chair(store, protocol, emulator) as chair:
        wait_until(lambda: emulator.measuring and any(p for p in chair.pressures if p))
        emulator.unplug()
        rows = wait_until(lambda: bp_rows(store, chair.session_id))
        lost = wait_until(lambda: (lambda d: d and d["connected"] == 0 and d)(device_row(store)))
        emulator.replug()
        wait_until(lambda: device_row(store)["connected"] == 1)
    assert [(r["parameter"], r["status"], r["detail"]) for r in rows] == [("sbp", "error", LINK_LOST_DETAIL)]
    assert lost["error"]
    assert chair.pressures[-1] is None


class CuffContext(RecordingContext):
    """The chair as the cuff sees it: a session in infusion, no page commands."""

    def phase(self):
        return 1, "infusion"

    def take_commands(self, kind):
        return []

    def cuff_pressure(self, source, mmhg):
        pass


class CuffLink:
    def __init__(self):
        self.written = []

    def write(self, data):
        self.written.append(data)
        return True


def test_a_bp_is_stamped_when_the_measurement_completed_even_when_its_fetch_is_retried():
    ctx = CuffContext()
    driver = CuffDriver(SunTechNibp("loop://", NibpCycle(), source=SOURCE), ctx)
    link = CuffLink()
    driver.connection_made(link)
    driver.idle(0.0)  # the session is open and nothing measured yet: the first measurement starts
    assert codec.START_ADULT in link.written
    driver.data_received(codec.ACK_START_FRAME, 0.1)
    # 'K' behind the start of a frame that never comes: found only once the line has gone quiet
    driver.data_received(bytes([codec.MODULE_START, 24]) + codec.COMPLETE_FRAME, 30.0)
    driver.idle(30.1)
    assert link.written.count(codec.GET_BP_DATA) == 0
    driver.idle(30.3)  # quiet: the 'K' is salvaged, at the time its bytes arrived, and the data asked for
    assert link.written.count(codec.GET_BP_DATA) == 1
    driver.idle(33.5)  # no answer within the reply timeout: asked again
    assert link.written.count(codec.GET_BP_DATA) == 2
    driver.data_received(codec.bp_data_frame(128, 82, 97, 70), 34.0)
    got = {r.parameter: (r.ts, r.value) for r in ctx.readings}
    assert got == {"sbp": (30.0, 128.0), "dbp": (30.0, 82.0), "map": (30.0, 97.0), "nibp_hr": (30.0, 70.0)}


def test_registry_builds_the_suntech_device_from_a_spec():
    kind, port = split_spec("suntech:socket://10.0.0.5:4001")
    device = make_device(kind, port, "3", NibpCycle(), {"baudrate": 19200, "timeout": 90})
    assert isinstance(device, SunTechNibp)
    assert (device.kind, device.port, device.source) == ("suntech", "socket://10.0.0.5:4001", "chair3-suntech")
    assert device.baudrate == 19200 and device.timing.measure_timeout_s == 90
    with pytest.raises(DeviceSpecError, match="serial port is required"):
        make_device("suntech", "", "3", NibpCycle())
    with pytest.raises(DeviceSpecError, match="bad option"):
        make_device("suntech", "/dev/ttyUSB1", "3", NibpCycle(), {"ack_timeout": "soon"})
