"""A pseudo-terminal that stands in for a device's serial port.

The adapter opens `path` (a stable symlink to the current /dev/pts/N) exactly as it
would open /dev/ttyUSB0. `unplug()` closes the pty so the adapter sees the port
vanish; `replug()` opens a new one and moves the symlink, as a USB re-enumeration
does with a udev by-id link.
"""
from __future__ import annotations

import os
import select
import tempfile
import termios
import threading
import time
import tty
from typing import Optional


class PtyPort:
    def __init__(self, name: str = "device", directory: Optional[str] = None):
        self._dir = directory or tempfile.mkdtemp(prefix="infusion-monitor-pty-")
        self.path = os.path.join(self._dir, name)
        self._master: Optional[int] = None
        self._slave: Optional[int] = None
        self._lock = threading.Lock()
        self.plug()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave, termios.TCSANOW)
            # Keep the slave open too: otherwise writes to the master fail with EIO
            # until the adapter has opened the port.
            self._master, self._slave = master, slave
            tmp = self.path + ".new"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.path)

    def unplug(self) -> None:
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = None
            if os.path.lexists(self.path):
                os.unlink(self.path)

    replug = plug

    def write(self, data: bytes) -> bool:
        """Send bytes to the adapter; False while unplugged."""
        with self._lock:
            fd = self._master
            if fd is None:
                return False
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                return True
            except OSError:
                return False

    def read(self, timeout: float = 0.0) -> bytes:
        """Bytes the adapter sent (commands), waiting up to timeout."""
        fd = self._master
        if fd is None:
            return b""
        try:
            r, _, _ = select.select([fd], [], [], timeout)
            return os.read(fd, 4096) if r else b""
        except (OSError, ValueError):
            return b""

    def close(self) -> None:
        self.unplug()
        try:
            os.rmdir(self._dir)
        except OSError:
            pass


class PtyEmulator:
    """What every device emulator shares: a simulated patient's clock, a pty, one thread.

    Subclasses implement `_run` (the device loop, until `self._stop` is set) and may
    override `on_unplug` to forget what a real device loses with its cable.
    """

    kind = "device"

    def __init__(self, port: PtyPort, scenario: str, seed: int, speed: float, start_s: float):
        from adapters.sim.physiology import Patient
        if not speed > 0:
            raise ValueError(f"speed {speed!r}: must be > 0")
        self.patient = Patient(scenario, seed)  # KeyError for an unknown scenario
        self.scenario, self.seed = scenario, seed
        self.speed, self.start_s = float(speed), float(start_s)
        self._port = port
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._wall0 = time.monotonic()
        self.epoch0 = time.time()

    @property
    def path(self) -> str:
        return self._port.path

    @property
    def plugged(self) -> bool:
        return self._port.plugged

    def session_time(self) -> float:
        """The patient's session second the device is at now."""
        return self.start_s + (time.monotonic() - self._wall0) * self.speed

    def start(self):
        if self._thread is None:
            self._wall0, self.epoch0 = time.monotonic(), time.time()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"emulator-{self.kind}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._port.close()

    def unplug(self) -> None:
        """The cable is pulled: the port vanishes and the device loses its host."""
        self._port.unplug()
        self.on_unplug()

    def replug(self) -> None:
        """The cable is back: a new pty behind the same path, as a udev by-id link does."""
        self._port.replug()

    def on_unplug(self) -> None:
        pass

    def _run(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
