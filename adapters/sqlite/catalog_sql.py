"""SQL of :mod:`adapters.sqlite.catalog`: constants with ``?`` parameters; ``{marks}`` is
where a run of placeholders goes (never values)."""

from __future__ import annotations

_LOC = "l.location_id, l.name, l.country_code, l.country_name, l.city, l.asn, l.asn_name, l.latitude, l.longitude"  # noqa: E501
_RANGE = "r.ip_version, r.start_addr, r.end_addr, l.name, l.location_id, r.last_checked_ms, r.queued_at_ms"  # noqa: E501
_PROBE = "p.probe_id, p.token_hash, p.name, l.name, p.enabled, p.created_at_ms, p.last_seen_ms"
# Keyset continuation after (ip_version, packed address); written out so indexes apply.
_AFTER_RANGE = "(r.ip_version > ? OR (r.ip_version = ? AND r.start_addr > ?))"

# --- locations -------------------------------------------------------------------------------

UPSERT_LOCATION = (
    "INSERT INTO locations (name, country_code, country_name, city, asn, asn_name, latitude,"
    " longitude, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE"
    " SET country_code = excluded.country_code, country_name = excluded.country_name,"
    " city = excluded.city, asn = excluded.asn, asn_name = excluded.asn_name,"
    " latitude = excluded.latitude, longitude = excluded.longitude,"
    " search_text = excluded.search_text"
)
SELECT_LOCATION_IDS = "SELECT name, location_id FROM locations WHERE name IN ({marks})"
GET_LOCATION = f"SELECT {_LOC} FROM locations l WHERE l.name = ?"  # noqa: S608 - constant columns, no values
LOCATIONS_BY_ID = f"SELECT {_LOC} FROM locations l WHERE l.location_id IN ({{marks}})"  # noqa: S608 - constant columns, no values
LIST_LOCATIONS = f"SELECT {_LOC} FROM locations l WHERE l.name > ? ORDER BY l.name LIMIT ?"  # noqa: S608 - constant columns, no values
FIND_LOCATIONS = f"SELECT {_LOC} FROM locations l WHERE 1 = 1"  # noqa: S608 - constant columns, no values
AND_NAME_IN = " AND l.name IN ({marks})"
AND_COUNTRY_IN = " AND l.country_code IN ({marks})"
AND_CITY_IN = " AND l.city IN ({marks})"  # a superset: the country part is checked after
AND_ASN_IN = " AND l.asn IN ({marks})"
AND_GROUP_IN = (
    " AND l.location_id IN (SELECT location_id FROM location_groups WHERE group_name IN ({marks}))"
)
ORDER_BY_NAME = " ORDER BY l.name"
SEARCH = f"SELECT {_LOC} FROM locations l WHERE l.name > ?"  # noqa: S608 - constant columns, no values
AND_SEARCH_TERM = " AND l.search_text LIKE ? ESCAPE '!'"
ORDER_BY_NAME_LIMIT = " ORDER BY l.name LIMIT ?"

# list_places: one statement per kind, keyset on the grouped columns (indexed).
LIST_PLACES = {
    "country": (
        "SELECT l.country_code, MAX(l.country_name), COUNT(*) FROM locations l"
        " WHERE l.country_code IS NOT NULL AND l.country_code > ?"
        " GROUP BY l.country_code ORDER BY l.country_code LIMIT ?"
    ),
    "city": (
        "SELECT COALESCE(l.country_code, ''), l.city, COUNT(*) FROM locations l"
        " WHERE l.city IS NOT NULL AND (COALESCE(l.country_code, '') > ?"
        " OR (COALESCE(l.country_code, '') = ? AND l.city > ?))"
        " GROUP BY COALESCE(l.country_code, ''), l.city ORDER BY 1, 2 LIMIT ?"
    ),
    "asn": (
        "SELECT l.asn, MAX(l.asn_name), COUNT(*) FROM locations l"
        " WHERE l.asn IS NOT NULL AND l.asn > ? GROUP BY l.asn ORDER BY l.asn LIMIT ?"
    ),
}

