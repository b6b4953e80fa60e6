"""Session rules: the one place that decides how a session may move and who may write to it.

The page, the CLI, the store and the alarm engine used to keep their own copies of
these rules, and they disagreed (the page refused "Stop infusion" in baseline while
the store moved the session to recovery). Every entry point now asks this module.

Pure: facts in, decisions out. It imports only the model, so the engine can use it
and the store can call it inside its transactions. docs/ARCHITECTURE.md lists, for
each rule, the function here that decides it.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

from .model import TOP_PRIORITY, Event

OPEN_STATES = ("baseline", "infusion", "recovery")
# A whole session being written in chunks (an import, a max-speed playback): hidden from
# every list and from its chair until the last chunk gives it its real state.
IMPORTING = "importing"

# event type -> (the phases it may be charted in, the phase it moves the session to)
TRANSITIONS = {
    "infusion_start": (("baseline",), "infusion"),
    "infusion_stop": (("infusion",), "recovery"),
    "session_end": (OPEN_STATES, "ended"),
}
# Other entries and the phases they may be charted in; anything not listed: while open.
ENTRY_PHASES = {
    # the discharge checklists score a patient in recovery, once the infusion has stopped, and
    # the discharge decision is taken then (discharge.check_discharge)
    "aldrete": ("recovery",),
    "padss": ("recovery",),
    "discharge": ("recovery",),
    # after the end only a late note (marked late) and signing for an alarm already shown
    "note": OPEN_STATES + ("ended",),
    # the system's own record of a gap in monitoring may land after the end (a backlog written late)
    "monitoring_interrupted": OPEN_STATES + ("ended",),
    "acknowledge": OPEN_STATES + ("ended",),
    # a clinician signs the record once it is complete
    "review_signoff": ("ended",),
    # a wrong entry is struck through (it stays in the record), also after the end
    "correction": OPEN_STATES + ("ended",),
}
# What a correction may strike: what a person typed. Phase changes, alarms, limits and
# baselines are corrected by a new entry of their own kind, not struck.
STRIKEABLE = ("note", "medication", "dose_change", "manual_vitals", "aldrete",
              "moaas", "cadss6", "side_effect", "intervention", "padss", "discharge")
SIGNOFF_STATEMENT = "I have reviewed this session record."
LATE_ENTRIES = ("note", "acknowledge", "correction")

ACTION_WORDS = {"infusion_start": "start the infusion", "infusion_stop": "stop the infusion",
                "session_end": "end the session"}

INITIALS = re.compile(r"^[A-Z]{2,4}$")
PATIENT_REF_MAX = 40
PATIENT_REF_FORBIDDEN = "<>\"'"
# A chair's name: what a clinic paints on it ("3", "Bay 2", "recliner-a"); it is also a page path.
CHAIR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}$")


class RuleError(ValueError):
    """An entry the session rules refuse; the message says why and, where there is one, the way out."""


# ----------------------------------------------------------------- phases
def phase_after(event_type: str, state: str) -> Optional[str]:
    """The phase an event moves a session in `state` to; None when it does not move it."""
    rule = TRANSITIONS.get(event_type)
    if rule is None or state not in rule[0]:
        return None
    return rule[1]


def check_entry(event_type: str, state: str) -> None:
    """May this event be charted in a session in `state`? RuleError (saying why) if not."""
    if event_type in TRANSITIONS:
        allowed = TRANSITIONS[event_type][0]
    else:
        allowed = ENTRY_PHASES.get(event_type, OPEN_STATES)
    if state in allowed:
        return
    if event_type in ACTION_WORDS:
        where = "has ended" if state == "ended" else f"is in {state}"
        raise RuleError(f"Cannot {ACTION_WORDS[event_type]}: the session {where}.")
    if event_type == "review_signoff":
        raise RuleError("Sign-off: the record can be signed once the session has ended.")
    if state == "ended":
        raise RuleError("The session has ended: only a late note can be added.")
    raise RuleError(f"{event_type.replace('_', ' ')}: not in {state} (only in {' or '.join(allowed)}).")


COMMAND_WORDS = {"nibp:stat": "a STAT BP", "nibp:abort": "a cuff abort"}


def check_command(command: str, state: str) -> None:
    """May a device command (e.g. "nibp:stat") be sent for a session in `state`? Only while it is open."""
    if state not in OPEN_STATES:
        raise RuleError(f"Cannot request {COMMAND_WORDS.get(command, command)}: the session has ended.")


def refusal(entry: str, state: Optional[str]) -> Optional[str]:
    """Why an entry (an event type, or a device command such as "nibp:stat") would be refused
    in a session in `state` (None: no session), or None when it would be accepted. The page
    asks this to disable a control before anyone presses it."""
    if state is None:
        return "No open session on this chair."
    try:
        (check_command if ":" in entry else check_entry)(entry, state)
    except RuleError as e:
        return str(e)
    return None


def check_correction(target: Optional[dict], already_struck: bool, reason: str) -> None:
    """May this entry be struck? It must be a person's entry of this session, not struck
    already, and the correction must say why."""
    if target is None:
        raise RuleError("Correction: no such entry in this session.")
    if target["type"] not in STRIKEABLE:
        raise RuleError(f"Correction: a {target['type'].replace('_', ' ')} cannot be struck; "
                        "correct it with a new entry of its own kind.")
    if already_struck:
        raise RuleError("Correction: that entry has already been struck.")
    if not " ".join(str(reason or "").split()):
        raise RuleError("Correction: give the reason.")


def is_late(event_type: str, state: str) -> bool:
    """A late entry: written into a session that has already ended."""
    return state == "ended" and event_type in LATE_ENTRIES


def session_fields_for(event: Event, state: str) -> dict:
    """The session row's new fields when `event` is charted in a session in `state`."""
    nxt = phase_after(event.type, state)
    if nxt is None:
        return {}
    fields = {"infusion": {"infusion_start": event.ts}, "recovery": {"infusion_end": event.ts},
              "ended": {"ended_at": event.ts, "ended_by": event.author or None}}[nxt]
    return {"state": nxt, **fields}


