"""When the profile says each observation is due, and whether it was done: pure.

A profile's `[schedule]` lists items such as "MOAA/S 20 min after infusion start" or "BP
before discharge" (protocol.Protocol.schedule, parsed by `parse_schedule`). The bedside
shows each item as waiting, upcoming, due, overdue or done; an overdue item is a LOW
technical reminder, shown with the alarms and never sounded on its own (`reminders`).

An entry counts for the latest item of its kind whose window has opened (`early_s` before it
is due): a MOAA/S charted at minute 40 is the 40-minute score, never a late 20-minute one,
so a missed score stays missed on the record.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from .model import MANUAL, PRIORITIES, is_valid, struck_entries

# What an item may ask for: a scale charted on the page, or a BP (a cuff result or a manual one).
SCHEDULED = {"moaas": "MOAA/S", "cadss6": "CADSS-6", "nibp": "BP"}
# The moment an item counts from. `discharge` is the earliest discharge: infusion stop plus the
# profile's aldrete.minimum_observation_s (its items have a negative at_s: "before discharge").
ANCHORS = {"infusion_start": "infusion start", "infusion_stop": "infusion stop", "discharge": "earliest discharge"}
ITEM_KEYS = {"observation", "after", "at_s", "early_s", "late_s"}
REMINDER_RULE = "observation_overdue"


@dataclass(frozen=True)
class DueItem:
    observation: str  # a key of SCHEDULED
    after: str  # a key of ANCHORS
    at_s: float  # seconds after the anchor (negative: before it)
    early_s: float  # an entry this long before it is due counts for it
    late_s: float  # not done this long after it was due: overdue

    @property
    def label(self) -> str:
        """'MOAA/S 20 min after infusion start', 'BP at infusion start', 'CADSS-6 10 min before earliest discharge'."""
        what, anchor = SCHEDULED[self.observation], ANCHORS[self.after]
        if self.at_s == 0:
            return f"{what} at {anchor}"
        return f"{what} {abs(self.at_s) / 60:g} min {'after' if self.at_s > 0 else 'before'} {anchor}"


def parse_schedule(table: dict, fail, number) -> tuple[DueItem, ...]:
    """The profile's [schedule] table: `early_s`, `late_s` (defaults for every item) and its
    `due` items. fail(message) raises the profile's error; number(value, key) checks a number
    against its sane range (`schedule.early_s`, `schedule.late_s`, or `schedule.due.at_s` for
sane_ranges.SCHEDULE_AT_S), naming it as `shown`."""
    unknown = set(table) - {"early_s", "late_s", "due"}
    if unknown:
        fail(f"schedule.{sorted(unknown)[0]}: unknown key (known: due, early_s, late_s)")
    early = number(table.get("early_s"), "schedule.early_s")
    late = number(table.get("late_s"), "schedule.late_s")
    items = table.get("due", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        fail("schedule.due: expected [[schedule.due]] items")
    out = []
    for n, item in enumerate(items, 1):
        key = f"schedule.due[{n}]"
        bad = set(item) - ITEM_KEYS
        if bad:
            fail(f"{key}.{sorted(bad)[0]}: unknown key (known: {', '.join(sorted(ITEM_KEYS))})")
        if item.get("observation") not in SCHEDULED:
            fail(f"{key}.observation: one of {', '.join(SCHEDULED)}, got {item.get('observation')!r}")
        if item.get("after") not in ANCHORS:
            fail(f"{key}.after: one of {', '.join(ANCHORS)}, got {item.get('after')!r}")
        out.append(DueItem(item["observation"], item["after"],
                           number(item.get("at_s"), "schedule.due.at_s", f"{key}.at_s"),
                           number(item.get("early_s", early), "schedule.early_s", f"{key}.early_s"),
                           number(item.get("late_s", late), "schedule.late_s", f"{key}.late_s")))
    labels = [i.label for i in out]
    twice = next((label for label in labels if labels.count(label) > 1), None)
    if twice:
        fail(f"schedule.due: {twice!r} is listed twice")
    return tuple(out)


def anchor_time(after: str, session: dict, minimum_observation_s: float) -> Optional[float]:
    """When an item's moment came (None: not yet)."""
    if after == "infusion_start":
        return session.get("infusion_start")
    stop = session.get("infusion_end")
    if stop is None:
        return None
    return stop if after == "infusion_stop" else stop + minimum_observation_s


