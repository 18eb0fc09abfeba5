"""Database schema as an ordered list of migrations.

Each migration runs once, inside one transaction, and is recorded in
``schema_migrations``. New tables and columns are added as new migrations at
the end of the list; existing ones are never edited once released.
"""

from __future__ import annotations

import datetime as dt

import sqlite_utils

from .database import write_transaction

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_records",
        """
        CREATE TABLE denials (
            uid TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            ref TEXT NOT NULL,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            sensitivity TEXT NOT NULL,
            destination_country TEXT,
            regimes TEXT NOT NULL,
            denied_on TEXT,
            review_due TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            party_text TEXT NOT NULL DEFAULT '',
            content_hash TEXT NOT NULL,
            doc TEXT NOT NULL,
            UNIQUE (origin, ref)
        );
        CREATE INDEX denials_status ON denials (status, origin);
        CREATE INDEX denials_country ON denials (destination_country);
        CREATE INDEX denials_updated ON denials (updated_at);
        CREATE INDEX denials_review ON denials (review_due) WHERE status = 'active';
        CREATE TABLE denial_versions (
            uid TEXT NOT NULL,
            version INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            doc TEXT NOT NULL,
            PRIMARY KEY (uid, version)
        ) WITHOUT ROWID;
        CREATE TABLE licences (
            uid TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            number TEXT NOT NULL,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            type TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_to TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            doc TEXT NOT NULL,
            UNIQUE (origin, number)
        );
        CREATE INDEX licences_status ON licences (status);
        CREATE TABLE licence_versions (
            uid TEXT NOT NULL,
            version INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            doc TEXT NOT NULL,
            PRIMARY KEY (uid, version)
        ) WITHOUT ROWID;
        CREATE TABLE licence_lines (
            licence_uid TEXT NOT NULL REFERENCES licences (uid),
            line_no INTEGER NOT NULL,
            control_entry TEXT,
            cn_code TEXT NOT NULL,
            unit TEXT NOT NULL,
            currency TEXT,
            quantity TEXT NOT NULL,
            value TEXT,
            balance_quantity TEXT NOT NULL,
            balance_value TEXT,
            PRIMARY KEY (licence_uid, line_no)
        ) WITHOUT ROWID;
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_type TEXT NOT NULL,
            uid TEXT NOT NULL,
            version INTEGER NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX changes_uid ON changes (uid);
        """,
    ),
    (
        "0002_access",
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}',
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE TABLE api_clients (
            client_id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            secret_hash TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE tokens (
            token_hash TEXT PRIMARY KEY,
            client_id TEXT NOT NULL REFERENCES api_clients (client_id),
            scope TEXT NOT NULL,
            issued_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX tokens_expiry ON tokens (expires_at);
        """,
    ),
    (
        "0003_federation",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE peers (
            node_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            base_url TEXT NOT NULL,
            role TEXT NOT NULL,
            identity TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            removed_at TEXT
        );
        CREATE TABLE peer_state (
            node_id TEXT PRIMARY KEY,
            push_cursor INTEGER NOT NULL DEFAULT 0,
            pull_cursor TEXT,
            last_push_ok TEXT,
            last_pull_ok TEXT,
            last_served_pull TEXT,
            last_received TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            pull_failures INTEGER NOT NULL DEFAULT 0,
            last_pull_error TEXT
        );
        CREATE TABLE nonces (
            keyid TEXT NOT NULL,
            nonce TEXT NOT NULL,
            created INTEGER NOT NULL,
            PRIMARY KEY (keyid, nonce)
        ) WITHOUT ROWID;
        CREATE INDEX nonces_created ON nonces (created);
        CREATE TABLE holdings (
            peer TEXT NOT NULL,
            uid TEXT NOT NULL,
            record_type TEXT NOT NULL,
            version INTEGER NOT NULL,
            rev INTEGER NOT NULL,
            kind TEXT NOT NULL,
            view_hash TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (peer, uid)
        ) WITHOUT ROWID;
        CREATE TABLE disclosures (
            id INTEGER PRIMARY KEY,
            peer TEXT NOT NULL,
            record_type TEXT NOT NULL,
            uid TEXT NOT NULL,
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            view_hash TEXT NOT NULL,
            channel TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX disclosures_peer ON disclosures (peer, id);
        CREATE TABLE received (
            uid TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            record_type TEXT NOT NULL,
            version INTEGER NOT NULL,
            rev INTEGER NOT NULL,
            kind TEXT NOT NULL,
            received_at TEXT NOT NULL,
            signature TEXT
        );
        CREATE INDEX received_origin ON received (origin);
        CREATE TABLE refusals (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            peer TEXT,
            code TEXT NOT NULL,
            path TEXT NOT NULL
        );
        """,
    ),
    (
        "0004_screening",
        """
        CREATE TABLE party_names (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL,
            party INTEGER NOT NULL,
            role TEXT NOT NULL,
            text TEXT NOT NULL,
            forms TEXT
        );
        CREATE INDEX party_names_uid ON party_names (uid);
        CREATE TABLE index_feed (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL
        );
        """,
    ),
    (
        "0005_customs",
        """
        CREATE TABLE customs_checks (
            id INTEGER PRIMARY KEY,
            declaration_ref TEXT NOT NULL,
            kind TEXT NOT NULL,
            reversal_of INTEGER REFERENCES customs_checks (id),
            licence_uid TEXT NOT NULL REFERENCES licences (uid),
            licence_number TEXT NOT NULL,
            line_no INTEGER NOT NULL,
            customs_office TEXT NOT NULL,
            result TEXT NOT NULL,
            cn_code TEXT,
            destination TEXT,
            quantity TEXT NOT NULL,
            unit TEXT NOT NULL,
            value TEXT,
            currency TEXT,
            written_quantity TEXT NOT NULL,
            written_value TEXT,
            problem_fields TEXT NOT NULL,
            declared_at TEXT NOT NULL,
            checked_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            answer TEXT NOT NULL
        );
        CREATE UNIQUE INDEX customs_checks_ref ON customs_checks (declaration_ref) WHERE kind = 'check';
        CREATE UNIQUE INDEX customs_checks_reversal ON customs_checks (reversal_of) WHERE kind = 'reversal';
        CREATE INDEX customs_checks_licence ON customs_checks (licence_uid, line_no, id);
        CREATE INDEX customs_checks_declared ON customs_checks (declared_at, customs_office);
        """,
    ),
    (
        "0007_health",
        """
        CREATE TABLE health_samples (
            id INTEGER PRIMARY KEY,
            member TEXT NOT NULL,
            polled_at TEXT NOT NULL,
            status TEXT NOT NULL,
            reasons TEXT NOT NULL DEFAULT '[]',
            elapsed_ms INTEGER,
            error TEXT,
            max_lag_seconds INTEGER,
            failing_links INTEGER,
            report TEXT
        );
        CREATE INDEX health_samples_member ON health_samples (member, polled_at);
        CREATE INDEX health_samples_polled ON health_samples (polled_at);
        """,
    ),
    (
        "0006_consultations",
        """
        CREATE TABLE consultations (
            uid TEXT PRIMARY KEY,
            direction TEXT NOT NULL,
            requesting_state TEXT NOT NULL,
            consulted_state TEXT NOT NULL,
            peer TEXT NOT NULL,
            status TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            response_due TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            licence_number TEXT,
            doc TEXT NOT NULL
        );
        CREATE INDEX consultations_status ON consultations (status, response_due);
        CREATE TABLE consultation_deliveries (
            id INTEGER PRIMARY KEY,
            consultation_uid TEXT NOT NULL,
            peer TEXT NOT NULL,
            event TEXT NOT NULL,
            event_uid TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT,
            last_error TEXT,
            done_at TEXT
        );
        CREATE INDEX consultation_deliveries_queue ON consultation_deliveries (peer, state, id);
        CREATE TABLE consultation_delivery_leases (
            peer TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            until TEXT NOT NULL
        );
        CREATE TABLE licence_flags (
            licence_uid TEXT NOT NULL,
            licence_number TEXT NOT NULL,
            denial_uid TEXT NOT NULL,
            denial_origin TEXT NOT NULL,
            score REAL NOT NULL,
            detail TEXT NOT NULL,
            flagged_at TEXT NOT NULL,
            consultation_uid TEXT,
            PRIMARY KEY (licence_uid, denial_uid)
        );
        CREATE INDEX licence_flags_number ON licence_flags (licence_number);
        """,
    ),
    (
        "0008_users",
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY COLLATE NOCASE,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            disabled_at TEXT,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            last_failed_at TEXT,
            locked_until TEXT,
            last_login_at TEXT
        );
        CREATE TABLE web_sessions (
            sid_hash TEXT PRIMARY KEY,
            user_name TEXT,
            data TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_seen INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX web_sessions_seen ON web_sessions (last_seen);
        CREATE INDEX web_sessions_user ON web_sessions (user_name);
        """,
    ),
    (
        "0009_pending_names",
        """
        CREATE INDEX party_names_pending ON party_names (id) WHERE forms IS NULL;
        """,
    ),
    (
        "0010_current_versions_once",
        """
        DELETE FROM denial_versions WHERE EXISTS (SELECT 1 FROM denials d
            WHERE d.uid = denial_versions.uid AND d.version = denial_versions.version);
        DELETE FROM licence_versions WHERE EXISTS (SELECT 1 FROM licences l
            WHERE l.uid = licence_versions.uid AND l.version = licence_versions.version);
        """,
    ),
    (
        # Raised by every reset of the pull cursor (cordon policy apply): a pull moves the cursor only while
        # the epoch it began in lasts.
        "0011_pull_epoch",
        """
        ALTER TABLE peer_state ADD COLUMN pull_epoch INTEGER NOT NULL DEFAULT 0;
        UPDATE peer_state SET pull_cursor = NULL, pull_epoch = 1 WHERE pull_cursor = '';
        """,
    ),
]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM schema_migrations").fetchall()}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        with write_transaction(db):
            # Another process may have applied it since we looked: check again under the write lock.
            if db.execute("SELECT 1 FROM schema_migrations WHERE name = ?", [name]).fetchone():
                continue
            for statement in _statements(sql):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                [name, dt.datetime.now(dt.timezone.utc).isoformat()],
            )
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    return [part.strip() for part in sql.split(";") if part.strip()]
