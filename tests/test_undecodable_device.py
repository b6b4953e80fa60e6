"""Issue 10, no silent failure: a device whose bytes never decode (the wrong kind in the
configuration, the wrong baud rate) is not "connected". Its bytes are reported as an
error naming the format expected, so `device_disconnected` is raised with that reason
instead of a calm "-- no data" screen; the right pairing still connects with no alarm."""
from __future__ import annotations

import pytest

from adapters import suntech_codec
from adapters.masimo import masimo_line
from adapters.nibp_cycle import NibpCycle
from adapters.nonin import df8_packet
from adapters.oximeter_devices import MasimoOximeter, NoninDf2Oximeter, NoninDf8Oximeter
from adapters.oximeter_sample import OximetrySample
from adapters.serial_link import UNDECODABLE_AFTER_S, FrameWatch
from adapters.suntech_device import CuffDriver, SunTechNibp
from monitor.alerts.engine import AlertEngine
from monitor.model import DeviceSignal, Reading
from conftest import RecordingContext, wait_until

NOT_DECODABLE = "data arriving but not decodable as"


class FakeLink:
    def write(self, data):
        return True

    def clock(self):
        return 0.0


def attach(adapter):
    ctx = RecordingContext()
    adapter._ctx = ctx
    adapter.link = FakeLink()
    adapter.connection_made(adapter.link)
    return ctx


# ------------------------------------------------------------------ the decision (quick)
def test_frame_watch_connected_means_frames_decode_not_bytes_arrive():
    watch = FrameWatch("Nonin DF2 at 9600 baud", undecodable_after_s=5.0)
    assert [watch.undecoded(t / 2) for t in range(10)] == [None] * 10  # 4.5 s of undecodable bytes
    error = watch.undecoded(5.0)
    assert error == ("data arriving but not decodable as Nonin DF2 at 9600 baud for 5 s: "
                     "wrong device kind or baud rate?")
    assert watch.undecoded(6.0) is None and watch.undecoded(10.0) == error  # again every window
    assert watch.decoded(10.2), "the first frame after the error is reported at once"
    assert not watch.decoded(10.7) and watch.decoded(11.2)  # then about once a second
    assert watch.undecoded(11.5) is None and watch.undecoded(16.4) is None, "a frame restarts the window"
    watch.reset()
    assert watch.decoded(16.5)


def test_an_oximeter_fed_another_format_signals_the_reason_not_connected():
    adapter = NoninDf2Oximeter("loop://", source="ox")  # configured nonin (DF2); the device speaks DF8
    ctx = attach(adapter)
    for t in range(8):
        adapter.data_received(df8_packet(OximetrySample(72, 97)), float(t))
    assert not ctx.readings
    assert [(s.ts, s.connected, s.error) for s in ctx.signals] == [
        (UNDECODABLE_AFTER_S, False, f"{NOT_DECODABLE} Nonin DF2 at 9600 baud for {UNDECODABLE_AFTER_S:g} s: "
                                     "wrong device kind or baud rate?")]

    masimo = MasimoOximeter("loop://", source="m", baudrate=19200)
    ctx = attach(masimo)
    for t in range(8):
        masimo.data_received(df8_packet(OximetrySample(72, 97)), float(t))
    (signal,) = ctx.signals
    assert not signal.connected and f"{NOT_DECODABLE} Masimo ASCII 1 at 19200 baud" in signal.error


def test_frames_flagged_artifact_or_sensor_off_still_count_as_connected():
    adapter = NoninDf8Oximeter("loop://", source="ox")
    ctx = attach(adapter)
    samples = [OximetrySample(70, 97), OximetrySample(140, 80), OximetrySample(70, 97),
               OximetrySample(None, None, "sensor_off")] * 2
    for t, sample in enumerate(samples):
        adapter.data_received(df8_packet(sample), float(t))
    assert any(r.status == "artifact" for r in ctx.readings), "the cross-frame check flagged the jump"
    assert ctx.signals and all(s.connected for s in ctx.signals)
    assert len(ctx.signals) == len(samples)

    masimo = MasimoOximeter("loop://", source="m")
    ctx = attach(masimo)
    for t in range(7):
        masimo.data_received(masimo_line(OximetrySample(70, 97, pi=2.0), when=0.0), float(t))
    assert ctx.signals and all(s.connected for s in ctx.signals)


