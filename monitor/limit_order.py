"""The priority order of alarm limits: a higher-priority limit is at least as extreme as a
lower-priority one on the same parameter and side.

Otherwise a value could raise the HIGH alarm while the MEDIUM one stays quiet, or the
HIGH alarm would wait for a value beyond where MEDIUM already sounds (spo2_critical < 92
with spo2_low < 85). The same rule holds for a profile as loaded (`protocol.parse_protocol`)
and for one session's settings (`protocol.priority_order_errors`, used by the page).
Compares absolute limits only; a limit relative to the baseline, or a rule on the baseline
itself, has no fixed place in the order. Pure; works on `protocol.Rule`s.
"""
from __future__ import annotations

from typing import Optional

from .model import PRIORITY, STATES, TOP_PRIORITY
from .sane_ranges import side


def order_conflict(rules, rule, mine):
    """The first clause of another rule out of priority order with `mine` (a clause of `rule`):
    ((higher rule, its clause), (lower rule, its clause)), or None."""
    if mine.limit is None or rule.of_baseline:
        return None
    for other in rules:
        if other.id == rule.id or other.of_baseline or other.priority == rule.priority:
            continue
        for c in other.clauses:
            if c.limit is None or c.parameter != mine.parameter or side(c.op) != side(mine.op):
                continue
            hi, lo = (rule, mine), (other, c)
            if PRIORITY[other.priority].rank < PRIORITY[rule.priority].rank:
                hi, lo = lo, hi
            if hi[1].limit > lo[1].limit if side(mine.op) == "low" else hi[1].limit < lo[1].limit:
                return hi, lo
    return None


def profile_order_problem(rules) -> Optional[str]:
    """The first limit of a profile out of priority order, named by its key, or None."""
    def name(rule, clause) -> str:
        return f"rules.{rule.id}.any[{rule.clauses.index(clause)}].limit" if rule.measurement \
            else f"rules.{rule.id}.limit"
    for rule in rules:
        for clause in rule.clauses:
            found = order_conflict(rules, rule, clause)
            if found:
                (hi, hc), (lo, lc) = found
                return (f"{name(hi, hc)}: {hc.limit:g} ({hi.priority}) is milder than {name(lo, lc)} = "
                        f"{lc.limit:g} ({lo.priority}); a {hi.priority} limit must be at least as far out "
                        f"as a {lo.priority} one on {hc.parameter}")
    return None


# What no profile may switch off: a HIGH alarm on an absolute limit for desaturation,
# tachycardia and a hypertensive systolic BP, armed in every phase a patient is watched
# (the esketamine label and the clinic series this project follows: docs/ARCHITECTURE.md,
# "The default profile"). Removing one, demoting it, limiting it to some phases or making
# it relative to the baseline would each leave that danger without its HIGH alarm.
REQUIRED_HIGH = (("spo2", "low"), ("hr", "high"), ("sbp", "high"))
# A technical alarm that means "no data from the patient" sounds at least at this priority.
TECHNICAL_FLOOR = {"device_disconnected": "medium", "oximeter_signal_lost": "medium"}
WATCHED_STATES = tuple(s for s in STATES if s != "ended")


def missing_high_alarm(rules) -> Optional[str]:
    """The first danger of REQUIRED_HIGH with no HIGH rule on an absolute limit armed in every
    watched phase, said as the profile's problem, or None."""
    for parameter, where in REQUIRED_HIGH:
        if not any(r.priority == TOP_PRIORITY and not r.of_baseline
                   and (not r.states or set(WATCHED_STATES) <= set(r.states))
                   and any(c.parameter == parameter and c.limit is not None and side(c.op) == where
                           for c in r.clauses) for r in rules):
            word = "below" if where == "low" else "above"
            return (f"rules: no {TOP_PRIORITY} alarm on a fixed {parameter} limit ({word} it) armed in every phase "
                    f"({', '.join(WATCHED_STATES)}); a profile may move that limit within its range, never remove, "
                    f"demote, restrict or make it relative to the baseline")
    return None


def technical_floor_problem(technical_priority: dict) -> Optional[str]:
    """A technical alarm meaning "no data from the patient" set below its floor, or None."""
    for rule, floor in TECHNICAL_FLOOR.items():
        given = technical_priority.get(rule)
        if given in PRIORITY and PRIORITY[given].rank > PRIORITY[floor].rank:
            return (f"technical_priority.{rule}: {given!r} is below {floor!r}: losing the patient's data "
                    f"must sound at least as a {floor} alarm")
    return None
