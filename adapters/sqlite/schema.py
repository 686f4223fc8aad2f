"""The SQLite schema as numbered migrations, applied on open (``PRAGMA user_version``).

Migration N creates schema version N from N-1; append new ones, never edit old ones. SQLite
DDL is transactional, so a migration applies completely or not at all.
"""

from __future__ import annotations

import sqlite3

from cloudperf_core.errors import BackendConfigError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "user_version"]

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS ingested_reports (
            report_id TEXT PRIMARY KEY,
            ingested_at_ms INTEGER NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS windows (
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            window_start_s INTEGER NOT NULL,
            window_s INTEGER NOT NULL,
            sent INTEGER NOT NULL,
            received INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            rtt_sum_us INTEGER NOT NULL,
            rtt_sumsq_us2 REAL NOT NULL,
            rtt_min_us INTEGER,
            rtt_max_us INTEGER,
            jitter_sum_us INTEGER NOT NULL,
            jitter_pairs INTEGER NOT NULL,
            sketch BLOB NOT NULL,
            PRIMARY KEY (source, target, window_start_s, window_s)
        )""",
        "CREATE INDEX IF NOT EXISTS windows_by_time ON windows (window_start_s)",
    ),
    # The catalogue, and windows tagged with their destination location. Addresses are
    # packed bytes (4 for IPv4, 16 for IPv6) compared within one ip_version, so byte order
    # is numeric order; search_text is lower-cased by Python (cloudperf_core.catalog).
    2: (
        "ALTER TABLE windows ADD COLUMN dest_location_id INTEGER",
        "CREATE INDEX windows_by_dest ON windows (dest_location_id, window_start_s)",
        """CREATE INDEX windows_presence
            ON windows (window_start_s, source, target, dest_location_id)""",
        """CREATE TABLE locations (
            location_id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            country_code TEXT,
            country_name TEXT,
            city TEXT,
            asn INTEGER,
            asn_name TEXT,
            latitude REAL,
            longitude REAL,
            search_text TEXT NOT NULL
        )""",
        "CREATE INDEX locations_by_asn ON locations (asn)",
        "CREATE INDEX locations_by_city ON locations (country_code, city)",
        """CREATE TABLE address_ranges (
            ip_version INTEGER NOT NULL,
            start_addr BLOB NOT NULL,
            end_addr BLOB NOT NULL,
            location_id INTEGER NOT NULL REFERENCES locations (location_id),
            last_checked_ms INTEGER,
            queued_at_ms INTEGER,
            PRIMARY KEY (ip_version, start_addr)
        ) WITHOUT ROWID""",
        "CREATE INDEX ranges_by_location ON address_ranges (location_id)",
        "CREATE INDEX ranges_by_checked ON address_ranges (last_checked_ms)",
        """CREATE TABLE reachable_addresses (
            ip_version INTEGER NOT NULL,
            address BLOB NOT NULL,
            history INTEGER NOT NULL,
            last_seen_ms INTEGER NOT NULL,
            PRIMARY KEY (ip_version, address)
        ) WITHOUT ROWID""",
        """CREATE TABLE discovery_sweeps (
            report_id TEXT PRIMARY KEY,
            recorded_at_ms INTEGER NOT NULL
        )""",
        "CREATE TABLE catalog_groups (group_name TEXT PRIMARY KEY)",
        """CREATE TABLE location_groups (
            group_name TEXT NOT NULL REFERENCES catalog_groups (group_name),
            location_id INTEGER NOT NULL REFERENCES locations (location_id),
            PRIMARY KEY (group_name, location_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX groups_by_location ON location_groups (location_id)",
        """CREATE TABLE probes (
            probe_id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL,
            name TEXT,
            location_id INTEGER REFERENCES locations (location_id),
            enabled INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL,
            last_seen_ms INTEGER
        )""",
        """CREATE TABLE users (
            user_name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL
        )""",
        "CREATE TABLE settings (setting_key TEXT PRIMARY KEY, body BLOB NOT NULL)",
    ),
    # A digest of each report's content: a reused report id with other content is a conflict.
    3: ("ALTER TABLE ingested_reports ADD COLUMN digest BLOB",),
}
SCHEMA_VERSION = max(MIGRATIONS)
# PRAGMA takes no parameters: one constant statement per version of our own.
_SET_VERSION = {v: f"PRAGMA user_version = {int(v)}" for v in MIGRATIONS}


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the pending migrations in one transaction; the versions applied now."""
    applied: list[int] = []
    if user_version(conn) == SCHEMA_VERSION:
        return applied  # up to date: no write lock, so opening never waits for a writer
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = user_version(conn)
        if version > SCHEMA_VERSION:
            raise BackendConfigError(
                f"sqlite store has schema version {version}, newer than this cloudperf "
                f"understands ({SCHEMA_VERSION}); upgrade cloudperf"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
            applied.append(target)
        if applied:
            conn.execute(_SET_VERSION[applied[-1]])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied
