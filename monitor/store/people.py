"""Users, their passwords and the audit trail: the SQL behind logins and "who did this".

Passwords are kept only as argon2id hashes (argon2-cffi's PasswordHasher, its current
parameters); no function here returns a hash. The audit trail is append-only: this module
has no UPDATE or DELETE on it, and the schema's triggers refuse one from anyone else
(store/schema.py, migration 4).

A person's write and its audit row commit together (`permit` runs inside the write's own
transaction), so there is no write without its row and no row for a write that did not
happen; a refused write is audited on its own (`refused`).
"""
from __future__ import annotations

import contextlib
import logging
import secrets as _secrets
import time
from typing import Iterator, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .. import access
from ..access import Actor
from ..sessions import RuleError, initials as session_initials
from .errors import Conflict, NotFound, StoreError

log = logging.getLogger("infusion_monitor.store")
_hasher = PasswordHasher()
# Verified against when the name is unknown, so an unknown name costs the same time as a
# wrong password and the login page does not tell which names exist.
_UNKNOWN_USER_HASH = _hasher.hash(_secrets.token_hex(16))

USER_COLS = "id, name, role, initials, created_at, created_by, last_login_at, active"
DETAIL_MAX = 300


# ----------------------------------------------------------------- users
def add_user(store, name: str, role: str, password: str, initials: Optional[str] = None,
             by: Optional[Actor] = None) -> dict:
    """A new user; the name, role, initials and password are checked by the access rules."""
    name = access.user_name(name)
    access.rank(role)
    given = None if initials is None else session_initials(initials)
    digest = _hasher.hash(access.check_password(password))
    with store._transaction() as conn:
        if by is not None:
            permit(conn, by, "users", detail=f"add {name} as {role}")
        if conn.execute("SELECT 1 FROM users WHERE lower(name) = lower(?)", (name,)).fetchone():
            raise Conflict(f"user {name} already exists")
        # an entry is signed with initials: two users must not sign alike
        taken = {r["initials"]: r["name"] for r in conn.execute("SELECT initials, name FROM users")}
        if given is not None and given in taken:
            raise Conflict(f"initials {given} are already {taken[given]}'s: choose others")
        initials = given or next((c for c in access.initials_candidates(name) if c not in taken), None)
        if initials is None:
            raise RuleError(f"{name}: no free initials from the name; give them (2–4 letters)")
        conn.execute("INSERT INTO users (name, role, initials, password_hash, created_at, created_by) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (name, role, initials, digest, time.time(), by.name if by else None))
    return user(store, name)


def user(store, name: str) -> Optional[dict]:
    return store._one(f"SELECT {USER_COLS}, login_version FROM users WHERE lower(name) = lower(?)", (str(name),))


def user_by_initials(store, initials: str) -> Optional[dict]:
    return store._one(f"SELECT {USER_COLS}, login_version FROM users WHERE initials = ?", (str(initials),))


def users(store) -> list[dict]:
    return store._query(f"SELECT {USER_COLS} FROM users ORDER BY lower(name)")


def has_admin(store) -> bool:
    return store._one("SELECT 1 AS found FROM users WHERE role = 'admin' AND active = 1 LIMIT 1") is not None


def has_users(store) -> bool:
    return store._one("SELECT 1 AS found FROM users LIMIT 1") is not None


def change_user(store, name: str, by: Optional[Actor] = None, role: Optional[str] = None,
                password: Optional[str] = None, active: Optional[bool] = None) -> dict:
    """Change a user's role, password or whether they may log in; any change ends their
    current logins (login_version). The last active administrator cannot be removed."""
    fields: dict = {}
    if role is not None:
        access.rank(role)
        fields["role"] = role
    if password is not None:
        fields["password_hash"] = _hasher.hash(access.check_password(password))
    if active is not None:
        fields["active"] = 1 if active else 0
    if not fields:
        raise RuleError("nothing to change: give a role, a password, or enable/disable")
    what = ", ".join(f"{k}={v}" for k, v in fields.items() if k != "password_hash")
    what = "; ".join(x for x in (what, "new password" if password is not None else "") if x)
    with store._transaction() as conn:
        if by is not None:
            permit(conn, by, "users", detail=f"change {name}: {what}")
        row = conn.execute("SELECT id, role, active FROM users WHERE lower(name) = lower(?)",
                           (str(name),)).fetchone()
        if row is None:
            raise NotFound(f"no user {name}")
        if "password_hash" not in fields and all(row[k] == v for k, v in fields.items()):
            # the same role or status again changes nothing, and ends nobody's sign-in
            raise RuleError(f"nothing to change: {name} is already "
                            + ", ".join(str(v) if k == "role" else ("enabled" if v else "disabled")
                                        for k, v in fields.items()))
        demoted = row["role"] == "admin" and row["active"] and (fields.get("role", "admin") != "admin"
                                                                  or fields.get("active", 1) == 0)
        if demoted and conn.execute("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND active = 1"
                                    ).fetchone()["n"] <= 1:
            raise RuleError(f"{name} is the only active administrator: add another first")
        cols = ", ".join(f"{k} = ?" for k in fields)
        conn.execute(f"UPDATE users SET {cols}, login_version = login_version + 1 WHERE id = ?",
                     (*fields.values(), row["id"]))
    return user(store, name)


def verify_password(store, name: str, password: str) -> Optional[dict]:
    """The active user with this name and password, else None (same cost either way)."""
    row = store._one(f"SELECT {USER_COLS}, login_version, password_hash FROM users WHERE lower(name) = lower(?)",
                     (str(name),))
    digest = row["password_hash"] if row else _UNKNOWN_USER_HASH
    try:
        _hasher.verify(digest, str(password))
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row["active"]:
        return None
    if _hasher.check_needs_rehash(digest):
        with store._transaction() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (_hasher.hash(str(password)), row["id"]))
    row.pop("password_hash")
    return row


