"""Alarm protocol profiles: TOML files a clinic can read and edit.

Loading validates every key and names the file and key on any problem, so a typo
in a limit can never silently turn an alarm off: every number within its sane range
(`sane_ranges`), never NaN or infinite, the limits in priority order (`limit_order`). Besides the alarm rules a profile
holds the other clinical numbers the pages and reports show: how long a monitored
value stays current, how old each NEWS2 input may be, which readings prefill the
Aldrete checklist. The pages render with these numbers and never keep their own.

The rules about adjusting a limit for one session (settings overlaid on the
profile, the priority order kept) live here too, next to the limits they guard.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Optional

from .formatting import fmt_entered
from .limit_order import missing_high_alarm, order_conflict, profile_order_problem, technical_floor_problem
from .discharge import PadssRule
from .model import CONTINUOUS, PARAMETERS, PRIORITIES, STATES
from .observation_schedule import parse_schedule
from .sane_ranges import ESCALATION, FOR_S, HYSTERESIS, LIMITS, SCHEDULE_AT_S, Range, side
from .sane_ranges import PROFILE as PROFILE_RANGES
from .scores import NEWS2_PARAMETERS

OPS = {
    "<": lambda v, lim: v < lim,
    "<=": lambda v, lim: v <= lim,
    ">": lambda v, lim: v > lim,
    ">=": lambda v, lim: v >= lim,
}
TECHNICAL_RULES = ("oximeter_signal_lost", "device_disconnected", "nibp_failed", "nibp_overdue")
DEFAULT_PROFILE = "ketamine-iv"
# [escalation] when a profile has none (older clinic profiles): HIGH after 30 s, MEDIUM after
# 120 s unacknowledged; LOW never (docs/ARCHITECTURE.md "Escalation").
DEFAULT_ESCALATION_S = {"high": 30.0, "medium": 120.0}
# Shipped with the package, each citing its sources (monitor/profiles/<name>.toml); a clinic
# picks one by name (--protocol NAME) or copies and edits it (--protocol FILE).
SHIPPED_PROFILES = ("ketamine-iv", "esketamine-rems", "ketamine-pain")


class ProtocolError(ValueError):
    """A profile that cannot be used; the message names file and key."""


@dataclass(frozen=True)
class Clause:
    parameter: str
    op: str
    limit: Optional[float] = None
    baseline_offset: Optional[float] = None
    baseline_factor: Optional[float] = None
    bounds: Optional[tuple] = None

    @property
    def relative(self) -> bool:
        return self.limit is None

    @property
    def setting(self) -> float:
        """The number a clinician adjusts: limit, offset or factor."""
        for v in (self.limit, self.baseline_offset, self.baseline_factor):
            if v is not None:
                return v
        raise AssertionError("clause without a limit")

    def with_setting(self, value: float) -> "Clause":
        if self.limit is not None:
            return replace(self, limit=value)
        if self.baseline_offset is not None:
            return replace(self, baseline_offset=value)
        return replace(self, baseline_factor=value)

    def resolve(self, baseline: Optional[float]) -> Optional[float]:
        """The absolute limit now; None while a relative limit has no baseline."""
        if self.limit is not None:
            return self.limit
        if baseline is None:
            return None
        if self.baseline_offset is not None:
            return baseline + self.baseline_offset
        return round(baseline * self.baseline_factor, 1)

    def met(self, value: float, limit: float) -> bool:
        return OPS[self.op](value, limit)

    def describe_limit(self, baseline: str = "") -> str:
        """'160', 'baseline 97 -4', '1.3 × baseline 74'."""
        b = f" {baseline}" if baseline else ""
        if self.limit is not None:
            return f"{self.limit:g}"
        if self.baseline_offset is not None:
            return f"baseline{b} {self.baseline_offset:+g}".replace("+-", "-")
        return f"{self.baseline_factor:g} × baseline{b}"


@dataclass(frozen=True)
class Rule:
    id: str
    priority: str
    clauses: tuple
    measurement: bool = False  # True: NIBP, evaluated per measurement
    for_s: float = 0.0
    of_baseline: bool = False
    states: tuple = ()  # empty: every state except ended

    @property
    def parameter(self) -> str:
        return self.clauses[0].parameter


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    rules: tuple
    hysteresis: dict
    clear_for_s: float
    max_gap_s: float
    baseline_window_s: float
    nibp_baseline_window_s: float
    nibp_cycle_infusion_s: float
    nibp_cycle_other_s: float
    nibp_overdue_factor: float
    signal_lost_s: float
    disconnect_s: float
    technical_priority: dict
    monitored_fresh_s: float  # a monitored numeric older than this is shown as no data
    news2_max_age_s: dict  # {NEWS2 input: how long a value counts}
    aldrete_spo2_max_age_s: float
    aldrete_bp_max_age_s: float
    aldrete_discharge_min: int  # the modified Aldrete total at which a patient may be discharged
    manual_bp_counts: bool  # does a manual BP count toward the BP rules and the baseline?
    minimum_observation_s: float  # observed at least this long after infusion stop before discharge
    infusion_rates: dict  # {rate unit: (lowest, highest) a nurse may chart}, first unit the default
    manual_rr_counts: bool = False  # does a charted (counted) RR feed the RR rules? ([respiration])
    schedule: tuple = ()  # observation_schedule.DueItem: when each observation is due
    padss: Optional[PadssRule] = None  # [padss]: the PADSS scores discharge needs (None: none)
    # [escalation]: {priority: seconds unacknowledged before an alarm escalates}; a priority absent never does
    escalation_s: dict = field(default_factory=lambda: dict(DEFAULT_ESCALATION_S))
    source: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def shipped_profile_path(name: str) -> Path:
    """The file of a profile shipped with the package (monitor/profiles/<name>.toml)."""
    return Path(str(resources.files("monitor.profiles").joinpath(f"{name}.toml")))


def default_profile_path() -> Path:
    return shipped_profile_path(DEFAULT_PROFILE)


def profile_file(name_or_path: Optional[str | Path] = None) -> Path:
    """Where a profile is: a shipped profile's name (SHIPPED_PROFILES) wins over a file of the
    same name in the working directory; anything else is a file path. None: the default."""
    if name_or_path is None or str(name_or_path) == "":
        return default_profile_path()
    if str(name_or_path) in SHIPPED_PROFILES:
        return shipped_profile_path(str(name_or_path))
    p = Path(name_or_path)
    if not p.exists() and p.suffix == "" and len(p.parts) == 1:  # meant as a name: say which exist
        raise ProtocolError(f"{name_or_path}: no such protocol profile: neither a shipped one "
                            f"({', '.join(SHIPPED_PROFILES)}) nor a file")
    return p


def load_protocol(path: Optional[str | Path] = None) -> Protocol:
    """Load and validate a profile: a shipped one by name, or a file; the default when None."""
    p = profile_file(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ProtocolError(f"{p}: cannot read protocol profile: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ProtocolError(f"{p}: not a text (UTF-8) file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProtocolError(f"{p}: not valid TOML: {e}") from None
    return parse_protocol(data, str(p))


NEWS2_INPUTS = NEWS2_PARAMETERS  # each NEWS2 input has a maximum age in the profile
TABLE_KEYS = {
    "baseline": {"continuous_window_s", "nibp_window_s"},
    "continuous": {"clear_for_s", "max_gap_s"},
    "nibp": {"cycle_infusion_s", "cycle_other_s", "overdue_factor", "manual_bp_counts"},
    "technical": {"signal_lost_s", "disconnect_s"},
    "technical_priority": set(TECHNICAL_RULES),
    "freshness": {"monitored_s"},
    "news2": {"max_age_s"},
    "aldrete": {"spo2_max_age_s", "bp_max_age_s", "discharge_min", "minimum_observation_s"},
}
# Tables added after profiles were in use: a file without one keeps its meaning.
OPTIONAL_TABLE_KEYS = {"respiration": {"manual_rr_counts"}, "padss": {"discharge_min", "scores_needed", "interval_s"},
                       "escalation": {"high_s", "medium_s", "low_s"}}
TOP_KEYS = {"name", "description", "rules", "hysteresis", "infusion_rate", "schedule", *TABLE_KEYS,
            *OPTIONAL_TABLE_KEYS}


def parse_protocol(data: dict, source: str = "<profile>") -> Protocol:
    where = _Where(source)
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise ProtocolError(f"{source}: {sorted(unknown)[0]}: unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    for table, keys in (*TABLE_KEYS.items(), *((t, k) for t, k in OPTIONAL_TABLE_KEYS.items() if t in data)):
        bad = set(where.table(data, table)) - keys
        if bad:
            raise ProtocolError(f"{source}: {table}.{sorted(bad)[0]}: unknown key")
    rules_tbl = where.table(data, "rules")
    rules = tuple(_parse_rule(rid, spec, where) for rid, spec in rules_tbl.items())
    if not rules:
        raise ProtocolError(f"{source}: [rules] is empty")
    hyst = where.table(data, "hysteresis")
    for k in hyst:
        if k not in PARAMETERS:
            raise ProtocolError(f"{source}: hysteresis.{k}: unknown parameter")
    tp = where.table(data, "technical_priority")
    for k in TECHNICAL_RULES:
        if k not in tp:
            raise ProtocolError(f"{source}: technical_priority.{k}: missing")
        if tp[k] not in PRIORITIES:
            raise ProtocolError(f"{source}: technical_priority.{k}: must be one of {', '.join(PRIORITIES)}")
    b, c = where.table(data, "baseline"), where.table(data, "continuous")
    n, t = where.table(data, "nibp"), where.table(data, "technical")
    fr, ald = where.table(data, "freshness"), where.table(data, "aldrete")
    ages = where.table(where.table(data, "news2"), "max_age_s", "news2.max_age_s")
    for k in sorted(set(ages) - set(NEWS2_INPUTS)):
        raise ProtocolError(f"{source}: news2.max_age_s.{k}: unknown NEWS2 input (known: {', '.join(NEWS2_INPUTS)})")
    for k in NEWS2_INPUTS:
        if k not in ages:
            raise ProtocolError(f"{source}: news2.max_age_s.{k}: missing")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"{source}: name: missing or not a string")
    why = profile_order_problem(rules) or missing_high_alarm(rules) or technical_floor_problem(tp)
    if why:
        raise ProtocolError(f"{source}: {why}")
    num = where.setting
    return Protocol(
        name=name,
        description=str(data.get("description", "")),
        rules=rules,
        hysteresis={k: where.number(v, f"hysteresis.{k}", HYSTERESIS[k]) for k, v in hyst.items()},
        clear_for_s=num(c, "continuous.clear_for_s"),
        max_gap_s=num(c, "continuous.max_gap_s"),
        baseline_window_s=num(b, "baseline.continuous_window_s"),
        nibp_baseline_window_s=num(b, "baseline.nibp_window_s"),
        nibp_cycle_infusion_s=num(n, "nibp.cycle_infusion_s"),
        nibp_cycle_other_s=num(n, "nibp.cycle_other_s"),
        nibp_overdue_factor=num(n, "nibp.overdue_factor"),
        signal_lost_s=num(t, "technical.signal_lost_s"),
        disconnect_s=num(t, "technical.disconnect_s"),
        technical_priority=dict(tp),
        monitored_fresh_s=num(fr, "freshness.monitored_s"),
        news2_max_age_s={k: num(ages, f"news2.max_age_s.{k}") for k in NEWS2_INPUTS},
        aldrete_spo2_max_age_s=num(ald, "aldrete.spo2_max_age_s"),
        aldrete_bp_max_age_s=num(ald, "aldrete.bp_max_age_s"),
        aldrete_discharge_min=int(num(ald, "aldrete.discharge_min")),
        manual_bp_counts=_flag(n.get("manual_bp_counts"), "nibp.manual_bp_counts", where),
        manual_rr_counts=_flag(where.table(data, "respiration").get("manual_rr_counts", False)
                               if "respiration" in data else False, "respiration.manual_rr_counts", where),
        minimum_observation_s=num(ald, "aldrete.minimum_observation_s"),
        infusion_rates=_parse_rates(where.table(data, "infusion_rate"), where),
        schedule=_parse_schedule(data, where),
        padss=_parse_padss(data, where),
        escalation_s=_parse_escalation(data, where),
        source=source,
        raw=data,
    )


def _parse_escalation(data: dict, where: "_Where") -> dict:
    """[escalation] (optional): seconds unacknowledged before an alarm of each priority escalates.
    A missing table or key keeps the default (DEFAULT_ESCALATION_S); `low_s` absent: LOW never
    escalates. Each within its sane range (sane_ranges.ESCALATION): none can switch escalation off."""
    table = where.table(data, "escalation") if "escalation" in data else {}
    out = dict(DEFAULT_ESCALATION_S)
    for key, sane in ESCALATION.items():
        name = key.rpartition(".")[2]
        if name in table:
            out[name[:-2]] = where.number(table[name], key, sane)
    return out


class _Where:
    def __init__(self, source: str):
        self.source = source

    def table(self, data: dict, key: str, name: Optional[str] = None) -> dict:
        v = data.get(key)
        if not isinstance(v, dict):
            raise ProtocolError(f"{self.source}: [{name or key}]: missing table")
        return v

    def number(self, v, key: str, sane: Optional[Range] = None) -> float:
        """A finite number (never NaN or ±inf), within its sane range when it has one."""
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ProtocolError(f"{self.source}: {key}: expected a number, got {v!r}")
        why = sane.problem(v) if sane else None
        if why:
            raise ProtocolError(f"{self.source}: {key}: {why}")
        return float(v)

    def setting(self, table: dict, key: str) -> float:
        """One of the profile's fixed numbers (`continuous.clear_for_s`), checked against its range."""
        return self.number(table.get(key.rpartition(".")[2]), key, PROFILE_RANGES[key])