def test_suntech_bytes_that_never_parse_signal_the_reason_and_a_frame_connects():
    ctx = RecordingContext()
    driver = CuffDriver(SunTechNibp("loop://", NibpCycle(), source="cuff"), ctx)
    driver.connection_made(FakeLink())
    for t in range(7):
        driver.data_received(df8_packet(OximetrySample(72, 97)), float(t))  # an oximeter on the cuff's port
    (lost,) = ctx.signals
    assert not lost.connected and f"{NOT_DECODABLE} SunTech Advantage at 9600 baud" in lost.error
    driver.data_received(suntech_codec.cuff_pressure_frame(0), 7.5)  # a cuff pressure answer
    assert ctx.signals[-1] == DeviceSignal(7.5, "cuff", True)


def test_the_disconnect_alarm_names_the_adapters_reason(protocol):
    engine = AlertEngine(protocol)
    engine.signal(DeviceSignal(0.0, "ox", False))
    reason = f"{NOT_DECODABLE} Nonin DF2 at 9600 baud for 5 s: wrong device kind or baud rate?"
    engine.signal(DeviceSignal(5.0, "ox", False, reason))
    (alarm,) = engine.advance(protocol.disconnect_s)
    assert (alarm.rule, alarm.message, alarm.ended_at) == ("device_disconnected", f"ox: {reason}", None)
    # a reason that arrives after the alarm rewrites its message; a frame ends it and forgets the reason
    (updated,) = engine.signal(DeviceSignal(protocol.disconnect_s + 1, "ox", False, "ox: read failed"))
    assert updated.key == alarm.key and updated.message == "ox: ox: read failed"
    (ended,) = engine.signal(DeviceSignal(protocol.disconnect_s + 2, "ox", True))
    assert ended.key == alarm.key and ended.ended_at is not None
    (again,) = engine.advance(2 * protocol.disconnect_s + 2)
    assert again.message == f"ox: no data for {protocol.disconnect_s:g} s"
    assert engine.feed(Reading(2 * protocol.disconnect_s + 3, "spo2", 97.0, "ok", "ox"))[0].ended_at


# ------------------------------------------------------------------ through real ptys (serial)
def _alerts(store, session_id):
    return store._query("SELECT * FROM alerts WHERE session_id = ? AND rule = 'device_disconnected'",
                        (session_id,))


@pytest.mark.serial
def test_a_wrong_device_kind_raises_device_disconnected_with_the_reason(store, emulators, live_chairs):
    df8 = emulators("nonin-df8", speed=2.0)
    df2 = emulators("nonin", speed=2.0)
    df8_right = emulators("nonin-df8", speed=2.0)
    chairs = live_chairs({
        "5": [{"kind": "nonin", "port": df8.path}],              # the config says DF2, the device speaks DF8
        "6": [{"kind": "masimo", "port": df2.path}],             # a Nonin read as a Masimo
        "7": [{"kind": "suntech", "port": df8_right.path}],       # an oximeter on the cuff's port
        "8": [{"kind": "nonin-df8", "port": emulators("nonin-df8", speed=2.0).path}],  # the right pairing
    })
    expected = {"5": "Nonin DF2 at 9600 baud", "6": "Masimo ASCII 1 at 9600 baud",
                "7": "SunTech Advantage at 9600 baud"}
    for name, expecting in expected.items():
        chair, sid = chairs[name]
        source = chair.devices[0].source
        (alert,) = wait_until(lambda: [a for a in _alerts(store, sid) if NOT_DECODABLE in a["message"]],
                              timeout=30)
        assert (alert["kind"], alert["ended_at"]) == ("technical", None)
        assert alert["message"].startswith(f"{source}: {NOT_DECODABLE} {expecting}")
        assert "wrong device kind or baud rate?" in alert["message"]
        device = store._one("SELECT * FROM devices WHERE source = ?", (source,))
        assert device["connected"] == 0 and NOT_DECODABLE in device["error"], "the footer shows the reason"
        assert not store._query("SELECT * FROM readings WHERE session_id = ? AND status = 'ok'", (sid,))

    chair, sid = chairs["8"]
    source = chair.devices[0].source
    wait_until(lambda: store._one("SELECT * FROM devices WHERE source = ? AND connected = 1", (source,)))
    assert store._query("SELECT * FROM readings WHERE session_id = ? AND parameter = 'spo2'", (sid,))
    assert not _alerts(store, sid), "the right pairing raises no device_disconnected"