# ----------------------------------------------------------------- the alarm board
def on_alarm_board(alert: dict, at: Optional[float] = None) -> bool:
    """Is this alarm on the board (at time `at`; None: now, as stored)? While active, and an ended
    HIGH physiological alarm until someone signs for it. The store asks the same in SQL
    (store.conditions.ALARM_BOARD_SQL); a report asks it of the past (rems_facts)."""
    if at is not None and alert["started_at"] > at:
        return False
    ended, signed = alert["ended_at"], alert["acknowledged_at"]
    if at is not None:
        ended = ended if ended is not None and ended <= at else None
        signed = signed if signed is not None and signed <= at else None
    return ended is None or (alert["priority"] == TOP_PRIORITY and alert["kind"] == "physiological" and signed is None)


# ----------------------------------------------------------------- ending
def unacknowledged_high(board: Iterable[dict]) -> list[dict]:
    """HIGH alarms on the board nobody has signed for."""
    return [a for a in board if a["priority"] == TOP_PRIORITY and a["acknowledged_at"] is None]


def check_discharged_once(previous: Iterable[str]) -> None:
    """A patient is discharged once a session: a second discharge, while the first stands (not
    struck), is refused. previous: who signed the discharges still standing."""
    standing = list(previous)
    if standing:
        raise RuleError(f"Already discharged by {standing[0] or '?'}; strike that entry to correct it.")


def check_signoff(signed_by: Iterable[str], initials: str) -> None:
    """A reviewer signs a record once: a second signature by the same person adds nothing."""
    if initials in set(signed_by):
        raise RuleError(f"Already signed by {initials}: a reviewer signs a record once.")


def check_end(board: Iterable[dict], override: Optional[str] = None) -> dict:
    """May the session end? Returns the audit data the end event carries.

    A HIGH alarm must be seen and signed for before the record closes. The one way
    past it is an override with a reason: the administrator's `end-session --override`,
    or a playback reaching the end of its recording. The unacknowledged alarms and the
    reason are kept with the session_end event, so the override is on the record.
    """
    unacked = unacknowledged_high(board)
    if not unacked:
        return {}
    reason = " ".join(str(override or "").split())
    if not reason:
        raise RuleError(f"Not ended: acknowledge the HIGH alarm first ({unacked[0]['message']}).")
    return {"override": reason[:200], "unacknowledged": [a["id"] for a in unacked]}


# ----------------------------------------------------------------- open or resume
def open_or_resume(current: Optional[dict], chair: str, patient_ref: str) -> Optional[int]:
    """Which session a patient's monitoring on a chair goes into: the id of this patient's
    open session to resume (after a crash or a reboot), or None to open a new one.

    Never records one patient into another's chart: that is a RuleError with the way out.
    """
    if current is None or current["state"] not in OPEN_STATES:
        return None
    if current["patient_ref"] == patient_ref:
        return current["id"]
    raise RuleError(f"chair {chair} has open session {current['id']} for patient {current['patient_ref']}; "
                    f"end it first (on its bedside page, or end-session --session {current['id']} --by INITIALS)")


def recorded_by_devices(session: Optional[dict]) -> bool:
    """Do a chair's own devices record into this session? Only an open live one: a simulated
    or replayed session brings its own data, and a chair's patient is never mixed into it."""
    return bool(session) and session["state"] in OPEN_STATES and (session.get("source") or "live") == "live"


