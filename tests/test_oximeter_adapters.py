"""The four serial oximeter adapters: against their emulators over real ptys through the
real Chair/Acquisition/Store, and their once-a-second logic against a recording context."""
from __future__ import annotations

import pytest

from adapters.base import DeviceSpecError
from adapters.contec import KEEP_ALIVE, START_LIVE, live_packet
from adapters.emulators.masimo import MasimoEmulator
from adapters.masimo import masimo_line
from adapters.nibp_cycle import NibpCycle
from adapters.nonin import df2_packet, df8_packet
from adapters.oximeter_devices import (ContecOximeter, MasimoOximeter, NoninDf2Oximeter, NoninDf8Oximeter)
from adapters.oximeter_sample import OximetrySample
from adapters.registry import make_device, split_spec
from conftest import OXIMETER_KINDS, RecordingContext, wait_until

UNCONFIRMED = "corrupted frame? unconfirmed: nothing before it to compare with"


class FakeLink:
    def __init__(self, ctx):
        self.ctx = ctx
        self.written: list[tuple[float, bytes]] = []

    def write(self, data):
        self.written.append((self.ctx.t, data))
        return True

    def clock(self):
        return self.ctx.t


def attach(adapter):
    ctx = RecordingContext()
    adapter._ctx = ctx
    adapter.link = FakeLink(ctx)
    adapter.connection_made(adapter.link)
    return ctx


# ------------------------------------------------------------------ registry
@pytest.mark.parametrize("kind, cls, baud", [
    ("nonin", NoninDf2Oximeter, 9600), ("nonin-df8", NoninDf8Oximeter, 9600),
    ("masimo", MasimoOximeter, 9600), ("contec", ContecOximeter, 115200),
])
def test_registry_builds_each_kind_with_its_serial_settings(kind, cls, baud):
    k, port = split_spec(f"{kind}:socket://10.0.0.5:4001")
    device = make_device(k, port, "3", NibpCycle())
    assert isinstance(device, cls)
    assert (device.kind, device.port, device.source) == (kind, "socket://10.0.0.5:4001", f"chair3-{kind}")
    assert (device.settings.baudrate, device.settings.bytesize, device.settings.parity,
            device.settings.stopbits) == (baud, 8, "N", 1)
    assert make_device(k, port, "3", NibpCycle(), {"baudrate": 19200, "source": "x"}).settings.baudrate == 19200
    with pytest.raises(DeviceSpecError, match="missing PORT"):
        make_device(k, "", "3", NibpCycle())
    with pytest.raises(DeviceSpecError, match="baudrate"):
        make_device(k, port, "3", NibpCycle(), {"baudrate": "fast"})


# ------------------------------------------------------------------ once a second
def test_df2_keeps_the_last_of_three_packets_each_second_at_its_arrival_time():
    adapter = NoninDf2Oximeter("loop://", source="ox")
    ctx = attach(adapter)
    for k, hr in enumerate((70, 71, 72, 73, 74, 75, 76)):  # 3 packets a second
        ctx.t = k / 3
        adapter.data_received(df2_packet(OximetrySample(hr, 97)), ctx.t)
        adapter.idle(ctx.t)
    ctx.t = 7 / 3
    adapter.idle(ctx.t)
    hr = [(round(r.ts, 6), r.value) for r in ctx.readings if r.parameter == "hr"]
    # the first at once, then the last of each second, stamped when it arrived (76 still waits for its second to end)
    assert hr == [(0.0, 70.0), (round(2 / 3, 6), 72.0), (round(5 / 3, 6), 75.0)]
    assert all(r.source == "ox" and r.status == "ok" for r in ctx.readings)
    assert {r.parameter for r in ctx.readings} == {"hr", "spo2"}  # DF2 sends no perfusion index
    adapter.connection_lost("/dev/x: read failed", 2.5)  # what arrived before the port went away is kept
    assert [(round(r.ts, 6), r.value) for r in ctx.readings if r.parameter == "hr"][-1] == (2.0, 76.0)


