"""The documented SQLite schema (docs/ARCHITECTURE.md, "Schema") and its versioned migrations.

`PRAGMA user_version` holds the schema version; each migration is applied once,
in order, inside one transaction, so a database is never left half-upgraded.
"""
from __future__ import annotations

import re
import sqlite3

MIGRATIONS = [
    # 1: the contract tables documented in docs/ARCHITECTURE.md plus keys the engine and page need.
    """
    CREATE TABLE IF NOT EXISTS sessions (
        id INTEGER PRIMARY KEY, patient_ref TEXT, chair TEXT, protocol TEXT, state TEXT,
        started_at REAL, infusion_start REAL, infusion_end REAL, ended_at REAL,
        ended_by TEXT, source TEXT
    );
    CREATE INDEX IF NOT EXISTS sessions_chair ON sessions(chair, started_at);
    CREATE INDEX IF NOT EXISTS sessions_patient ON sessions(patient_ref, started_at);
    CREATE INDEX IF NOT EXISTS sessions_chair_state ON sessions(chair, state, started_at);
    CREATE TABLE IF NOT EXISTS readings (
        id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES sessions(id), ts REAL,
        parameter TEXT, value REAL, source TEXT, status TEXT, detail TEXT
    );
    CREATE INDEX IF NOT EXISTS readings_session_ts ON readings(session_id, ts);
    CREATE INDEX IF NOT EXISTS readings_session_param ON readings(session_id, parameter, ts);
    CREATE TABLE IF NOT EXISTS alerts (
        id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES sessions(id), rule TEXT,
        parameter TEXT, kind TEXT, priority TEXT, started_at REAL, ended_at REAL, value REAL,
        limit_value REAL, message TEXT, acknowledged_at REAL, acknowledged_by TEXT, key TEXT
    );
    CREATE UNIQUE INDEX IF NOT EXISTS alerts_session_key ON alerts(session_id, key);
    CREATE INDEX IF NOT EXISTS alerts_session_start ON alerts(session_id, started_at);
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY, session_id INTEGER REFERENCES sessions(id), ts REAL, type TEXT,
        text TEXT, author TEXT, data TEXT
    );
    CREATE INDEX IF NOT EXISTS events_session_ts ON events(session_id, ts);
    CREATE TABLE IF NOT EXISTS baselines (
        session_id INTEGER REFERENCES sessions(id), parameter TEXT, value REAL, source TEXT,
        ts REAL, n INTEGER, PRIMARY KEY (session_id, parameter)
    );
    CREATE TABLE IF NOT EXISTS devices (
        source TEXT PRIMARY KEY, chair TEXT, kind TEXT, port TEXT, connected INTEGER,
        last_seen REAL, error TEXT, updated_at REAL, cuff_pressure REAL
    );
    CREATE TABLE IF NOT EXISTS commands (
        id INTEGER PRIMARY KEY, chair TEXT, command TEXT, requested_at REAL, requested_by TEXT,
        done_at REAL
    );
    """,
    # 2: review — one summary row per ended session (monitor/store/summaries.py), so the
    # session list never scans readings; sessions by date for the list's date filter.
    """
    CREATE TABLE IF NOT EXISTS session_summaries (
        session_id INTEGER PRIMARY KEY REFERENCES sessions(id), computed_at REAL,
        last_reading_at REAL,
        baseline_sbp REAL, baseline_dbp REAL, baseline_hr REAL, baseline_spo2 REAL,
        peak_sbp REAL, peak_sbp_at REAL, peak_dbp REAL, peak_dbp_at REAL,
        peak_hr REAL, peak_hr_at REAL, min_spo2 REAL, min_spo2_at REAL, nibp_count INTEGER,
        alarms_high INTEGER, alarms_medium INTEGER, alarms_low INTEGER, alarms_technical INTEGER
    );
    CREATE INDEX IF NOT EXISTS sessions_started ON sessions(started_at);
    CREATE INDEX IF NOT EXISTS alerts_session_priority ON alerts(session_id, kind, priority);
    """,
    # 3: acquisition heartbeats (issue 10): every acquisition process (`run`, `acquire`) writes
    # one row per chair it watches about once a second (Store.heartbeat); pages read it
    # (queries.heartbeat) and sessions.monitoring_alarms decides whether the chair is watched.
    # `problem` is the process's one-line storage trouble (None when its writes succeed).
    """
    CREATE TABLE IF NOT EXISTS heartbeats (
        chair TEXT PRIMARY KEY, pid INTEGER, host TEXT, started_at REAL, beat_at REAL,
        stopped_at REAL, problem TEXT, problem_since REAL
    );
    """,
    # 4: users and the audit trail (issue 11). Passwords are argon2 hashes (store/people.py);
    # `login_version` changes with a new password, a new role or a disabled login, which ends
    # every login made before. The audit trail is append-only here, in the database itself:
    # the triggers refuse any UPDATE or DELETE whoever asks, and no code path writes one.
    # `secrets` holds what the web server signs its cookies with, so a restart keeps logins.
    # `logins`: one row per sign-in, named by a random token in the signed cookie; signing out
    # ends it here, so a copy of the cookie kept from before no longer works.
    """
    CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('nurse', 'clinician', 'admin')),
        initials TEXT NOT NULL, password_hash TEXT NOT NULL, created_at REAL NOT NULL,
        created_by TEXT, last_login_at REAL, active INTEGER NOT NULL DEFAULT 1,
        login_version INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, user TEXT, role TEXT, action TEXT NOT NULL,
        outcome TEXT NOT NULL DEFAULT 'ok', chair TEXT, session_id INTEGER, detail TEXT, address TEXT
    );
    CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts);
    CREATE INDEX IF NOT EXISTS audit_user_action ON audit(user, action, ts);
    CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS logins (
        token TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), started_at REAL NOT NULL,
        address TEXT, ended_at REAL
    );
    """,
    # 5: store-and-forward (issue 14; monitor/store/forwarding.py, docs/ARCHITECTURE.md "Forwarding").
    # At a central database a forwarded row keeps the site it came from and its id there
    # (`site`, `site_id`: unique together, the key of every idempotent upsert); a local row has
    # neither. At a site, `forward_log` lists what changed in place or was added outside the id
    # streams (sessions, alarms, events, baselines, a struck reading), in commit order, so the
    # forwarder ships later acknowledgements and ends too; its triggers fire at every database,
    # a few rows a session. Rows from before this version are logged once here. `forward_sites` (at the
    # central database) is which database each site name stands for, so two databases never
    # share one name's rows; `forward_cursors`
    # (at the central database) is how far each site's streams have landed, written in the same
    # transaction as the rows: a killed forwarder or a dropped connection resends, never skips.
    """
    ALTER TABLE sessions ADD COLUMN site TEXT;
    ALTER TABLE sessions ADD COLUMN site_id INTEGER;
    ALTER TABLE readings ADD COLUMN site TEXT;
    ALTER TABLE readings ADD COLUMN site_id INTEGER;
    ALTER TABLE alerts ADD COLUMN site TEXT;
    ALTER TABLE alerts ADD COLUMN site_id INTEGER;
    ALTER TABLE events ADD COLUMN site TEXT;
    ALTER TABLE events ADD COLUMN site_id INTEGER;
    ALTER TABLE audit ADD COLUMN site TEXT;
    ALTER TABLE audit ADD COLUMN site_id INTEGER;
    CREATE UNIQUE INDEX IF NOT EXISTS sessions_site ON sessions(site, site_id);
    CREATE UNIQUE INDEX IF NOT EXISTS readings_site ON readings(site, site_id);
    CREATE UNIQUE INDEX IF NOT EXISTS alerts_site ON alerts(site, site_id);
    CREATE UNIQUE INDEX IF NOT EXISTS events_site ON events(site, site_id);
    CREATE UNIQUE INDEX IF NOT EXISTS audit_site ON audit(site, site_id);
    CREATE INDEX IF NOT EXISTS sessions_site_started ON sessions(site, started_at);
    CREATE TABLE IF NOT EXISTS forward_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, row_id INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS forward_sites (site TEXT PRIMARY KEY, identity TEXT NOT NULL, first_at REAL);
    CREATE TABLE IF NOT EXISTS forward_cursors (
        site TEXT NOT NULL, stream TEXT NOT NULL, position INTEGER NOT NULL, updated_at REAL,
        PRIMARY KEY (site, stream)
    );
    INSERT INTO forward_log (tbl, row_id) SELECT 'sessions', id FROM sessions ORDER BY id;
    INSERT INTO forward_log (tbl, row_id) SELECT 'alerts', id FROM alerts ORDER BY id;
    INSERT INTO forward_log (tbl, row_id) SELECT 'events', id FROM events ORDER BY id;
    INSERT INTO forward_log (tbl, row_id) SELECT DISTINCT 'baselines', session_id FROM baselines;
    """ + "".join(
        f"CREATE TRIGGER IF NOT EXISTS {table}_logged_{when.lower()} AFTER {when} ON {table} "
        f"BEGIN INSERT INTO forward_log (tbl, row_id) VALUES ('{table}', NEW.{key}); END;\n"
        for table, key, whens in (("sessions", "id", ("INSERT", "UPDATE")), ("alerts", "id", ("INSERT", "UPDATE")),
                                  ("events", "id", ("INSERT", "UPDATE")),
                                  ("baselines", "session_id", ("INSERT", "UPDATE")), ("readings", "id", ("UPDATE",)))
        for when in whens) + (
        # an aborted import or simulation (hidden, `importing`) is removed; a purge of ended ones is the site's own
        "CREATE TRIGGER IF NOT EXISTS sessions_logged_delete AFTER DELETE ON sessions WHEN OLD.state = 'importing' "
        "BEGIN INSERT INTO forward_log (tbl, row_id) VALUES ('sessions_deleted', OLD.id); END;\n"),
    # 6: the outbox (issue 15; monitor/store/outbox.py, docs/ARCHITECTURE.md "Schema"). Messages for
    # another system (HL7 v2 over MLLP now), queued as text by their producer and sent strictly in id
    # order per destination, so ids are never given twice (AUTOINCREMENT): a row sent and deleted
    # must not have its id taken by a newer message. A message is queued once per destination
    # (`message_key`); `outbox_progress` is how far a producer has queued a session's results,
    # written in the same transaction as the messages it covers; `outbox_sent` the tally the
    # admin page shows ("N sent, last at ...").
    """
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL, kind TEXT NOT NULL,
        message_key TEXT NOT NULL, control_id TEXT, session_id INTEGER, about_ts REAL, payload TEXT NOT NULL,
        queued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_try REAL, last_try REAL, last_error TEXT,
        UNIQUE (destination, message_key)
    );
    CREATE INDEX IF NOT EXISTS outbox_destination_id ON outbox(destination, id);
    CREATE TABLE IF NOT EXISTS outbox_progress (
        destination TEXT NOT NULL, session_id INTEGER NOT NULL, results_through REAL, events_through INTEGER,
        readings_seen INTEGER, PRIMARY KEY (destination, session_id)
    );
    CREATE TABLE IF NOT EXISTS outbox_sent (destination TEXT PRIMARY KEY, sent INTEGER NOT NULL DEFAULT 0,
                                            last_sent_at REAL);
    CREATE TABLE IF NOT EXISTS outbox_destinations (destination TEXT PRIMARY KEY, watching_since REAL NOT NULL,
                                                    sender TEXT, sender_beat REAL);
    CREATE TABLE IF NOT EXISTS outbox_cursors (destination TEXT NOT NULL, stream TEXT NOT NULL,
                                               position INTEGER NOT NULL, PRIMARY KEY (destination, stream));
    ALTER TABLE alerts ADD COLUMN escalated_at REAL;
    CREATE TABLE IF NOT EXISTS arrivals (
        id INTEGER PRIMARY KEY AUTOINCREMENT, chair TEXT NOT NULL, patient_ref TEXT NOT NULL, event TEXT,
        control_id TEXT, sender TEXT, received_at REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS arrivals_chair ON arrivals(chair, received_at);
    """,
    # 7: messages set aside (store/outbox.py `set_aside`): the head of a queue its receiver will
    # never take, moved out of the way by an administrator, kept whole with who, when and why;
    # `delivered_at` when the try on its way as it was set aside was taken after all.
    # `outbox.last_answered`: 1 when the head's last failure was the receiver's own answer (an AR,
    # an HTTP error), 0 when it could not be reached; only an answered refusal may be set aside.
    """
    CREATE TABLE IF NOT EXISTS outbox_set_aside (
        id INTEGER PRIMARY KEY AUTOINCREMENT, outbox_id INTEGER NOT NULL, destination TEXT NOT NULL,
        kind TEXT NOT NULL, message_key TEXT NOT NULL, control_id TEXT, session_id INTEGER, about_ts REAL,
        payload TEXT NOT NULL, queued_at REAL NOT NULL, attempts INTEGER NOT NULL, last_error TEXT,
        set_aside_at REAL NOT NULL, set_aside_by TEXT NOT NULL, reason TEXT NOT NULL,
        delivered_at REAL
    );
    CREATE INDEX IF NOT EXISTS outbox_set_aside_destination ON outbox_set_aside(destination, id);
    ALTER TABLE outbox ADD COLUMN last_answered INTEGER;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

# Tables whose ids the forwarder's cursors follow (store/forwarding.py). Without AUTOINCREMENT
# SQLite hands out max(id) + 1, so after the newest rows are removed (an aborted import) their
# ids would be given again, to rows a cursor already passed: before version 5 adds the site
# columns, these are rebuilt once with AUTOINCREMENT (an id is never given twice).
NEVER_REUSED_IDS = ("sessions", "readings", "alerts", "events", "audit")
# Also forward_log and the central database's `forward_sites` (version 5's script), and the
# outbox (version 6's script): all made with AUTOINCREMENT from the start.
_REBUILT_AT = 4  # before migration index 4 (version 5) runs


def _never_reuse_ids(conn: sqlite3.Connection, table: str) -> None:
    """Rebuild `table` with `id INTEGER PRIMARY KEY AUTOINCREMENT`, its rows, indexes and triggers kept."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
    if "AUTOINCREMENT" in sql.upper():
        return
    new_sql = re.sub(r"\bid INTEGER PRIMARY KEY\b", "id INTEGER PRIMARY KEY AUTOINCREMENT", sql, count=1)
    new_sql = re.sub(rf"^CREATE TABLE (IF NOT EXISTS )?{table}\b", f"CREATE TABLE {table}_rebuilt", new_sql.strip())
    kept = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN "
                                       "('index', 'trigger') AND sql IS NOT NULL", (table,))]
    conn.execute(new_sql)
    conn.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")
    conn.execute(f"DROP TABLE {table}")  # its indexes and triggers with it (a DROP fires no DELETE trigger)
    conn.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
    for statement in kept:
        conn.execute(statement)


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one: split at the semicolons that end one (a
    trigger's body has its own)."""
    out, buf = [], ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf)
            buf = ""
    return out


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to SCHEMA_VERSION; returns the version found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {found} is newer than this program ({SCHEMA_VERSION}); upgrade infusion-monitor")
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version == _REBUILT_AT:
                for table in NEVER_REUSED_IDS:
                    _never_reuse_ids(conn, table)
            for stmt in _statements(MIGRATIONS[version]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found