# ----------------------------------------------------------------- is the chair watched
# How long after its acquisition's last heartbeat a chair still counts as monitored. An
# acquisition process beats about once a second (Acquisition._tick_loop); 5 s tolerates four
# missed beats (a tick held up by a busy database: bulk writers hold it about a second at most)
# and still leaves time, with the page's 1 s tick, to raise "monitoring stopped" within the
# 10 s the README promises (## Reliability).
MONITORING_STALE_S = 5.0


def acquisition_alive(beat: Optional[dict], now: float) -> bool:
    """Is an acquisition process watching the chair now? Its heartbeat (a `heartbeats` row:
    beat_at, stopped_at) is younger than MONITORING_STALE_S and it has not said it stopped."""
    return (beat is not None and beat.get("stopped_at") is None and beat.get("beat_at") is not None
            and now - beat["beat_at"] <= MONITORING_STALE_S)


def check_watcher(chair: str, beat: Optional[dict], now: float, pid: int, host: str,
                  beat_process_gone: bool = False) -> None:
    """One acquisition process watches a chair: a second one would share its heartbeat and
    hide the first one's death (its devices then look connected with no data and no alarm).
    A RuleError while another live process (`beat` fresh, another pid or host) watches it;
    `beat_process_gone`: that process is known to be gone (killed on this machine), so its
    fresh beat watches nothing."""
    if (not beat_process_gone and acquisition_alive(beat, now)
            and (beat.get("pid"), beat.get("host")) != (pid, host)):
        raise RuleError(f"chair {chair} is already watched by acquisition process {beat['pid']} on "
                        f"{beat['host']}; stop that one first, or give its devices to it")


def monitoring_priority(technical_priority: dict) -> str:
    """The priority of "monitoring stopped", a storage problem and (in the browser) "connection
    lost": the profile's rating of a device disconnection (`technical_priority`), whose
    consequence is the same: no numbers and no alarms from the chair."""
    return technical_priority["device_disconnected"]


def monitoring_alarms(session: Optional[dict], beat: Optional[dict], now: float, priority: str) -> list[dict]:
    """The technical alarms about the monitoring itself of a chair's current session: each
    {"rule", "priority", "message", "since"}, most important first.

    Only a session the chair's devices record into (recorded_by_devices) is watched by an
    acquisition process: without a live heartbeat for the chair (never started, died, hung or
    shut down) it is "monitoring stopped"; a live process that cannot store what it acquires
    says so in its heartbeat's `problem`. `priority`: monitoring_priority of the profile.
    """
    if not recorded_by_devices(session):
        return []
    problem = (beat or {}).get("problem")
    if not acquisition_alive(beat, now):
        if beat is None or beat.get("beat_at") is None:
            why, since = "no acquisition process is watching this chair", session.get("started_at")
        elif beat.get("stopped_at") is not None:
            why, since = "acquisition was shut down", beat["stopped_at"]
        else:
            why, since = "acquisition stopped answering (died, hung or cannot write to the database)", beat["beat_at"]
        message = f"MONITORING STOPPED: {why}: no readings and no alarms from this chair"
        if problem:
            message += f" (its last problem: {problem})"
        return [{"rule": "monitoring_stopped", "priority": priority, "message": message, "since": since}]
    if problem:
        return [{"rule": "storage_problem", "priority": priority, "message": f"Monitoring impaired: {problem}",
                 "since": beat.get("problem_since") or beat["beat_at"]}]
    return []


# ----------------------------------------------------------------- who and whom
def initials(raw) -> str:
    """The person signing: 2-4 letters (dots and spaces dropped), stored upper case."""
    text = str(raw or "").strip().upper().replace(".", "").replace(" ", "")
    if not INITIALS.match(text):
        raise RuleError("Initials: enter your initials (2–4 letters, e.g. AB) before signing")
    return text


def patient_ref(raw) -> str:
    """A patient reference as the clinic writes it: up to 40 characters, no quotes or angle brackets."""
    text = str(raw or "").strip()
    if not text:
        raise RuleError("Patient reference: required")
    if len(text) > PATIENT_REF_MAX or any(ch in text for ch in PATIENT_REF_FORBIDDEN):
        raise RuleError(f"Patient reference: up to {PATIENT_REF_MAX} characters, no quotes or angle brackets")
    return text


def chair_name(raw) -> str:
    """A chair's name: 1–32 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit."""
    text = str(raw if raw is not None else "").strip()
    if not CHAIR_NAME.match(text):
        raise RuleError("Chair name: 1–32 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit")
    return text


# ----------------------------------------------------------------- the session clock
def session_clock(wall: float, newest_reading: Optional[float], ended_at: Optional[float] = None) -> float:
    """Now on the session's own clock: a sped-up simulation runs ahead of the wall clock,
    so entries made on the page land after the readings already shown; and an entry made
    after the end (a late note, an acknowledgement) is never dated before the end."""
    return max(wall, newest_reading or 0.0, ended_at or 0.0)