def test_a_once_a_second_device_gives_every_line_at_once_with_its_arrival_time():
    adapter = MasimoOximeter("loop://")
    ctx = attach(adapter)
    arrivals = [10.0, 11.2, 12.05, 12.55, 13.5, 14.4]  # jitter, and a doublet 0.5 s apart
    for k, t in enumerate(arrivals):
        ctx.t = t
        adapter.data_received(masimo_line(OximetrySample(70 + k, 97, pi=2.0)), t)
        adapter.idle(t)
        ctx.t = t + 0.1
        adapter.idle(ctx.t)
    adapter.idle(16.0)
    hr = [(r.ts, r.value) for r in ctx.readings if r.parameter == "hr"]
    assert hr == [(t, 70.0 + k) for k, t in enumerate(arrivals)]
    lines = masimo_line(OximetrySample(80, 97, pi=2.0)) + masimo_line(OximetrySample(81, 97, pi=2.0))
    adapter.data_received(lines, 17.0)  # one read, two lines (a reader that fell behind): one instant
    assert [(r.ts, r.value) for r in ctx.readings if r.parameter == "hr"][-1] == (17.0, 81.0)
    assert adapter.thinner.merged == 1


def test_masimo_sends_pi_and_statuses_reach_every_parameter():
    adapter = MasimoOximeter("loop://")
    ctx = attach(adapter)
    for t in (0.0, 1.0):  # the first line on a connection waits for the next (adapters/frame_check.py)
        ctx.t = t
        adapter.data_received(masimo_line(OximetrySample(88, 95, "low_perfusion", pi=0.21)), t)
    ctx.t = 2.0
    adapter.data_received(masimo_line(OximetrySample(None, None, "sensor_off")), 2.0)
    first = {r.parameter: (r.value, r.status, r.detail) for r in ctx.readings if r.ts == 0.0}
    assert first == {p: (v, "artifact", UNCONFIRMED) for p, v in (("hr", 88.0), ("spo2", 95.0), ("pi", 0.21))}
    second = {r.parameter: (r.value, r.status) for r in ctx.readings if r.ts == 1.0}
    assert second == {"hr": (88.0, "low_perfusion"), "spo2": (95.0, "low_perfusion"), "pi": (0.21, "low_perfusion")}
    third = {r.parameter: (r.value, r.status) for r in ctx.readings if r.ts == 2.0}
    assert third == {"hr": (None, "sensor_off"), "spo2": (None, "sensor_off")}


def test_a_missing_value_without_a_flag_is_searching_not_ok():
    adapter = NoninDf8Oximeter("loop://")
    ctx = attach(adapter)
    for t in (0.0, 1.0):  # the first packet on a connection waits for the next (adapters/frame_check.py)
        ctx.t = t
        adapter.data_received(df8_packet(OximetrySample(None, 96)), t)
    got = {r.parameter: (r.value, r.status) for r in ctx.readings if r.ts == 1.0}
    assert got == {"hr": (None, "searching"), "spo2": (96.0, "ok")}


def test_frames_signal_about_once_a_second_and_each_link_error_once():
    adapter = NoninDf8Oximeter("loop://", source="ox")
    ctx = attach(adapter)
    for k in range(10):  # a DF8 packet every quarter second (a sensor-off one still proves the device)
        sample = OximetrySample(None, None, "sensor_off") if k == 4 else OximetrySample(70, 97)
        adapter.data_received(df8_packet(sample), k * 0.25)
    assert [(s.ts, s.connected) for s in ctx.signals] == [(0.0, True), (1.0, True), (2.0, True)]
    for t in (3.0, 3.2, 3.6):
        adapter.connection_lost("cannot open /dev/x: No such file or directory", t)
    adapter.connection_lost("/dev/x: read failed", 4.0)
    lost = [(s.ts, s.error) for s in ctx.signals if not s.connected]
    assert lost == [(3.0, "cannot open /dev/x: No such file or directory"), (4.0, "/dev/x: read failed")]
    adapter.data_received(df8_packet(OximetrySample(70, 97)), 4.1)
    assert ctx.signals[-1].connected