def status(schedule: Iterable[DueItem], session: dict, entries: dict, now: float,
           minimum_observation_s: float) -> list[dict]:
    """Each item of the schedule for this session now: {"label", "observation", "due_at",
    "state", "done_at", "done_by", "overdue_at"}; state is waiting (its moment has not come),
    upcoming, due, overdue, done, done_late, missed (the session ended without it) or
    not_needed (a time point during the infusion that came after it stopped).

    entries: {observation: [(ts, who), ...]} of what was charted (struck entries left out)."""
    rows = []
    for item in schedule:
        anchor = anchor_time(item.after, session, minimum_observation_s)
        due_at = None if anchor is None else anchor + item.at_s
        rows.append({"label": item.label, "observation": item.observation, "due_at": due_at, "item": item,
                     "done_at": None, "done_by": None})
    for kind in SCHEDULED:
        mine = sorted((r for r in rows if r["observation"] == kind and r["due_at"] is not None),
                      key=lambda r: r["due_at"] - r["item"].early_s)
        for ts, who in sorted(entries.get(kind, [])):
            opened = [r for r in mine if r["due_at"] - r["item"].early_s <= ts]
            if opened and opened[-1]["done_at"] is None:
                opened[-1]["done_at"], opened[-1]["done_by"] = ts, who
    ended = session.get("state") == "ended"
    for r in rows:
        item = r.pop("item")
        stop = session.get("infusion_end")
        if r["done_at"] is not None:
            r["state"] = "done_late" if r["done_at"] > r["due_at"] + item.late_s else "done"
        elif item.after == "infusion_start" and stop is not None and r["due_at"] - item.early_s > stop:
            r["state"] = "not_needed"  # a time point of an infusion that had already stopped
        elif ended:
            r["state"] = "missed"
        elif r["due_at"] is None:
            r["state"] = "waiting"
        elif now < r["due_at"] - item.early_s:
            r["state"] = "upcoming"
        elif now <= r["due_at"] + item.late_s:
            r["state"] = "due"
        else:
            r["state"] = "overdue"
        r["overdue_at"] = None if r["due_at"] is None else r["due_at"] + item.late_s
    return sorted(rows, key=lambda r: (r["due_at"] is None, r["due_at"] or 0))


# ----------------------------------------------------------------- what was charted, as entries
def fold_events(entries: dict, events: Iterable[dict]) -> dict:
    """Add the scheduled scales among `events` (struck ones already left out) to `entries`
    ({observation: [[ts, who], ...]}, kept in the bedside's state); returns it."""
    for e in events:
        if e.get("type") in SCHEDULED:
            entries.setdefault(e["type"], []).append([e["ts"], e.get("author") or "?"])
    return entries


def fold_bp(entries: dict, rows: Iterable[dict], schedule: Optional[Iterable[DueItem]] = None) -> dict:
    """Add each valid cuff or manual SBP among reading `rows` as a BP done; none kept when the
    `schedule` asks for no BP (the page's state then does not grow with every cuff cycle)."""
    if schedule is not None and not any(item.observation == "nibp" for item in schedule):
        return entries
    for r in rows:
        if r.get("parameter") == "sbp" and is_valid(r.get("status"), r.get("value")):
            entries.setdefault("nibp", []).append([r["ts"], "manual" if r.get("source") == MANUAL else "cuff"])
    return entries


def without_struck(entries: dict, events: list[dict]) -> dict:
    """After a correction: the BPs still done (a struck manual BP is flagged in the store,
    rows.strike, and no longer counts) and no scale; the caller folds the unstruck events again."""
    struck = struck_entries(events)
    gone = {e["ts"] for e in events if e["id"] in struck and e["type"] == "manual_vitals"}
    return {"nibp": [bp for bp in entries.get("nibp", []) if not (bp[1] == "manual" and bp[0] in gone)]}


def reminders(rows: list[dict], priority: str = PRIORITIES[-1]) -> list[dict]:
    """The overdue items as technical reminders ({"rule", "priority", "message", "since"}): LOW,
    shown with the technical alarms, never sounded on their own."""
    return [{"rule": REMINDER_RULE, "priority": priority, "since": r["overdue_at"],
             "message": f"Reminder: {r['label']} is overdue", "label": r["label"]}
            for r in rows if r["state"] == "overdue"]
