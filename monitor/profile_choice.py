"""Which alarm profile a session runs under, and which a chair or a clinician may pick.

A session records its profile's name when it opens (sessions.profile). Everything that
decides or draws for a session — its chair's alarm engine, the bedside page, the review
chart, the report — runs under that profile, not under the one the process was started
with: a chair set up for esketamine, or a session a clinician opened under `ketamine-pain`,
keeps its own limits whatever `--protocol` the server has.

The profiles a process knows, by name: the one it was started with (`--protocol`, a
shipped profile or a file; `start_with`, by the command line), those a clinic.toml chair
names (`remember_chair`, by clinic_config), and every shipped profile (loaded on first use). A name that is none of these (a file profile another process was started with) falls
back to the process's own, and the bedside header says whose limits it draws.
"""
from __future__ import annotations

import threading
from typing import Optional

from .protocol import SHIPPED_PROFILES, Protocol, ProtocolError, load_protocol
from .sessions import RuleError

_known: dict[str, Protocol] = {}
_chair_defaults: dict[str, str] = {}
_lock = threading.Lock()


def remember(protocol: Protocol) -> Protocol:
    """Make a loaded profile known to this process by its name. Two different profiles under
    one name (an edited copy of a shipped profile that kept its name) are refused: a session
    recording that name could not say which it ran under."""
    with _lock:
        known = _known.get(protocol.name)
        if known is not None and known.raw != protocol.raw:
            raise ProtocolError(f"{protocol.source}: name {protocol.name!r} is already the name of {known.source}: "
                                "give this profile a name of its own (its `name` key)")
        _known[protocol.name] = protocol
    return protocol


def start_with(protocol: Protocol) -> Protocol:
    """The profile this process was started with (`--protocol`): known by its name, whatever
    was known by that name before (an edited copy that kept a shipped profile's name)."""
    with _lock:
        _known[protocol.name] = protocol
    return protocol


def remember_chair(chair: str, protocol: Protocol) -> None:
    """A clinic.toml chair's own profile: the one a session opened on it runs under unless a
    clinician picks another."""
    remember(protocol)
    with _lock:
        _chair_defaults[chair] = protocol.name


def chair_profile(chair: str, default: Protocol) -> Protocol:
    """The profile a new session on this chair runs under unless a clinician picks another."""
    return session_profile(default, _chair_defaults.get(chair))


def for_new_session(chair: str, requested: Optional[str], default: Protocol) -> tuple[str, Optional[str]]:
    """(the profile's name a new session on this chair records, the action picking it needs or
    None): the chair's own unless another known profile is requested, which is a clinician's
    choice (access `choose_profile`). A name this process does not know is a RuleError."""
    own = chair_profile(chair, default).name
    name = own if requested in (None, "") else str(requested)
    if name == own:
        return name, None
    if known(name) is None:
        raise RuleError(f"no profile {name[:40]!r} here (known: {', '.join(choices(default))})")
    return name, "choose_profile"


def known(name: Optional[str]) -> Optional[Protocol]:
    """The profile of that name this process can run, or None."""
    if not name:
        return None
    with _lock:
        if name in _known:
            return _known[name]
    if name in SHIPPED_PROFILES:
        return remember(load_protocol(name))
    return None


def session_profile(default: Protocol, name: Optional[str]) -> Protocol:
    """The profile a session named `name` runs under here: `default` (the process's own) when
    that is its name or the name is unknown to this process, else the known profile."""
    if not name or name == default.name:
        return default
    return known(name) or default


def choices(default: Protocol) -> list[str]:
    """The profiles a session can be opened under here: the process's own first, then every
    other known or shipped one."""
    with _lock:
        names = list(_known)
    return list(dict.fromkeys([default.name, *SHIPPED_PROFILES, *names]))


def forget_all() -> None:
    """Tests: start from nothing known."""
    with _lock:
        _known.clear()
        _chair_defaults.clear()
