"""Who may do what: the roles, the least role each action needs, the login throttle, and the
rules for a user's name and initials. Pure: facts in, decisions out (docs/ARCHITECTURE.md,
"Where each rule lives").

The roles nest: a clinician may do everything a nurse may, an administrator everything a
clinician may. The split follows how a ketamine clinic divides the work: the nurse at
the chair signs for alarms and charts; the prescriber (clinician) changes what the alarms
watch for (limits, baseline), ends the session and reviews the record; the administrator
keeps the user list and reads the audit trail.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .sessions import RuleError, initials as session_initials

ROLES = ("nurse", "clinician", "admin")
ROLE_LABELS = {"nurse": "nurse", "clinician": "clinician", "admin": "administrator"}

# action: the least role that may do it. An action not listed is nobody's (a system
# event such as monitoring_interrupted is charted by the monitor, never by a person).
LEAST_ROLE = {
    # the bedside: a nurse's work
    "view": "nurse",              # the overview and the bedside pages
    "open_session": "nurse",
    "acknowledge": "nurse",
    "stat_bp": "nurse",
    "infusion_start": "nurse",
    "infusion_stop": "nurse",
    "note": "nurse",
    "medication": "nurse",
    "dose_change": "nurse",
    "manual_vitals": "nurse",
    "aldrete": "nurse",
    "moaas": "nurse",             # structured observations (monitor/observations.py)
    "cadss6": "nurse",
    "side_effect": "nurse",
    "intervention": "nurse",
    "padss": "nurse",
    "discharge": "nurse",         # when the patient is ready (discharge.readiness)
    "correction": "nurse",        # and the role of the entry it strikes (needed_for_correction)
    # the prescriber's decisions and the record
    "limit_change": "clinician",
    "baseline_set": "clinician",
    "session_end": "clinician",
    "discharge_override": "clinician",
    "choose_profile": "clinician",  # open a session under another profile than the chair's own  # discharging a patient the criteria do not call ready, with a reason
    "review": "clinician",        # the session list, a session's chart, a patient's course
    "review_signoff": "clinician",
    "export": "clinician",
    # the clinic's administration
    "users": "admin",
    "audit": "admin",
    "import": "admin",            # a CSV export as a new session: the command line's operator
    "purge": "admin",             # retention: ended sessions before a date removed (store/retention.py)
    "restore": "admin",           # a backup written over the database (store/backup.py)
    "outbox_set_aside": "admin",  # a message its receiver will not take moved out of the queue (store/outbox.py)
}

# A device command asked for from the page, as the action it is.
COMMAND_ACTIONS = {"nibp:stat": "stat_bp", "nibp:abort": "stat_bp"}


# Login throttle (OWASP's advice: slow a guesser down without locking a nurse out for long):
# after this many failed passwords for one name within the window, each further try for it
# waits LOGIN_FIRST_WAIT_S after the last failure, doubling with every failure beyond, never
# more than the window. A nurse who mistyped five times waits half a minute; a guesser gets
# about a dozen tries a quarter hour at one name. One address (a shared bedside computer,
# every screen of a loopback install) may fail LOGIN_FAILURES_PER_ADDRESS times across
# names before it waits, so one person's typos do not lock out the next nurse at it; that
# bounds a guesser spraying many names. A successful login for the name clears its count.
LOGIN_FAILURES_ALLOWED = 5
LOGIN_FAILURES_PER_ADDRESS = 20
# A throttled try is written to the audit trail at most this often per address, so a
# guesser hammering the login page cannot flood the trail (or hold its write lock).
REFUSED_SIGN_IN_AUDIT_S = 60
LOGIN_FIRST_WAIT_S = 30
LOGIN_WINDOW_S = 15 * 60

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,39}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 256


class AccessError(RuleError):
    """An action the signed-in user's role does not allow; the message names both."""


@dataclass(frozen=True)
class Actor:
    """The person behind a write: a signed-in user, or the operator of a command line."""
    name: str
    role: str
    initials: str
    address: str = ""  # where the request came from (the page), or "cli"


def rank(role: str) -> int:
    if role not in ROLES:
        raise AccessError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return ROLES.index(role)


