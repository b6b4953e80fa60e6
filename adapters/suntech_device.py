"""The SunTech Advantage NIBP module on a serial port, driven through its measurement cycle.

The module measures only when told to, so this adapter is the cycle's clock: it
follows the chair's session through the shared NibpCycle (first measurement as soon
as a session opens, then the profile's interval; STAT and abort from the page),
starts a measurement, polls the cuff pressure while it runs, fetches the result and
charts it. A cuff is silent between measurements, so when idle it still asks for the
cuff pressure every few seconds: the answer proves the module is alive and keeps
`device_disconnected` meaningful. Only a decoded frame counts as "connected"; bytes
that never parse as SunTech frames are reported as an error (the link's FrameWatch).

States: idle → starting (start sent, awaiting ack) → measuring (polling pressure,
awaiting completion) → fetching (BP data requested) → idle; aborting → idle.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Optional

from monitor.model import DeviceSignal, Reading

from . import suntech_codec as codec
from .base import DeviceSpecError
from .nibp_cycle import NibpCycle
from .serial_link import FrameWatch, SerialLink, SerialSettings

IDLE, STARTING, MEASURING, FETCHING, ABORTING = "idle", "starting", "measuring", "fetching", "aborting"
BUSY = (STARTING, MEASURING, FETCHING)

TIMEOUT_DETAIL = "no response from cuff (timeout)"
LINK_LOST_DETAIL = "connection to cuff lost during measurement"
IMPLAUSIBLE_DETAIL = "implausible result (code 0)"


@dataclass(frozen=True)
class SunTechTiming:
    """How patient the adapter is with the module (seconds)."""

    ack_timeout_s: float = 3.0         # start sent → 'O' ack
    measure_timeout_s: float = 150.0   # start sent → 'K' completion
    reply_timeout_s: float = 3.0       # BP data or abort ack
    poll_s: float = 0.5                # cuff pressure requests while measuring
    keepalive_s: float = 3.0           # cuff pressure requests while idle (proves the module is there)
    control_s: float = 0.25            # how often the session phase and page commands are read
    quiet_s: float = 0.2               # a partial frame this old will never complete


class SunTechNibp:
    """A Device: one SunTech Advantage module on one serial port."""

    kind = "suntech"

    def __init__(self, port: str, cycle: NibpCycle, source: str = "suntech", baudrate: int = 9600,
                 timing: SunTechTiming = SunTechTiming()):
        self.port = port
        self.cycle = cycle
        self.source = source
        self.baudrate = baudrate
        self.timing = timing

    def run(self, ctx, stop: threading.Event) -> None:
        link = SerialLink(self.port, SerialSettings(baudrate=self.baudrate), clock=ctx.now)
        ctx.cuff_pressure(self.source, None)
        link.run(CuffDriver(self, ctx), stop)


class CuffDriver:
    """The LinkProtocol that runs the state machine; all calls come from the link's reader thread."""

    def __init__(self, device: SunTechNibp, ctx):
        self.device = device
        self.ctx = ctx
        self.cycle = device.cycle
        self.timing = device.timing
        self.source = device.source
        self.link: Optional[SerialLink] = None
        self.decoder = codec.ModuleDecoder()
        self.state = IDLE
        self.deadline: Optional[float] = None
        self.measure_deadline: Optional[float] = None
        self.completed_at: Optional[float] = None  # when the module said the measurement was done
        self.fetch_retries = 0
        self.next_poll = 0.0
        self.next_control = 0.0
        self.last_bytes: Optional[float] = None
        self.watch = FrameWatch(f"SunTech Advantage at {device.baudrate} baud")
        self.pressure: Optional[float] = None

    # ------------------------------------------------------------ LinkProtocol
    def connection_made(self, link: SerialLink) -> None:
        self.link = link
        self.decoder = codec.ModuleDecoder()
        self.state, self.deadline = IDLE, None
        self.watch.reset()
        self.next_poll = 0.0  # ask at once: the answer says the module is there

    def data_received(self, data: bytes, ts: float) -> None:
        self.last_bytes = ts
        messages = self.decoder.feed(data)
        for msg in messages:
            self._handle(msg, ts)
        if not messages:  # a partial frame completes (or is expired) long before the window ends
            error = self.watch.undecoded(ts)
            if error:
                self.ctx.signal(DeviceSignal(ts, self.source, False, error))

    def idle(self, ts: float) -> None:
        if self.decoder.pending and self.last_bytes is not None and ts - self.last_bytes >= self.timing.quiet_s:
            for msg in self.decoder.expire():
                self._handle(msg, self.last_bytes)  # its bytes arrived then, not now
        if ts >= self.next_control:
            self.next_control = ts + self.timing.control_s
            self._control(ts)
        self._check_deadlines(ts)
        self._poll(ts)

    def connection_lost(self, error: str, ts: float) -> None:
        self.link = None
        self.watch.reset()
        self.ctx.signal(DeviceSignal(ts, self.source, False, error))
        if self.state in BUSY:
            self._fail(ts, LINK_LOST_DETAIL)
        self._go_idle(ts)

    # ------------------------------------------------------------ decisions
    def _control(self, ts: float) -> None:
        session_id, state = self.ctx.phase()
        self.cycle.follow(session_id, state)
        for command in self.ctx.take_commands("nibp"):
            if command == "abort":
                self._abort(ts)
            elif command == "stat" and self.state not in BUSY:
                self.cycle.stat()  # while one runs, that measurement answers the request
        if self.state in BUSY and session_id is None:
            self._abort(ts)  # the patient has left the chair: deflate
        if self.state == IDLE and self.link is not None and self.cycle.due(ts):
            self._start(ts)

    def _start(self, ts: float) -> None:
        if not self._send(codec.START_ADULT):
            return
        self.cycle.started(ts)
        self.completed_at = None
        self.state = STARTING
        self.deadline = ts + self.timing.ack_timeout_s
        self.measure_deadline = ts + self.timing.measure_timeout_s

    def _abort(self, ts: float) -> None:
        if self.state not in BUSY:
            return
        self._send(codec.ABORT)
        self.cycle.finished(False)
        self.state, self.deadline = ABORTING, ts + self.timing.reply_timeout_s
        self._set_pressure(None)

    def _handle(self, msg, ts: float) -> None:
        if self.watch.decoded(ts):  # any well-formed frame: the module is there and speaking SunTech
            self.ctx.signal(DeviceSignal(ts, self.source, True))
        if isinstance(msg, codec.CuffPressure):
            if self.state in (STARTING, MEASURING):
                self._set_pressure(float(msg.mmhg))
        elif isinstance(msg, codec.Ack):
            if msg.code == codec.ACK_STARTED and self.state == STARTING:
                self.state, self.deadline = MEASURING, self.measure_deadline
                self.next_poll = ts
            elif msg.code == codec.ACK_COMPLETE and self.state in (STARTING, MEASURING):
                self.completed_at = ts
                self.fetch_retries = 0
                self._fetch(ts)
            elif msg.code == codec.ACK_ABORTED and self.state == ABORTING:
                self._go_idle(ts)
        elif isinstance(msg, codec.BpData) and self.state == FETCHING:
            self._result(msg, ts)

    def _fetch(self, ts: float) -> None:
        self._send(codec.GET_BP_DATA)
        self.state, self.deadline = FETCHING, ts + self.timing.reply_timeout_s
        self._set_pressure(None)

    def _result(self, data: codec.BpData, ts: float) -> None:
        # The measurement's time is when the module said it was done: the fetch that follows,
        # retried after a lost answer, brings the same measurement seconds later.
        measured = ts if self.completed_at is None else self.completed_at
        if not data.ok:
            self._fail(measured, data.error_detail)
        elif not (30 <= data.sbp <= 300 and 10 <= data.dbp < data.sbp):
            self._fail(measured, IMPLAUSIBLE_DETAIL)
        else:
            src = self.source
            self.ctx.reading(Reading(measured, "sbp", float(data.sbp), "ok", src))
            self.ctx.reading(Reading(measured, "dbp", float(data.dbp), "ok", src))
            if data.map:
                self.ctx.reading(Reading(measured, "map", float(data.map), "ok", src))
            if data.pulse:
                self.ctx.reading(Reading(measured, "nibp_hr", float(data.pulse), "ok", src))
            self.cycle.finished(True)
        self._go_idle(ts)

    def _check_deadlines(self, ts: float) -> None:
        if self.deadline is None or ts < self.deadline:
            return
        if self.state in (STARTING, MEASURING):
            self._send(codec.ABORT)  # it may be inflating without telling us
            self._fail(ts, TIMEOUT_DETAIL)
        elif self.state == FETCHING and self.fetch_retries < 1:
            self.fetch_retries += 1
            self._fetch(ts)
        elif self.state == FETCHING:
            self._fail(ts, TIMEOUT_DETAIL)
        else:
            self._go_idle(ts)

    def _poll(self, ts: float) -> None:
        if self.link is None or ts < self.next_poll or self.state not in (IDLE, MEASURING):
            return
        self._send(codec.GET_CUFF_PRESSURE)
        self.next_poll = ts + (self.timing.poll_s if self.state == MEASURING else self.timing.keepalive_s)

    # ------------------------------------------------------------ helpers
    def _fail(self, ts: float, detail: str) -> None:
        self.ctx.reading(Reading(ts, "sbp", None, "error", self.source, detail))
        self.cycle.finished(False)
        self._go_idle(ts)

    def _go_idle(self, ts: float) -> None:
        if self.state != IDLE:
            self.next_poll = ts + self.timing.keepalive_s
        self.state, self.deadline = IDLE, None
        self._set_pressure(None)

    def _set_pressure(self, mmhg: Optional[float]) -> None:
        if mmhg != self.pressure:
            self.pressure = mmhg
            self.ctx.cuff_pressure(self.source, mmhg)

    def _send(self, frame: bytes) -> bool:
        link = self.link
        return link is not None and link.write(frame)