# --- ranges ----------------------------------------------------------------------------------

UPSERT_RANGE = (
    "INSERT INTO address_ranges (ip_version, start_addr, end_addr, location_id)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (ip_version, start_addr) DO UPDATE"
    " SET end_addr = excluded.end_addr, location_id = excluded.location_id"
)
LIST_RANGES = (
    f"SELECT {_RANGE} FROM address_ranges r JOIN locations l"  # noqa: S608 - constant columns, no values
    f" ON l.location_id = r.location_id WHERE {_AFTER_RANGE}"
)
AND_RANGE_OF_LOCATION = " AND l.name = ?"
ORDER_RANGES = " ORDER BY r.ip_version, r.start_addr LIMIT ?"
LOCATE = (
    f"SELECT r.end_addr, {_LOC} FROM address_ranges r JOIN locations l"  # noqa: S608 - constant columns, no values
    " ON l.location_id = r.location_id WHERE r.ip_version = ? AND r.start_addr <= ?"
    " ORDER BY r.start_addr DESC LIMIT 1"
)
RANGES_DUE = (
    f"SELECT {_RANGE} FROM address_ranges r JOIN locations l"  # noqa: S608 - constant columns, no values
    " ON l.location_id = r.location_id"
    " WHERE (r.last_checked_ms IS NULL OR r.last_checked_ms < ?)"
    " AND (r.queued_at_ms IS NULL OR r.queued_at_ms < ?)"
    " ORDER BY r.last_checked_ms, r.ip_version, r.start_addr LIMIT ?"
)
MARK_QUEUED = "UPDATE address_ranges SET queued_at_ms = ? WHERE ip_version = ? AND start_addr = ?"

# --- groups ----------------------------------------------------------------------------------

LIST_GROUPS = "SELECT group_name FROM catalog_groups ORDER BY group_name"
GET_GROUP = "SELECT group_name FROM catalog_groups WHERE group_name = ?"
ALL_MEMBERS = (
    "SELECT g.group_name, l.name FROM location_groups g"
    " JOIN locations l ON l.location_id = g.location_id ORDER BY g.group_name, l.name"
)
MEMBERS = (
    "SELECT l.name FROM location_groups g JOIN locations l ON l.location_id = g.location_id"
    " WHERE g.group_name = ? ORDER BY l.name"
)
INSERT_GROUP = "INSERT OR IGNORE INTO catalog_groups (group_name) VALUES (?)"
DELETE_MEMBERS = "DELETE FROM location_groups WHERE group_name = ?"
DELETE_GROUP = "DELETE FROM catalog_groups WHERE group_name = ?"
INSERT_MEMBER = "INSERT INTO location_groups (group_name, location_id) VALUES (?, ?)"

# --- discovery -------------------------------------------------------------------------------