def test_contec_starts_the_stream_and_keeps_it_alive():
    adapter = ContecOximeter("loop://")
    ctx = attach(adapter)
    assert ctx.t == 0.0 and adapter.link.written == [(0.0, START_LIVE)]
    for k in range(1, 101):  # 10 s of data arriving, idle every 0.1 s
        ctx.t = k / 10
        adapter.data_received(live_packet(OximetrySample(70, 98)), ctx.t)
        adapter.idle(ctx.t)
    keepalives = [t for t, data in adapter.link.written if data == KEEP_ALIVE]
    assert len(keepalives) >= 4 and all(b - a <= 5.0 for a, b in zip([0.0] + keepalives, keepalives))
    writes = len(adapter.link.written)
    for k in range(101, 140):  # the stream stops: ask for it again
        ctx.t = k / 10
        adapter.idle(ctx.t)
    assert START_LIVE in [data for _, data in adapter.link.written[writes:]]


# ------------------------------------------------------------------ live, over ptys
def _rows(store, session_id, parameter=None):
    sql = "SELECT ts, parameter, value, status, source, detail FROM readings WHERE session_id = ?"
    args = [session_id]
    if parameter:
        sql += " AND parameter = ?"
        args.append(parameter)
    return store._query(sql + " ORDER BY ts, id", args)


def _alerts(store, session_id):
    return store._query("SELECT * FROM alerts WHERE session_id = ? ORDER BY started_at", (session_id,))


@pytest.mark.serial
def test_readings_land_in_sqlite_with_the_values_each_device_sent(store, emulators, live_chairs):
    emus = {kind: emulators(kind, scenario="normal", seed=3) for kind in OXIMETER_KINDS}
    chairs = live_chairs({kind: [{"kind": kind, "port": e.path}] for kind, e in emus.items()})
    for kind, (chair, session_id) in chairs.items():
        wait_until(lambda: len(_rows(store, session_id, "spo2")) >= 3, timeout=20)
    for kind, (chair, session_id) in chairs.items():
        sent = [s for _, s in emus[kind].sent]
        rows = _rows(store, session_id)
        assert {r["source"] for r in rows} == {f"chair{kind}-{kind}"}
        # The first frame on a connection waits for the next one (adapters/frame_check.py): DF8 and
        # Masimo flag exactly it, so the first reading is artifact unless the port already held the
        # next frame when it was read (then that newer, confirmed frame is the reading); Contec's
        # next packet comes 1/60 s later. Every reading after the first is ok.
        first_ts = rows[0]["ts"]
        opening = {(r["status"], r["detail"]) for r in rows if r["ts"] == first_ts}
        device = chair.devices[0]
        if kind in ("nonin-df8", "masimo"):
            assert device.decoder.check_stats.flagged == 1, kind
            assert opening in ({("artifact", UNCONFIRMED)}, {("ok", None)}), kind
        else:
            assert opening == {("ok", None)}, kind
        assert all(r["status"] == "ok" for r in rows if r["ts"] > first_ts), kind
        for parameter, field in (("hr", "hr"), ("spo2", "spo2"), ("pi", "pi")):
            values = [r["value"] for r in rows if r["parameter"] == parameter]
            if parameter == "pi" and kind != "masimo":
                assert values == [], f"{kind} sends no perfusion index"
                continue
            assert len(values) >= 3
            assert set(values) <= {float(getattr(s, field)) for s in sent}, (kind, parameter, values)
        ts = [r["ts"] for r in rows if r["parameter"] == "hr"]
        assert ts == sorted(set(ts)), kind
        assert len(ts) <= ts[-1] - ts[0] + 2, f"{kind}: more than about one reading a second"
    wait_until(lambda: all(d["connected"] == 1 for d in store._query("SELECT * FROM devices WHERE chair IN "
                                                                    "('nonin','nonin-df8','masimo','contec')")))
    kinds = {d["source"]: d["kind"] for d in store._query("SELECT source, kind FROM devices")}
    assert {kinds[f"chair{k}-{k}"] for k in OXIMETER_KINDS} == set(OXIMETER_KINDS)
    assert emus["contec"].starts >= 1


