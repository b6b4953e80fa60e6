"""Is a process on this machine still running? For what a killed one left behind: a
heartbeat that looks fresh, a half-written import, a staging folder (docs/ARCHITECTURE.md).
And how many files this process may open (a process watching many chairs needs more than
the usual default).
"""
from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """True while the process runs (or exists under another user); False once it is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def allow_open_files() -> int:
    """Raise this process's open-files soft limit to its hard limit; the soft limit now.

    Many systems start a process at 1024 open files (soft) while allowing far more (hard).
    A process watching many chairs holds a descriptor or more per serial port, two per
    database connection and one per page connection; the soft limit, not the machine,
    would be what stops it (README, "Many chairs")."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)  # Linux's default nr_open: the most a process may be given
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            soft = hard
        except (ValueError, OSError):  # a kernel that caps it lower: keep what was given
            pass
    return soft