def _parse_padss(data: dict, where: _Where) -> Optional[PadssRule]:
    """[padss] (optional: without it discharge asks for no PADSS score, as before it existed)."""
    if "padss" not in data:
        return None
    t, num = where.table(data, "padss"), where.setting
    return PadssRule(int(num(t, "padss.discharge_min")), int(num(t, "padss.scores_needed")),
                     num(t, "padss.interval_s"))


def _parse_schedule(data: dict, where: _Where) -> tuple:
    """[schedule] (optional: a profile written before it had one schedules nothing)."""
    if "schedule" not in data:
        return ()

    def fail(message: str):
        raise ProtocolError(f"{where.source}: {message}")
    return parse_schedule(where.table(data, "schedule"), fail,
                          lambda v, range_key, shown=None: where.number(
                              v, shown or range_key, SCHEDULE_AT_S if range_key == "schedule.due.at_s"
                              else PROFILE_RANGES[range_key]))


def _flag(v, key: str, where: _Where) -> bool:
    if not isinstance(v, bool):
        raise ProtocolError(f"{where.source}: {key}: expected true or false, got {v!r}")
    return v


def _finite_pair(v) -> bool:
    """[low, high]: two finite numbers (TOML's nan and inf are not), low <= high."""
    if not isinstance(v, list) or len(v) != 2:
        return False
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v) \
        and v[0] <= v[1]


