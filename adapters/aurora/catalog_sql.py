"""SQL constants of :mod:`adapters.aurora.catalog` (``%s`` parameters only, ``{}`` marks where
a run of placeholders goes; see :mod:`adapters.aurora.sql`). Column orders of the SELECT lists
match :mod:`adapters.catalog_rows`. Valid on MySQL 8 and MariaDB 10.11 alike; upserts are
keyed by dialect (:func:`adapters.aurora.sql.upsert`)."""

from __future__ import annotations

from adapters.aurora.sql import upsert

_LOC = (
    "l.location_id, l.name, l.country, l.country_name, l.city, l.asn, l.asn_name, l.latitude,"
    " l.longitude"
)
_RANGE = (
    "r.ip_version, r.start_addr, r.end_addr, l.name, l.location_id, r.last_checked_ms,"
    " r.queued_at_ms"
)
_PROBE = "p.probe_id, p.token_hash, p.name, l.name, p.enabled, p.created_at_ms, p.last_seen_ms"
# Keyset continuation after (ip_version, packed address), written out so the index applies.
_AFTER_RANGE = "(r.ip_version > %s OR (r.ip_version = %s AND r.start_addr > %s))"

# --- locations -------------------------------------------------------------------------------

UPSERT_LOCATIONS = upsert(
    "INSERT INTO locations (name, country, country_name, city, asn, asn_name, latitude,"
    " longitude, search_text) VALUES {}",
    "country = NEW(country), country_name = NEW(country_name), city = NEW(city),"
    " asn = NEW(asn), asn_name = NEW(asn_name), latitude = NEW(latitude),"
    " longitude = NEW(longitude), search_text = NEW(search_text)",
)
SELECT_LOCATION_IDS = "SELECT name, location_id FROM locations WHERE name IN ({})"
GET_LOCATION = f"SELECT {_LOC} FROM locations l WHERE l.name = %s"  # noqa: S608 - constant columns, no values
LOCATIONS_BY_ID = f"SELECT {_LOC} FROM locations l WHERE l.location_id IN ({{}})"  # noqa: S608 - constant columns, no values
LIST_LOCATIONS = f"SELECT {_LOC} FROM locations l WHERE l.name > %s ORDER BY l.name LIMIT %s"  # noqa: S608 - constant columns, no values
FIND_LOCATIONS = f"SELECT {_LOC} FROM locations l WHERE 1 = 1"  # noqa: S608 - constant columns, no values
AND_NAME_IN = " AND l.name IN ({})"
AND_COUNTRY_IN = " AND l.country IN ({})"
AND_CITY_IN = " AND l.city IN ({})"  # a superset: the country part is checked after
AND_ASN_IN = " AND l.asn IN ({})"
AND_GROUP_IN = (
    " AND l.location_id IN (SELECT location_id FROM location_groups WHERE group_name IN ({}))"
)
ORDER_BY_NAME = " ORDER BY l.name"
# search_text is lower-cased by the application and compared byte for byte (utf8mb4_bin):
# the same answer on MySQL 8 and MariaDB, no collation involved.
SEARCH = f"SELECT {_LOC} FROM locations l WHERE l.name > %s"  # noqa: S608 - constant columns, no values
AND_SEARCH_TERM = " AND l.search_text LIKE %s ESCAPE '!'"
ORDER_BY_NAME_LIMIT = " ORDER BY l.name LIMIT %s"

# list_places: one statement per kind, keyset on the grouped columns (indexed).
LIST_PLACES = {
    "country": (
        "SELECT l.country, MAX(l.country_name), COUNT(*) FROM locations l"
        " WHERE l.country IS NOT NULL AND l.country > %s"
        " GROUP BY l.country ORDER BY l.country LIMIT %s"
    ),
    "city": (
        "SELECT COALESCE(l.country, ''), l.city, COUNT(*) FROM locations l"
        " WHERE l.city IS NOT NULL AND (COALESCE(l.country, '') > %s"
        " OR (COALESCE(l.country, '') = %s AND l.city > %s))"
        " GROUP BY COALESCE(l.country, ''), l.city ORDER BY 1, 2 LIMIT %s"
    ),
    "asn": (
        "SELECT l.asn, MAX(l.asn_name), COUNT(*) FROM locations l"
        " WHERE l.asn IS NOT NULL AND l.asn > %s GROUP BY l.asn ORDER BY l.asn LIMIT %s"
    ),
}

