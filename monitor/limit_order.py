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

from .model import PRIORITY
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
