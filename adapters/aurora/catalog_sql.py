"""SQL constants of :mod:`adapters.aurora.catalog` (``%s`` parameters only, ``{}`` marks where
a run of placeholders goes; see :mod:`adapters.aurora.sql`)."""

from __future__ import annotations

from adapters.aurora.sql import WINDOW_COLUMNS

_LOCATION_COLUMNS = "location_id, name, country, city, asn, latitude, longitude"

UPSERT_LOCATIONS = (
    "INSERT INTO locations (name, country, city, asn, latitude, longitude) VALUES {}"
    " ON DUPLICATE KEY UPDATE country = VALUES(country), city = VALUES(city),"
    " asn = VALUES(asn), latitude = VALUES(latitude), longitude = VALUES(longitude)"
)
SELECT_LOCATION_IDS = "SELECT name, location_id FROM locations WHERE name IN ({})"
UPSERT_RANGES = (
    "INSERT INTO address_ranges (ip_version, start_addr, end_addr, location_id) VALUES {}"
    " ON DUPLICATE KEY UPDATE end_addr = VALUES(end_addr), location_id = VALUES(location_id)"
)
LOCATE = (
    "SELECT l.location_id, l.name, l.country, l.city, l.asn, l.latitude, l.longitude,"
    " r.end_addr FROM address_ranges r JOIN locations l ON l.location_id = r.location_id"
    " WHERE r.ip_version = %s AND r.start_addr <= %s ORDER BY r.start_addr DESC LIMIT 1"
)
SELECT_LOCATIONS = f"SELECT {_LOCATION_COLUMNS} FROM locations WHERE 1 = 1"  # noqa: S608 - constant columns, no values
AND_ASN = " AND asn = %s"
AND_NAME_LIKE = " AND name LIKE %s"
ORDER_LOCATIONS = " ORDER BY name LIMIT %s"

DELETE_GROUP = "DELETE FROM location_groups WHERE group_name = %s"
INSERT_GROUP = "INSERT INTO location_groups (group_name, location_id) VALUES {}"
SELECT_GROUP = (
    "SELECT l.name FROM location_groups g JOIN locations l ON l.location_id = g.location_id"
    " WHERE g.group_name = %s ORDER BY l.name"
)

# Discovery: shift every tracked address of the range, then set bit 3 for the ones seen.
SHIFT_HISTORY = (
    "UPDATE reachable_addresses SET history = history >> 1"
    " WHERE ip_version = %s AND address BETWEEN %s AND %s"
)
UPSERT_SEEN = (
    "INSERT INTO reachable_addresses (ip_version, address, history, last_seen_s) VALUES {}"
    " ON DUPLICATE KEY UPDATE history = history | VALUES(history),"
    " last_seen_s = VALUES(last_seen_s)"
)
DELETE_DEAD = (
    "DELETE FROM reachable_addresses"
    " WHERE ip_version = %s AND address BETWEEN %s AND %s AND history = 0"
)
TOUCH_RANGES = (
    "UPDATE address_ranges SET last_checked_s = %s"
    " WHERE ip_version = %s AND start_addr >= %s AND end_addr <= %s"
)
SELECT_REACHABLE = (
    "SELECT address, history FROM reachable_addresses"
    " WHERE ip_version = %s AND address BETWEEN %s AND %s ORDER BY address"
)

UPSERT_PROBE = (
    "INSERT INTO probes (probe_id, token_hash, location_id, role, last_seen_s)"
    " VALUES (%s, %s, (SELECT location_id FROM locations WHERE name = %s), %s, %s)"
    " ON DUPLICATE KEY UPDATE token_hash = VALUES(token_hash),"
    " location_id = VALUES(location_id), role = VALUES(role)"
)
SELECT_PROBE = (
    "SELECT p.probe_id, p.token_hash, p.role, l.name, p.last_seen_s FROM probes p"
    " LEFT JOIN locations l ON l.location_id = p.location_id WHERE p.probe_id = %s"
)
TOUCH_PROBE = "UPDATE probes SET last_seen_s = %s WHERE probe_id = %s"
UPSERT_USER = (
    "INSERT INTO users (user_name, password_hash, role) VALUES (%s, %s, %s)"
    " ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), role = VALUES(role)"
)
SELECT_USER = "SELECT user_name, password_hash, role FROM users WHERE user_name = %s"

_M_COLUMNS = ", ".join(f"m.{c.strip()}" for c in WINDOW_COLUMNS.split(","))
SELECT_WINDOWS_WITH_DEST = (
    f"SELECT {_M_COLUMNS}, l.asn, l.country, l.city, l.name FROM measurements m"  # noqa: S608 - constant columns, no values
    " LEFT JOIN locations l ON l.location_id = m.dest_location_id WHERE 1 = 1"
)
AND_M_SOURCE_IN = " AND m.source IN ({})"
AND_M_TARGET_IN = " AND m.target IN ({})"
AND_M_SINCE = " AND m.window_start_s >= %s"
AND_M_UNTIL = " AND m.window_start_s < %s"