# --- ranges ----------------------------------------------------------------------------------

UPSERT_RANGES = upsert(
    "INSERT INTO address_ranges (ip_version, start_addr, end_addr, location_id) VALUES {}",
    "end_addr = NEW(end_addr), location_id = NEW(location_id)",
)
LIST_RANGES = (
    f"SELECT {_RANGE} FROM address_ranges r JOIN locations l"  # noqa: S608 - constant columns, no values
    f" ON l.location_id = r.location_id WHERE {_AFTER_RANGE}"
)
AND_RANGE_OF_LOCATION = " AND l.name = %s"
ORDER_RANGES = " ORDER BY r.ip_version, r.start_addr LIMIT %s"
# One indexed probe per address, many in one statement (one round trip per few hundred).
LOCATE_ONE = (
    f"(SELECT %s AS ip_version, %s AS addr, r.end_addr, {_LOC} FROM address_ranges r"  # noqa: S608 - constant columns, no values
    " JOIN locations l ON l.location_id = r.location_id"
    " WHERE r.ip_version = %s AND r.start_addr <= %s ORDER BY r.start_addr DESC LIMIT 1)"
)
RANGES_DUE = (
    f"SELECT {_RANGE} FROM address_ranges r JOIN locations l"  # noqa: S608 - constant columns, no values
    " ON l.location_id = r.location_id"
    " WHERE (r.last_checked_ms IS NULL OR r.last_checked_ms < %s)"
    " AND (r.queued_at_ms IS NULL OR r.queued_at_ms < %s)"
    " ORDER BY r.last_checked_ms, r.ip_version, r.start_addr LIMIT %s"
)
MARK_QUEUED = (
    "UPDATE address_ranges SET queued_at_ms = %s WHERE ip_version = %s AND start_addr IN ({})"
)

# --- groups ----------------------------------------------------------------------------------

LIST_GROUPS = "SELECT group_name FROM catalog_groups ORDER BY group_name"
GET_GROUP = "SELECT group_name FROM catalog_groups WHERE group_name = %s"
ALL_MEMBERS = (
    "SELECT g.group_name, l.name FROM location_groups g"
    " JOIN locations l ON l.location_id = g.location_id ORDER BY g.group_name, l.name"
)
MEMBERS = (
    "SELECT l.name FROM location_groups g JOIN locations l ON l.location_id = g.location_id"
    " WHERE g.group_name = %s ORDER BY l.name"
)
INSERT_GROUP = "INSERT IGNORE INTO catalog_groups (group_name) VALUES (%s)"
DELETE_MEMBERS = "DELETE FROM location_groups WHERE group_name = %s"
DELETE_GROUP = "DELETE FROM catalog_groups WHERE group_name = %s"
INSERT_MEMBERS = "INSERT INTO location_groups (group_name, location_id) VALUES {}"

# --- discovery: the SQL form of cloudperf_core.catalog.sweep_histories ----------------------
# Shift every tracked address of the range, upsert the found ones with bit 3 set (new ones
# start at 1000b), delete the ones that reached 0.