class SteppingMasimo(MasimoEmulator):
    """A Masimo whose pulse rate steps up by one every line, so each stored value names its line."""

    def sample_at(self, t):
        truth, _ = super().sample_at(t)
        return truth, OximetrySample(hr=60 + int(t), spo2=97, status="ok", pi=2.0)


@pytest.mark.serial
def test_every_line_of_a_once_a_second_device_is_stored_at_its_arrival(store, live_chairs):
    lines = 6
    emulator = SteppingMasimo(scenario="normal", seed=1).start()
    try:
        chair, session_id = live_chairs({"m": [{"kind": "masimo", "port": emulator.path}]})["m"]
        store.flush_interval = 0.1
        rows = wait_until(lambda: (lambda r: len(r) >= lines and r)(_rows(store, session_id, "hr")), timeout=30)
        written = dict(emulator.written_at)  # session second -> when its line was written
    finally:
        emulator.stop()
    seconds = [int(r["value"]) - 60 for r in rows]
    assert seconds == list(range(seconds[0], seconds[0] + len(rows))), "every line after the first stored, in order"
    late = {s: round(r["ts"] - written[s], 3) for s, r in zip(seconds, rows)}
    assert all(0 <= d <= 0.05 for d in late.values()), f"stamped when the line arrived: {late}"


@pytest.mark.serial
def test_sensor_off_raises_signal_lost_and_no_physiological_alarm(store, emulators, live_chairs):
    # sensor-off scenario: probe off for 40 s from session second 900, then 6 s searching.
    # At x4 that is 11.5 s of wall time without a valid SpO2, beyond the 10 s signal-lost window.
    emus = {kind: emulators(kind, scenario="sensor-off", seed=5, speed=4.0, start_s=898)
            for kind in OXIMETER_KINDS}
    chairs = live_chairs({kind: [{"kind": kind, "port": e.path}] for kind, e in emus.items()})

    def signal_lost_ended(session_id):
        return [a for a in _alerts(store, session_id) if a["rule"] == "oximeter_signal_lost" and a["ended_at"]]

    for kind, (chair, session_id) in chairs.items():
        wait_until(lambda: signal_lost_ended(session_id), timeout=40)
    for kind, (chair, session_id) in chairs.items():
        alerts = _alerts(store, session_id)
        (lost,) = [a for a in alerts if a["rule"] == "oximeter_signal_lost"]
        assert (lost["kind"], lost["priority"], lost["parameter"]) == ("technical", "medium", "spo2"), kind
        assert "sensor off" in lost["message"] or "searching for pulse" in lost["message"], lost["message"]
        assert not [a for a in alerts if a["kind"] == "physiological"], kind
        assert not [a for a in alerts if a["rule"] == "device_disconnected"], kind
        off = [r for r in _rows(store, session_id) if r["status"] == "sensor_off"]
        assert {r["parameter"] for r in off} == {"hr", "spo2"} and all(r["value"] is None for r in off), kind
        after = [r for r in _rows(store, session_id, "spo2") if r["ts"] >= lost["ended_at"]]
        assert after and after[0]["status"] == "ok" and after[0]["value"] is not None, kind
        # readings kept coming for well over 5 s: for the Contec that is its keep-alive at work
        spo2 = _rows(store, session_id, "spo2")
        assert spo2[-1]["ts"] - spo2[0]["ts"] > 10, kind
    assert emus["contec"].keepalives >= 2