SWEEP_SEEN = "SELECT 1 FROM discovery_sweeps WHERE report_id = ?"
INSERT_SWEEP = "INSERT INTO discovery_sweeps (report_id, recorded_at_ms) VALUES (?, ?)"
TRACKED_IN = (
    "SELECT address, history FROM reachable_addresses"
    " WHERE ip_version = ? AND address BETWEEN ? AND ?"
)
SET_HISTORY = "UPDATE reachable_addresses SET history = ? WHERE ip_version = ? AND address = ?"
UPSERT_FOUND = (
    "INSERT INTO reachable_addresses (ip_version, address, history, last_seen_ms)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (ip_version, address) DO UPDATE"
    " SET history = excluded.history, last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)"
)
FORGET = "DELETE FROM reachable_addresses WHERE ip_version = ? AND address = ?"
TOUCH_RANGES = (
    "UPDATE address_ranges SET last_checked_ms = max(coalesce(last_checked_ms, ?), ?)"
    " WHERE ip_version = ? AND start_addr <= ? AND end_addr >= ?"
)
REACHABLE_OF_LOCATION = (
    "SELECT DISTINCT a.ip_version, a.address, a.history, a.last_seen_ms"
    " FROM address_ranges r JOIN reachable_addresses a ON a.ip_version = r.ip_version"
    " AND a.address BETWEEN r.start_addr AND r.end_addr"
    " WHERE r.location_id = ? AND (a.ip_version > ? OR (a.ip_version = ? AND a.address > ?))"
    " ORDER BY a.ip_version, a.address LIMIT ?"
)
REACHABLE_LOCATIONS = (
    "SELECT DISTINCT l.name FROM address_ranges r JOIN locations l"
    " ON l.location_id = r.location_id"
    " WHERE r.last_checked_ms IS NOT NULL AND l.name > ? AND EXISTS (SELECT 1"
    " FROM reachable_addresses a WHERE a.ip_version = r.ip_version"
    " AND a.address BETWEEN r.start_addr AND r.end_addr AND a.history >= ?)"
    " ORDER BY l.name LIMIT ?"
)

# --- probes, users, settings -----------------------------------------------------------------

UPSERT_PROBE = (
    "INSERT INTO probes (probe_id, token_hash, name, location_id, enabled, created_at_ms,"
    " last_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (probe_id) DO UPDATE"
    " SET token_hash = excluded.token_hash, name = excluded.name,"
    " location_id = excluded.location_id, enabled = excluded.enabled,"
    " created_at_ms = excluded.created_at_ms, last_seen_ms = excluded.last_seen_ms"
)
_PROBES = f"SELECT {_PROBE} FROM probes p LEFT JOIN locations l ON l.location_id = p.location_id"  # noqa: S608 - constant columns, no values
GET_PROBE = _PROBES + " WHERE p.probe_id = ?"
LIST_PROBES = _PROBES + " WHERE p.probe_id > ? ORDER BY p.probe_id LIMIT ?"
TOUCH_PROBE = (
    "UPDATE probes SET last_seen_ms = max(coalesce(last_seen_ms, ?), ?) WHERE probe_id = ?"
)
UPSERT_USER = (
    "INSERT INTO users (user_name, password_hash, role) VALUES (?, ?, ?)"
    " ON CONFLICT (user_name) DO UPDATE"
    " SET password_hash = excluded.password_hash, role = excluded.role"
)
GET_USER = "SELECT user_name, password_hash, role FROM users WHERE user_name = ?"
LIST_USERS = (
    "SELECT user_name, password_hash, role FROM users WHERE user_name > ?"
    " ORDER BY user_name LIMIT ?"
)
DELETE_USER = "DELETE FROM users WHERE user_name = ?"
GET_SETTINGS = "SELECT body FROM settings WHERE setting_key = ?"
UPSERT_SETTINGS = (
    "INSERT INTO settings (setting_key, body) VALUES (?, ?)"
    " ON CONFLICT (setting_key) DO UPDATE SET body = excluded.body"
)

# --- status ----------------------------------------------------------------------------------

COUNT_LOCATIONS = "SELECT COUNT(*) FROM locations"
RANGE_COUNTS = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN last_checked_ms >= ? THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN queued_at_ms IS NOT NULL AND (last_checked_ms IS NULL"
    " OR queued_at_ms > last_checked_ms) THEN 1 ELSE 0 END), 0) FROM address_ranges"
)
ADDRESS_COUNTS = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN history = 8 THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN history = 15 THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN history < 8 THEN 1 ELSE 0 END), 0) FROM reachable_addresses"
)
PROBE_COUNTS = "SELECT COUNT(*), COALESCE(SUM(enabled), 0) FROM probes"
COUNT_USERS = "SELECT COUNT(*) FROM users"
COUNT_GROUPS = "SELECT COUNT(*) FROM catalog_groups"
