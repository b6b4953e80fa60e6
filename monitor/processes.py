"""Is a process on this machine still running? For what a killed one left behind: a
heartbeat that looks fresh, a half-written import, a staging folder (docs/ARCHITECTURE.md).
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