def login_succeeded(store, u: dict, address: str) -> str:
    """Start a sign-in: its token (kept in the signed cookie), the user's last sign-in, the audit row."""
    now = time.time()
    token = _secrets.token_urlsafe(24)
    with store._transaction() as conn:
        conn.execute("UPDATE users SET last_login_at = ? WHERE id = ?", (now, u["id"]))
        conn.execute("INSERT INTO logins (token, user_id, started_at, address) VALUES (?, ?, ?, ?)",
                     (token, u["id"], now, (address or "")[:100]))
        _append(conn, u["name"], u["role"], "login", "ok", address=address, ts=now)
    return token


def signed_in_user(store, user_id: int, login_version: int, token: str) -> Optional[dict]:
    """The active user of a sign-in that has not ended, with the login version it was made
    under (a new password, role or disabled account ends it); None otherwise."""
    return store._one(f"SELECT {', '.join('u.' + c.strip() for c in USER_COLS.split(','))}, u.login_version "
                      "FROM logins l JOIN users u ON u.id = l.user_id WHERE l.token = ? AND l.user_id = ? "
                      "AND l.ended_at IS NULL AND u.active = 1 AND u.login_version = ?",
                      (token, user_id, login_version))


def end_login(store, token: str, actor: Optional[Actor] = None) -> None:
    """Sign out: the sign-in's cookie no longer works, wherever a copy of it is."""
    with store._transaction() as conn:
        conn.execute("UPDATE logins SET ended_at = ? WHERE token = ? AND ended_at IS NULL", (time.time(), token))
        if actor is not None:
            _append(conn, actor.name, actor.role, "logout", "ok", address=actor.address)


def failed_logins(store, name: str, address: str, since: float) -> tuple[list[float], list[float]]:
    """Times of the failed logins since `since`: (for this name, any case, since its last
    successful login; from this address, any name)."""
    last_ok = store._one("SELECT MAX(ts) AS ts FROM audit WHERE ts > ? AND action = 'login' AND outcome = 'ok' "
                         "AND lower(\"user\") = lower(?)", (since, name))  # bounded: the trail only grows
    start = max(since, (last_ok or {}).get("ts") or 0)
    by_name = store._query("SELECT ts FROM audit WHERE action = 'login' AND outcome = 'failed' AND ts > ? "
                           "AND lower(\"user\") = lower(?)", (start, name))
    by_address = store._query("SELECT ts FROM audit WHERE action = 'login' AND outcome = 'failed' AND ts > ? "
                              "AND address = ?", (since, address))
    return [r["ts"] for r in by_name], [r["ts"] for r in by_address]


def recently_refused(store, address: str, since: float) -> bool:
    """Has a sign-in from this address been refused (throttled) since `since`? A guesser's
    refused tries are recorded once a minute, not each, so they cannot flood the trail."""
    return store._one("SELECT 1 AS found FROM audit WHERE action = 'login' AND outcome = 'refused' AND ts >= ? "
                      "AND address = ? LIMIT 1", (since, address)) is not None


