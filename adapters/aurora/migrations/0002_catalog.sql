-- cloudperf schema v2: the catalogue behind the Catalog port (country, city and ASN names,
-- search text, millisecond times, probe state, groups that may be empty, settings,
-- idempotent discovery sweeps) and an index for "which places have data in a time range".
-- Valid on MySQL 8 / Aurora MySQL 3 and MariaDB 10.11 alike. MySQL 8 has no
-- ADD COLUMN IF NOT EXISTS, so every ALTER or data move runs as a prepared statement that
-- does nothing ('DO 0') once information_schema shows it has been done: a migration
-- interrupted halfway is safe to run again. Existing rows are kept (seconds become ms).

-- locations: names of the country and the ASN, and the lower-cased text search matches
-- (computed by the application; backfilled here for rows written by schema v1).
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'locations'
    AND column_name = 'search_text') = 0,
  'ALTER TABLE locations ADD COLUMN country_name VARCHAR(255) NULL AFTER country, ADD COLUMN asn_name VARCHAR(255) NULL AFTER asn, ADD COLUMN search_text VARCHAR(1200) NULL',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;
UPDATE locations SET search_text = LOWER(CONCAT_WS(' ', name, CONCAT('as', asn), country, city))
  WHERE search_text IS NULL;

-- address_ranges: last sweep and last queueing in milliseconds.
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'address_ranges'
    AND column_name = 'last_checked_ms') = 0,
  'ALTER TABLE address_ranges ADD COLUMN last_checked_ms BIGINT NULL, ADD COLUMN queued_at_ms BIGINT NULL, ADD KEY ix_ranges_checked_ms (last_checked_ms)',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'address_ranges'
    AND column_name = 'last_checked_s') = 1,
  'UPDATE address_ranges SET last_checked_ms = last_checked_s * 1000 WHERE last_checked_ms IS NULL',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'address_ranges'
    AND column_name = 'last_checked_s') = 1,
  'ALTER TABLE address_ranges DROP KEY ix_ranges_checked, DROP COLUMN last_checked_s',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;

-- reachable_addresses: last answer in milliseconds.
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'reachable_addresses'
    AND column_name = 'last_seen_ms') = 0,
  'ALTER TABLE reachable_addresses ADD COLUMN last_seen_ms BIGINT NOT NULL DEFAULT 0',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'reachable_addresses'
    AND column_name = 'last_seen_s') = 1,
  'UPDATE reachable_addresses SET last_seen_ms = last_seen_s * 1000 WHERE last_seen_ms = 0',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'reachable_addresses'
    AND column_name = 'last_seen_s') = 1,
  'ALTER TABLE reachable_addresses DROP KEY ix_reachable_seen, DROP COLUMN last_seen_s',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;

-- probes: a display name, enabled, created and last seen in milliseconds; the role column
-- of v1 goes (a probe is a probe; user roles live in users).
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'probes'
    AND column_name = 'enabled') = 0,
  'ALTER TABLE probes ADD COLUMN name VARCHAR(255) NULL AFTER token_hash, ADD COLUMN enabled TINYINT UNSIGNED NOT NULL DEFAULT 1, ADD COLUMN created_at_ms BIGINT NOT NULL DEFAULT 0, ADD COLUMN last_seen_ms BIGINT NULL',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'probes'
    AND column_name = 'last_seen_s') = 1,
  'UPDATE probes SET last_seen_ms = last_seen_s * 1000 WHERE last_seen_ms IS NULL',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'probes'
    AND column_name = 'role') = 1,
  'ALTER TABLE probes DROP COLUMN role, DROP COLUMN last_seen_s',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;

-- Groups exist on their own (a group may be empty); v1 groups are carried over.
CREATE TABLE IF NOT EXISTS catalog_groups (
  group_name VARCHAR(255) NOT NULL,
  PRIMARY KEY (group_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO catalog_groups (group_name) SELECT DISTINCT group_name FROM location_groups;

CREATE TABLE IF NOT EXISTS settings (
  setting_key VARCHAR(64) NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY (setting_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Report ids of recorded discovery sweeps: a redelivered sweep must not age addresses twice.
CREATE TABLE IF NOT EXISTS discovery_sweeps (
  report_id VARCHAR(128) NOT NULL,
  recorded_at_ms BIGINT NOT NULL,
  PRIMARY KEY (report_id),
  KEY ix_sweeps_recorded (recorded_at_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Sources, destination locations and pairs with windows in a time range, from the index
-- alone (InnoDB secondary indexes carry the primary key: source, target, window).
SET @cp_sql = IF((SELECT COUNT(*) FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'measurements'
    AND index_name = 'ix_measurements_start') = 0,
  'ALTER TABLE measurements ADD KEY ix_measurements_start (window_start_s, dest_location_id)',
  'DO 0');
PREPARE cp_stmt FROM @cp_sql;
EXECUTE cp_stmt;
DEALLOCATE PREPARE cp_stmt;