def _parse_rates(table: dict, where: _Where) -> dict:
    """[infusion_rate]: each unit's [lowest, highest] chartable rate; at least one unit."""
    if not table:
        raise ProtocolError(f"{where.source}: [infusion_rate]: give at least one unit, e.g. \"mg/kg/h\" = [0.01, 3]")
    for unit, span in table.items():
        if not _finite_pair(span) or not 0 < span[0] < span[1]:
            raise ProtocolError(f"{where.source}: infusion_rate.\"{unit}\": expected [lowest, highest] with "
                                f"0 < lowest < highest, got {span!r}")
    return {unit: (float(lo), float(hi)) for unit, (lo, hi) in table.items()}


CLAUSE_KEYS = {"parameter", "op", "limit", "baseline_offset", "baseline_factor", "bounds"}
MEASURED = ("sbp", "dbp", "map")


def _parse_clause(spec: dict, key: str, where: _Where, sustained: bool) -> Clause:
    if not isinstance(spec, dict):
        raise ProtocolError(f"{where.source}: {key}: expected a table")
    param = spec.get("parameter")
    if param not in PARAMETERS:
        raise ProtocolError(f"{where.source}: {key}.parameter: unknown parameter {param!r}")
    op = spec.get("op")
    if op not in OPS:
        raise ProtocolError(f"{where.source}: {key}.op: must be one of {' '.join(OPS)}, got {op!r}")
    forms = [k for k in ("limit", "baseline_offset", "baseline_factor") if k in spec]
    if len(forms) != 1:
        raise ProtocolError(
            f"{where.source}: {key}: give exactly one of limit, baseline_offset, baseline_factor")
    unknown = set(spec) - CLAUSE_KEYS - ({"for_s", "priority", "states", "measurement"} if sustained else set())
    if unknown:
        raise ProtocolError(f"{where.source}: {key}: unknown key {sorted(unknown)[0]!r}")
    allowed = CONTINUOUS if sustained else MEASURED
    if param not in allowed:
        kind = "a sustained rule" if sustained else "a measurement rule"
        raise ProtocolError(f"{where.source}: {key}.parameter: {param!r} cannot be used in {kind} "
                            f"(use {', '.join(allowed)})")
    form = forms[0]
    sane = LIMITS.get((param, side(op), form))
    if sane is None:
        known = "; ".join(f"{'<' if s == 'low' else '>'} with {f}" for p, s, f in LIMITS if p == param)
        raise ProtocolError(f"{where.source}: {key}: {param} {op} with {form} is not an alarm this monitor "
                            f"has a sane range for (for {param}: {known or 'none'})")
    value = where.number(spec[form], f"{key}.{form}")
    bounds = spec.get("bounds")
    if bounds is not None:
        if not _finite_pair(bounds):
            raise ProtocolError(f"{where.source}: {key}.bounds: expected [low, high], got {bounds!r}")
        if not bounds[0] <= value <= bounds[1]:
            raise ProtocolError(f"{where.source}: {key}.{form}: {value:g} outside its bounds {bounds}")
        if sane.problem(bounds[0]) or sane.problem(bounds[1]):  # a session's limit may be set anywhere within
            raise ProtocolError(f"{where.source}: {key}.bounds: {bounds} reach outside {sane.text} ({sane.reason})")
        bounds = (float(bounds[0]), float(bounds[1]))
    where.number(value, f"{key}.{form}", sane)
    return Clause(param, op, **{forms[0]: value}, bounds=bounds)