SWEEP_SEEN = "SELECT report_id FROM discovery_sweeps WHERE report_id = %s FOR UPDATE"
INSERT_SWEEP = "INSERT INTO discovery_sweeps (report_id, recorded_at_ms) VALUES (%s, %s)"
SHIFT_HISTORY = (
    "UPDATE reachable_addresses SET history = history >> 1"
    " WHERE ip_version = %s AND address BETWEEN %s AND %s"
)
UPSERT_FOUND = upsert(
    "INSERT INTO reachable_addresses (ip_version, address, history, last_seen_ms) VALUES {}",
    "history = history | NEW(history), last_seen_ms = GREATEST(last_seen_ms, NEW(last_seen_ms))",
)
FORGET_SILENT = (
    "DELETE FROM reachable_addresses"
    " WHERE ip_version = %s AND address BETWEEN %s AND %s AND history = 0"
)
TOUCH_RANGES = (
    "UPDATE address_ranges SET last_checked_ms = GREATEST(COALESCE(last_checked_ms, %s), %s)"
    " WHERE ip_version = %s AND start_addr <= %s AND end_addr >= %s"
)
REACHABLE_OF_LOCATION = (
    "SELECT DISTINCT a.ip_version, a.address, a.history, a.last_seen_ms"
    " FROM address_ranges r JOIN reachable_addresses a ON a.ip_version = r.ip_version"
    " AND a.address BETWEEN r.start_addr AND r.end_addr"
    " WHERE r.location_id = %s AND (a.ip_version > %s OR (a.ip_version = %s AND a.address > %s))"
    " ORDER BY a.ip_version, a.address LIMIT %s"
)
REACHABLE_LOCATIONS = (
    "SELECT DISTINCT l.name FROM address_ranges r JOIN locations l"
    " ON l.location_id = r.location_id"
    " WHERE r.last_checked_ms IS NOT NULL AND l.name > %s AND EXISTS (SELECT 1"
    " FROM reachable_addresses a WHERE a.ip_version = r.ip_version"
    " AND a.address BETWEEN r.start_addr AND r.end_addr AND a.history >= %s)"
    " ORDER BY l.name LIMIT %s"
)

# --- probes, users, settings -----------------------------------------------------------------

UPSERT_PROBE = upsert(
    "INSERT INTO probes (probe_id, token_hash, name, location_id, enabled, created_at_ms,"
    " last_seen_ms) VALUES (%s, %s, %s, %s, %s, %s, %s)",
    "token_hash = NEW(token_hash), name = NEW(name), location_id = NEW(location_id),"
    " enabled = NEW(enabled), created_at_ms = NEW(created_at_ms),"
    " last_seen_ms = NEW(last_seen_ms)",
)
_PROBES = f"SELECT {_PROBE} FROM probes p LEFT JOIN locations l ON l.location_id = p.location_id"  # noqa: S608 - constant columns, no values
GET_PROBE = _PROBES + " WHERE p.probe_id = %s"
LIST_PROBES = _PROBES + " WHERE p.probe_id > %s ORDER BY p.probe_id LIMIT %s"
TOUCH_PROBE = (
    "UPDATE probes SET last_seen_ms = GREATEST(COALESCE(last_seen_ms, %s), %s) WHERE probe_id = %s"
)
PROBE_EXISTS = "SELECT probe_id FROM probes WHERE probe_id = %s"
UPSERT_USER = upsert(
    "INSERT INTO users (user_name, password_hash, role) VALUES (%s, %s, %s)",
    "password_hash = NEW(password_hash), role = NEW(role)",
)
GET_USER = "SELECT user_name, password_hash, role FROM users WHERE user_name = %s"
LIST_USERS = (
    "SELECT user_name, password_hash, role FROM users WHERE user_name > %s"
    " ORDER BY user_name LIMIT %s"
)
DELETE_USER = "DELETE FROM users WHERE user_name = %s"
GET_SETTINGS = "SELECT body FROM settings WHERE setting_key = %s"
UPSERT_SETTINGS = upsert(
    "INSERT INTO settings (setting_key, body) VALUES (%s, %s)", "body = NEW(body)"
)

# --- status ----------------------------------------------------------------------------------

COUNT_LOCATIONS = "SELECT COUNT(*) FROM locations"
RANGE_COUNTS = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN last_checked_ms >= %s THEN 1 ELSE 0 END), 0),"
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