_TIMING_OPTIONS = {"timeout": "measure_timeout_s", "ack_timeout": "ack_timeout_s", "poll": "poll_s",
                   "keepalive": "keepalive_s", "reply_timeout": "reply_timeout_s"}


def build_suntech(port: str, chair: str, nibp: NibpCycle, options: dict, t0: Optional[float]) -> SunTechNibp:
    """Registry builder: `suntech:/dev/ttyUSB1`; options baudrate, source, timeout (s) and other timings."""
    if not port:
        raise DeviceSpecError("suntech: a serial port is required, e.g. suntech:/dev/ttyUSB1")
    try:
        baudrate = int(options.get("baudrate", 9600))
        timing = replace(SunTechTiming(), **{field: float(options[key])
                                             for key, field in _TIMING_OPTIONS.items() if key in options})
    except (TypeError, ValueError) as e:
        raise DeviceSpecError(f"suntech:{port}: bad option value ({e})") from None
    if baudrate <= 0 or min(timing.ack_timeout_s, timing.measure_timeout_s, timing.poll_s,
                            timing.keepalive_s, timing.reply_timeout_s) <= 0:
        raise DeviceSpecError(f"suntech:{port}: baudrate and timings must be positive")
    return SunTechNibp(port, nibp, source=options.get("source", f"chair{chair}-suntech"),
                       baudrate=baudrate, timing=timing)