def _parse_rule(rid: str, spec, where: _Where) -> Rule:
    key = f"rules.{rid}"
    if not isinstance(spec, dict):
        raise ProtocolError(f"{where.source}: {key}: expected a table")
    prio = spec.get("priority")
    if prio not in PRIORITIES:
        raise ProtocolError(f"{where.source}: {key}.priority: must be one of {', '.join(PRIORITIES)}")
    measurement = spec.get("measurement", False)
    if not isinstance(measurement, bool):
        raise ProtocolError(f"{where.source}: {key}.measurement: expected true or false, got {measurement!r}")
    if not isinstance(spec.get("of_baseline", False), bool):
        raise ProtocolError(f"{where.source}: {key}.of_baseline: expected true or false")
    states = spec.get("states", [])
    if not isinstance(states, list) or any(s not in STATES for s in states):
        raise ProtocolError(f"{where.source}: {key}.states: must list states from {', '.join(STATES)}")
    if measurement:
        anys = spec.get("any")
        if not isinstance(anys, list) or not anys:
            raise ProtocolError(f"{where.source}: {key}.any: a measurement rule needs a list of clauses")
        bad = set(spec) - {"measurement", "priority", "any", "of_baseline", "states"}
        if bad:
            raise ProtocolError(f"{where.source}: {key}: unknown key {sorted(bad)[0]!r}")
        clauses = tuple(_parse_clause(c, f"{key}.any[{i}]", where, sustained=False) for i, c in enumerate(anys))
        return Rule(rid, prio, clauses, measurement=True, of_baseline=bool(spec.get("of_baseline")),
                    states=tuple(states))
    clause = _parse_clause(spec, key, where, sustained=True)
    for_s = where.number(spec.get("for_s"), f"{key}.for_s", FOR_S[prio])
    return Rule(rid, prio, (clause,), for_s=for_s, states=tuple(states))


