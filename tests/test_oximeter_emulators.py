"""The oximeter emulators on their ptys, read with plain pyserial: what they put on the
wire decodes to what they say they sent; silence, junk, the Contec start/keep-alive
handshake, unplug/replug, and a writer that never blocks on a port nobody reads."""
from __future__ import annotations

import os
import time

import pytest
import serial

from adapters.contec import KEEP_ALIVE, START_LIVE, ContecDecoder
from adapters.masimo import MasimoDecoder
from adapters.nonin import Df2Decoder, Df8Decoder
from conftest import OXIMETER_KINDS, wait_until

pytestmark = pytest.mark.serial  # emulators on pseudo-terminals

DECODERS = {"nonin": Df2Decoder, "nonin-df8": Df8Decoder, "masimo": MasimoDecoder, "contec": ContecDecoder}


class Reader:
    """The host end of one emulator: an open port and a decoder over everything read."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.port = serial.serial_for_url(emulator.path, timeout=0)
        self.decoder = DECODERS[emulator.kind]()
        self.samples = []
        self.bytes = 0
        if emulator.kind == "contec":
            self.port.write(START_LIVE)

    def poll(self):
        data = self.port.read(65536)
        self.bytes += len(data)
        self.samples += self.decoder.feed(data)
        return self

    def close(self):
        self.port.close()


def key(s, kind):
    """What the wire carries: only the Masimo sends a perfusion index."""
    return (s.hr, s.spo2, s.status, s.pi if kind == "masimo" else None)


def read_until(readers, predicate, timeout=15.0):
    def done():
        for r in readers:
            r.poll()
        return all(predicate(r) for r in readers)
    wait_until(done, timeout=timeout, interval=0.05)


def test_each_emulator_streams_what_it_says_it_sent(emulators):
    readers = [Reader(emulators(kind, scenario="normal", seed=7, speed=4.0)) for kind in OXIMETER_KINDS]
    read_until(readers, lambda r: len(r.samples) >= 4)
    for r in readers:
        kind = r.emulator.kind
        sent = {key(s, kind) for _, s in r.emulator.sent}
        assert {key(s, kind) for s in r.samples} <= sent, kind
        # pyserial flushes input on open, so the first unit may arrive cut; nothing after it is lost
        assert r.decoder.stats.skipped_bytes < 130, kind
        r.close()


def test_silent_seconds_put_nothing_on_the_wire(emulators):
    # disconnect scenario: the oximeter is silent over session seconds [900, 945)
    readers = [Reader(emulators(kind, scenario="disconnect", speed=5.0, start_s=938)) for kind in OXIMETER_KINDS]
    read_until(readers, lambda r: len(r.samples) >= 2)
    for r in readers:
        assert min(t for t, _ in r.emulator.sent) >= 945, r.emulator.kind
        r.close()


def test_junk_is_thrown_in_and_every_decoder_recovers(emulators):
    # artifact scenario: junk bytes over [1500, 1502), device-flagged artifact over [1500, 1504)
    readers = [Reader(emulators(kind, scenario="artifact", seed=2, speed=2.0, start_s=1500))
               for kind in OXIMETER_KINDS]
    read_until(readers, lambda r: r.emulator.sent and r.emulator.sent[-1][0] >= 1505)
    for r in readers:
        kind = r.emulator.kind
        assert r.emulator.junk_bytes > 0, kind
        if kind != "masimo":  # junk without a newline just fuses into the next line's head
            assert r.decoder.stats.skipped_bytes > 0, kind
        statuses = [s.status for s in r.samples]
        if kind != "contec":  # the CMS50D+ protocol has no artifact flag
            assert "artifact" in statuses, kind
        assert statuses[-1] == "ok", kind
        sent = {key(s, kind) for _, s in r.emulator.sent}
        good = [s for s in r.samples if key(s, kind) in sent]
        assert len(good) >= 3, kind
        r.close()


def test_contec_streams_only_after_start_and_stops_without_keepalive(emulators):
    emulator = emulators("contec", keepalive_timeout_s=0.5)
    port = serial.serial_for_url(emulator.path, timeout=0.2)
    try:
        assert port.read(100) == b"" and emulator.units_sent == 0  # nothing before the start command
        port.write(START_LIVE)
        wait_until(lambda: emulator.units_sent > 0)
        for _ in range(8):  # keep-alives well inside the timeout: it keeps streaming
            port.write(KEEP_ALIVE)
            time.sleep(0.2)  # a host sends its keep-alives on a period: this is the pacing, not a wait
        assert emulator.live and emulator.keepalives >= 8
        wait_until(lambda: not emulator.live, timeout=5)  # keep-alives stop: so does the device
        sent = emulator.units_sent
        port.reset_input_buffer()
        port.write(KEEP_ALIVE)  # a keep-alive is not a start
        assert port.read(100) == b"" and emulator.units_sent == sent and not emulator.live
        port.write(START_LIVE)
        wait_until(lambda: emulator.units_sent > sent)
        assert ContecDecoder().feed(port.read(2000))
    finally:
        port.close()


@pytest.mark.parametrize("kind", ["nonin", "contec"])
def test_unplug_removes_the_port_and_replug_brings_a_fresh_one(emulators, kind):
    emulator = emulators(kind, speed=2.0)
    first = Reader(emulator)
    read_until([first], lambda r: r.samples)
    emulator.unplug()
    assert not os.path.exists(emulator.path) and not emulator.plugged
    with pytest.raises(serial.SerialException):
        first.poll()
        first.poll()
    first.close()
    emulator.replug()
    assert os.path.exists(emulator.path)
    second = Reader(emulator)  # for the Contec this sends a new start: a replugged device waits for one
    read_until([second], lambda r: r.samples)
    second.close()


def test_the_writer_never_blocks_on_a_port_nobody_reads(emulators):
    emulator = emulators("nonin", speed=40.0)  # 15 kB/s into a pty of a few kB
    wait_until(lambda: emulator.units_dropped > 0, timeout=10)
    t0 = emulator.session_time()
    wait_until(lambda: emulator.session_time() > t0 + 5)
    reader = Reader(emulator)
    newest = emulator.sent[-1][0]
    read_until([reader], lambda r: r.emulator.sent[-1][0] > newest + 2 and r.samples)
    reader.close()
