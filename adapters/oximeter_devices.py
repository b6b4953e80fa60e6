"""Serial pulse-oximeter adapters: Nonin DF2/DF8, Masimo ASCII 1, Contec CMS50D+.

Each adapter sits on one shared SerialLink and turns its codec's samples into hr/spo2
(and pi) Readings stamped with the arrival time of their bytes: a device that sends once a
second gives every sample at once, a faster one about one a second, never losing the last
of a second (adapters/period_thinner.py). Decoded
frames are reported as a DeviceSignal about once a second (the link's FrameWatch:
bytes alone are not "connected"), bytes that never decode as an error after a few
seconds, a lost port at once, so the engine can raise and clear `device_disconnected`.
"""
from __future__ import annotations

import math
import threading
from dataclasses import replace
from typing import Iterable, Optional

from monitor.model import DeviceSignal, Reading

from .contec import KEEP_ALIVE, START_LIVE, ContecDecoder
from .frame_check import ONE_PER_SECOND, REPEATED_60_HZ, CrossFrameCheck
from .masimo import MasimoDecoder
from .nonin import Df2Decoder, Df8Decoder
from .oximeter_sample import OximetrySample
from .period_thinner import PeriodThinner
from .serial_link import FrameWatch, SerialLink, SerialSettings

class SerialOximeter:
    """Base adapter (a Device and a LinkProtocol): subclasses name the kind, the codec and the settings."""

    kind = ""
    format_name = ""  # the protocol as a nurse or technician would name it, for error messages
    settings = SerialSettings()
    sends_pi = False

    def __init__(self, port: str, source: str = "", baudrate: Optional[int] = None,
                 backoff: tuple = (0.2, 5.0)):
        self.port = port
        self.source = source or f"{self.kind}:{port}"
        self.settings = replace(type(self).settings, baudrate=int(baudrate)) if baudrate else type(self).settings
        self.backoff = backoff  # reconnect delays (first, max), seconds
        self.decoder = self.new_decoder()
        self.link: Optional[SerialLink] = None
        self.samples_in = 0
        self.readings_out = 0
        self._ctx = None
        self.thinner: PeriodThinner[OximetrySample] = PeriodThinner()
        self.watch = FrameWatch(f"{self.format_name} at {self.settings.baudrate} baud")
        self._reported_error: Optional[str] = None

    def new_decoder(self):
        raise NotImplementedError

    # ------------------------------------------------------------ Device
    def run(self, ctx, stop: threading.Event) -> None:
        """Read the port until stop is set; the link reopens it whenever it goes away."""
        self._ctx = ctx
        self.link = SerialLink(self.port, self.settings, clock=ctx.now, backoff=self.backoff)
        try:
            self.link.run(self, stop)
        finally:
            self._emit(self.thinner.flush())  # stopping: a sample that arrived is still recorded

    # ------------------------------------------------------------ LinkProtocol
    def connection_made(self, link: SerialLink) -> None:
        self.decoder = self.new_decoder()  # a fresh port: no half frame carried over
        self._emit(self.thinner.flush())  # nothing is held here (connection_lost flushed); never dropped
        self.watch.reset()

    def data_received(self, data: bytes, ts: float) -> None:
        frames_before = self.decoder.stats.frames
        samples = self.decoder.feed(data)
        self.samples_in += len(samples)
        if self.decoder.stats.frames > frames_before:  # frames the cross-frame check holds back count too
            if self.watch.decoded(ts):
                self._reported_error = None
                self._ctx.signal(DeviceSignal(ts, self.source, True))
        else:
            error = self.watch.undecoded(ts)
            if error:
                self._reported_error = error
                self._ctx.signal(DeviceSignal(ts, self.source, False, error))
        self._emit(self.thinner.arrived(ts, samples))

    def idle(self, ts: float) -> None:
        self._emit(self.thinner.window_closed(ts))

    def connection_lost(self, error: str, ts: float) -> None:
        # What arrived before the port went away was the device speaking: record it, at its own time.
        self._emit(self.thinner.flush())
        self.watch.reset()
        if error != self._reported_error:  # the link retries every few seconds: report each new failure once
            self._reported_error = error
            self._ctx.signal(DeviceSignal(ts, self.source, False, error))

    # ------------------------------------------------------------ readings
    def _emit(self, stamped: Iterable[tuple[float, OximetrySample]]) -> None:
        for ts, sample in stamped:
            for r in self.readings(sample, ts):
                self._ctx.reading(r)
                self.readings_out += 1

    def readings(self, sample: OximetrySample, ts: float) -> list[Reading]:
        """hr and spo2 (and pi when sent) for one sample. A value the device left out while
        claiming all is well is reported as `searching`, never as an ok reading without a value."""
        pairs = [("hr", sample.hr), ("spo2", sample.spo2)]
        if self.sends_pi and sample.pi is not None:
            pairs.append(("pi", sample.pi))
        out = []
        for parameter, value in pairs:
            status = sample.status
            if value is None and status in ("ok", "low_perfusion"):
                status = "searching"
            out.append(Reading(ts, parameter, None if value is None else float(value), status, self.source,
                               sample.detail))
        return out


class NoninDf2Oximeter(SerialOximeter):
    """Nonin Data Format 2: three packets a second, the last of each second kept."""

    kind = "nonin"
    format_name = "Nonin DF2"
    settings = SerialSettings(baudrate=9600)

    def new_decoder(self):
        return Df2Decoder()


class NoninDf8Oximeter(SerialOximeter):
    """Nonin Data Format 8: one 4-byte packet a second; no checksum, so each packet's values
    are checked against the packets around it (a jump is flagged artifact until confirmed)."""

    kind = "nonin-df8"
    format_name = "Nonin DF8"
    settings = SerialSettings(baudrate=9600)

    def new_decoder(self):
        return CrossFrameCheck(Df8Decoder(), ONE_PER_SECOND)


class MasimoOximeter(SerialOximeter):
    """Masimo Radical-7 family, ASCII 1 serial output; sends the perfusion index too."""

    kind = "masimo"
    format_name = "Masimo ASCII 1"
    settings = SerialSettings(baudrate=9600)
    sends_pi = True

    def new_decoder(self):
        return CrossFrameCheck(MasimoDecoder(), ONE_PER_SECOND)


class ContecOximeter(SerialOximeter):
    """Contec CMS50D+: streams only after a start command and while keep-alives arrive."""

    kind = "contec"
    format_name = "Contec CMS50D+"
    settings = SerialSettings(baudrate=115200)
    keepalive_every_s = 2.0   # the device gives up after 5 s without one
    restart_after_s = 3.0     # connected but silent this long: ask for the stream again

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._last_keepalive = -math.inf
        self._last_start = -math.inf
        self._last_data = -math.inf

    def new_decoder(self):
        return CrossFrameCheck(ContecDecoder(), REPEATED_60_HZ)

    def connection_made(self, link: SerialLink) -> None:
        super().connection_made(link)
        self._start(link.clock())

    def data_received(self, data: bytes, ts: float) -> None:
        self._last_data = ts
        super().data_received(data, ts)

    def idle(self, ts: float) -> None:
        link = self.link
        if link is not None:
            if max(self._last_data, self._last_start) + self.restart_after_s <= ts:
                self._start(ts)
            elif ts - self._last_keepalive >= self.keepalive_every_s:
                link.write(KEEP_ALIVE)
                self._last_keepalive = ts
        super().idle(ts)

    def _start(self, ts: float) -> None:
        if self.link is not None and self.link.write(START_LIVE):
            self._last_start = self._last_keepalive = ts