# ----------------------------------------------------------------- per-session limit settings
def clause_key(rule_id: str, index: int) -> str:
    """How a session's limit_change events name one clause: 'bp_high:1'."""
    return f"{rule_id}:{index}"


def effective_protocol(protocol: Protocol, settings: dict) -> Protocol:
    """The profile with one session's settings ({clause key: setting}) in place."""
    if not settings:
        return protocol
    rules = []
    for rule in protocol.rules:
        clauses = tuple(c.with_setting(settings[clause_key(rule.id, i)])
                        if clause_key(rule.id, i) in settings else c for i, c in enumerate(rule.clauses))
        rules.append(replace(rule, clauses=clauses))
    return replace(protocol, rules=tuple(rules))


def priority_order_errors(protocol: Protocol, settings: dict, changed: dict) -> list[str]:
    """The priority order (`limit_order`) after one session's change: `changed` names the
    clause ({"rule", "clause"}) whose new setting is already in `settings`."""
    eff = effective_protocol(protocol, settings)
    rule = eff.rule(changed["rule"])
    found = order_conflict(eff.rules, rule, rule.clauses[changed["clause"]])
    if not found:
        return []
    (hi, _), (lo, lo_clause) = found
    mine = rule.clauses[changed["clause"]]
    return [f"New setting for {rule.id}: {fmt_entered(mine.limit)} would make {hi.id} ({hi.priority}) "
            f"{'higher' if side(mine.op) == 'low' else 'lower'} than {lo.id} ({lo.priority}, "
            f"{fmt_entered(lo_clause.limit)}); keep the {hi.priority} limit beyond the {lo.priority} one"]