# ----------------------------------------------------------------- the audit trail
def _append(conn, user: Optional[str], role: Optional[str], action: str, outcome: str = "ok",
            chair: Optional[str] = None, session_id: Optional[int] = None, detail: str = "",
            address: str = "", ts: Optional[float] = None) -> None:
    conn.execute("INSERT INTO audit (ts, \"user\", role, action, outcome, chair, session_id, detail, address) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (time.time() if ts is None else ts, user, role, action, outcome, chair, session_id,
                  (detail or "")[:DETAIL_MAX], (address or "")[:100]))


def permit(conn, actor: Actor, action: str, chair: Optional[str] = None, session_id: Optional[int] = None,
           detail: str = "") -> None:
    """Inside a write's transaction: refuse it (AccessError) unless the actor's role allows the
    action, and log it in the audit trail with the write."""
    access.check(actor, action)
    _append(conn, actor.name, actor.role, action, "ok", chair, session_id, detail, actor.address)


def record(store, actor: Optional[Actor], action: str, outcome: str = "ok", chair: Optional[str] = None,
           session_id: Optional[int] = None, detail: str = "", user: Optional[str] = None,
           address: Optional[str] = None) -> None:
    """One audit row on its own: a login, a failed login, an export, a refused write."""
    with store._transaction() as conn:
        _append(conn, actor.name if actor else user, actor.role if actor else None, action, outcome, chair,
                session_id, detail, actor.address if actor and address is None else (address or ""))


@contextlib.contextmanager
def refusals_recorded(store, actor: Optional[Actor], action: str, chair: Optional[str] = None,
                      session_id: Optional[int] = None) -> Iterator[None]:
    """Around a person's write: a write the rules or the role refuse is itself audited."""
    try:
        yield
    except (RuleError, Conflict, NotFound) as e:  # not StoreUnavailable: that refused nothing
        if actor is not None:
            try:
                if chair is None and isinstance(session_id, int):
                    chair = (store._one("SELECT chair FROM sessions WHERE id = ?", (session_id,)) or {}).get("chair")
                record(store, actor, action, "refused", chair, session_id, str(e))
            except StoreError as failed:  # the refusal is what the caller must see; the log keeps this
                log.error("the refusal of %s by %s could not be audited: %s", action, actor.name, failed)
        raise


def _audit_filter(user, action, chair, session_id, outcome, since, until) -> tuple[str, list]:
    """The WHERE clause (with its parameters) shared by audit_rows and audit_count."""
    where, params = [], []
    for col, value in (('"user"', user), ("action", action), ("chair", chair), ("session_id", session_id),
                       ("outcome", outcome)):
        if value not in (None, ""):
            where.append(f"{col} = ?")
            params.append(value)
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts < ?")
        params.append(until)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def audit_rows(store, user: Optional[str] = None, action: Optional[str] = None, chair: Optional[str] = None,
               session_id: Optional[int] = None, since: Optional[float] = None, until: Optional[float] = None,
               outcome: Optional[str] = None, limit: Optional[int] = 500, offset: int = 0) -> list[dict]:
    """The audit trail, newest first, filtered by whichever are given; limit None: every match."""
    where, params = _audit_filter(user, action, chair, session_id, outcome, since, until)
    sql = "SELECT * FROM audit" + where + " ORDER BY ts DESC, id DESC"
    if limit:
        sql += f" LIMIT {int(limit)} OFFSET {max(0, int(offset))}"
    return store._query(sql, params)


def audit_count(store, user: Optional[str] = None, action: Optional[str] = None, chair: Optional[str] = None,
                session_id: Optional[int] = None, since: Optional[float] = None, until: Optional[float] = None,
                outcome: Optional[str] = None) -> int:
    """How many audit rows audit_rows would give without a limit."""
    where, params = _audit_filter(user, action, chair, session_id, outcome, since, until)
    return store._one("SELECT COUNT(*) AS n FROM audit" + where, params)["n"]


def audit_actions(store) -> list[str]:
    return [r["action"] for r in store._query("SELECT DISTINCT action FROM audit ORDER BY action")]


# ----------------------------------------------------------------- the cookie key
def secret(store, name: str) -> str:
    """A random secret kept in the database (the key the web server signs cookies with):
    made once, the same after a restart, so a restart does not sign everyone out."""
    row = store._one("SELECT value FROM secrets WHERE name = ?", (name,))
    if row:
        return row["value"]
    with store._transaction() as conn:
        conn.execute("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                     (name, _secrets.token_hex(32)))
    return store._one("SELECT value FROM secrets WHERE name = ?", (name,))["value"]
