"""`infusion-monitor forward`: ship a site's database to the central one, continuously.

A pass sends whatever the site has that the central database lacks (store/forwarding.py:
exactly once, in the site's commit order), in batches, each batch one central transaction
with its cursor. Between passes it waits `interval_s`. When the central database cannot be
reached it says so once, keeps the site's rows where they are (the site's database is only
read: the bedside never waits for the network), and tries again; nothing is lost or sent twice.
"""
from __future__ import annotations

import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Optional

from .store import Store, StoreError, people
from .store import forwarding as fw

log = logging.getLogger("infusion_monitor.forward")

# No '-' in a site's name: "<site>-<chair>" then splits one way only (a chair starts with a letter or digit).
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]{0,23}$")
# The site database's random identity (store/people.secret): which database a site name stands for.
SITE_IDENTITY = "forward_site_identity"
INTERVAL_S = 1.0


def site_name(raw: Optional[str]) -> str:
    """--site: 1–24 letters, digits, '.' or '_' (it prefixes the site's chairs centrally);
    by default this machine's name."""
    text = raw if raw is not None else re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:24]
    if not SITE_NAME.match(text or ""):
        raise ValueError(f"--site {text!r}: 1-24 letters, digits, '.' or '_', starting with a letter or digit")
    return text


@dataclass
class PassResult:
    sessions: int = 0
    alerts: int = 0
    events: int = 0
    baselines: int = 0
    readings: int = 0
    audit: int = 0
    cursors: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.sessions + self.alerts + self.events + self.baselines + self.readings + self.audit


class Forwarder:
    def __init__(self, site: Store, central: Store, name: str, interval_s: float = INTERVAL_S):
        self.site = site
        self.central = central
        self.name = name
        self.interval_s = interval_s
        self.problem: Optional[str] = None
        self._claimed = False

    def forward_pass(self) -> PassResult:
        """Send everything the site had when the pass began; StoreError when either database fails
        (what landed stays landed: each batch commits with its cursor); ForwardRefused when
        sending would skip or overwrite rows (store/forwarding.py)."""
        if not self._claimed:
            fw.claim_site(self.central, self.name, people.secret(self.site, SITE_IDENTITY))
            self._claimed = True
        fw.forward_heartbeats(self.central, self.name, self.site)  # first: a long catch-up is not "unwatched"
        heads = fw.site_heads(self.site)
        at = fw.cursors(self.central, self.name)
        fw.check_not_behind(self.name, heads, at)
        out = PassResult()
        while at["log"] < heads["log"]:
            entries = fw.log_after(self.site, at["log"], heads["log"])
            if not entries:
                break
            for table, n in fw.apply_log(self.central, self.name, self.site, entries).items():
                setattr(out, table, getattr(out, table) + n)
            at["log"] = entries[-1]["seq"]
        for stream, apply in (("readings", fw.apply_readings), ("audit", fw.apply_audit)):
            while at[stream] < heads[stream]:
                rows = fw.stream_after(self.site, stream, at[stream], heads[stream])
                if not rows:
                    break
                n = apply(self.central, self.name, rows)
                setattr(out, stream, getattr(out, stream) + (n if stream == "audit" else len(rows)))
                at[stream] = rows[-1]["id"]
        fw.forward_heartbeats(self.central, self.name, self.site)
        out.cursors = at
        return out

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set; a failing database is said once and retried."""
        while not stop.is_set():
            try:
                result = self.forward_pass()
                if self.problem:
                    log.warning("forwarding to %s works again", self.central.path)
                self.problem = None
                if result.rows:
                    log.info("forwarded %d rows (%d readings)", result.rows, result.readings)
            except fw.ForwardRefused:
                raise  # not a passing trouble: retrying would not help
            except StoreError as e:
                if str(e) != self.problem:
                    log.error("forwarding paused, will retry every %g s: %s", self.interval_s, e)
                self.problem = str(e)
            stop.wait(self.interval_s)