def permits(role: str, action: str) -> bool:
    least = LEAST_ROLE.get(action)
    return least is not None and role in ROLES and rank(role) >= rank(least)


def action_label(action: str) -> str:
    return action.replace("_", " ").capitalize()


def with_article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def refusal(role: Optional[str], action: str) -> Optional[str]:
    """Why this role may not do the action ("Limit change needs a clinician login"), or None."""
    if permits(role, action):
        return None
    least = LEAST_ROLE.get(action)
    if least is None:
        return f"{action_label(action)}: charted by the monitor, not by a person"
    return _needs(action_label(action), least)


def _needs(what: str, least: str) -> str:
    return f"{what} needs {with_article(ROLE_LABELS[least])} login"


def _signed_in_as(actor: Actor) -> str:
    return f"; you are signed in as {actor.name} ({ROLE_LABELS.get(actor.role, actor.role)})"


def check(actor: Actor, action: str) -> None:
    """Raise AccessError unless the actor's role may do the action."""
    why = refusal(actor.role, action)
    if why is not None:
        raise AccessError(why + (_signed_in_as(actor) if action in LEAST_ROLE else ""))


def needed_for_correction(struck_type: Optional[str]) -> str:
    """Striking an entry needs the role that may make it: a nurse cannot undo a limit change."""
    least = LEAST_ROLE.get(struck_type or "", "nurse")
    return max(least, LEAST_ROLE["correction"], key=rank)


def check_correction(actor: Actor, struck_type: Optional[str]) -> None:
    """Raise AccessError unless the actor's role may strike an entry of this type."""
    least = needed_for_correction(struck_type)
    if actor.role not in ROLES or rank(actor.role) < rank(least):
        what = f"Striking a {action_label(struck_type or 'entry').lower()}"
        raise AccessError(_needs(what, least) + _signed_in_as(actor))


def user_name(raw) -> str:
    text = str(raw or "").strip()
    if not USER_NAME.match(text):
        raise RuleError("User name: 1–40 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return text


def default_initials(name: str) -> str:
    """Initials for a user added without them: the first letters of the parts of the name
    ("mary.jones" → MJ), else its first two letters ("alice" → AL)."""
    parts = [p for p in re.split(r"[^A-Za-z]+", name) if p]
    letters = "".join(p[0] for p in parts) if len(parts) >= 2 else "".join(parts)[:2]
    return session_initials(letters[:4])


def initials_candidates(name: str):
    """Initials for a user added without them, best first: default_initials, then the name's
    first letter with each later letter (and three-letter forms), so two users named alike
    ("nurse1", "nurse2") still sign differently."""
    seen = set()
    letters = re.sub(r"[^A-Za-z]", "", name).upper()
    first = [default_initials(name)] if len(letters) >= 2 else []
    pairs = [letters[0] + c for c in letters[1:]] if letters else []
    triples = [letters[:2] + c for c in letters[2:]] + [letters[0] + a + b for i, a in enumerate(letters[1:], 1)
                                                         for b in letters[i + 1:]]
    for candidate in first + pairs + triples:
        if candidate not in seen and 2 <= len(candidate) <= 4:
            seen.add(candidate)
            yield candidate


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise RuleError(f"Password: at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise RuleError(f"Password: at most {PASSWORD_MAX} characters")
    return password


def login_wait(failures: list[float], now: float, allowed: int = LOGIN_FAILURES_ALLOWED) -> float:
    """Seconds before another password may be tried, given the times of the recent failed
    tries (for one name since its last success, or from one address with
    allowed=LOGIN_FAILURES_PER_ADDRESS); 0: try now."""
    recent = sorted(t for t in failures if now - t < LOGIN_WINDOW_S)
    beyond = len(recent) - allowed
    if beyond < 0:
        return 0.0
    wait = min(LOGIN_WINDOW_S, LOGIN_FIRST_WAIT_S * 2 ** min(beyond, 20))
    return max(0.0, recent[-1] + wait - now)


def sign_in_wait(by_name: list[float], by_address: list[float], now: float) -> float:
    """Seconds before a password may be tried: the longer of the name's wait and the address's."""
    return max(login_wait(by_name, now), login_wait(by_address, now, LOGIN_FAILURES_PER_ADDRESS))
