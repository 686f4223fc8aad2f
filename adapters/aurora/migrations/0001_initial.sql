-- cloudperf schema v1: valid on MySQL 8 / Aurora MySQL 3 and MariaDB 10.11 alike.
-- Statements are separated by a semicolon at the end of a line; every statement is
-- idempotent (IF NOT EXISTS) because DDL auto-commits and a migration interrupted halfway
-- must be safe to run again.

CREATE TABLE IF NOT EXISTS locations (
  location_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL,
  country VARCHAR(2) NULL,
  city VARCHAR(255) NULL,
  asn INT UNSIGNED NULL,
  latitude DOUBLE NULL,
  longitude DOUBLE NULL,
  PRIMARY KEY (location_id),
  UNIQUE KEY uq_locations_name (name),
  KEY ix_locations_asn (asn),
  KEY ix_locations_city (country, city)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Addresses are stored packed (4 bytes IPv4, 16 bytes IPv6); ip_version keeps comparisons
-- between equal-length values so byte order is numeric order.
CREATE TABLE IF NOT EXISTS address_ranges (
  range_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  ip_version TINYINT UNSIGNED NOT NULL,
  start_addr VARBINARY(16) NOT NULL,
  end_addr VARBINARY(16) NOT NULL,
  location_id BIGINT UNSIGNED NOT NULL,
  last_checked_s BIGINT NULL,
  PRIMARY KEY (range_id),
  UNIQUE KEY uq_ranges_start (ip_version, start_addr),
  KEY ix_ranges_location (location_id),
  KEY ix_ranges_checked (last_checked_s),
  CONSTRAINT fk_ranges_location FOREIGN KEY (location_id)
    REFERENCES locations (location_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- history: 4-round reachability bits, newest round in bit 3 (1000b new, 1111b stable);
-- a row whose history reaches 0 is deleted.
CREATE TABLE IF NOT EXISTS reachable_addresses (
  ip_version TINYINT UNSIGNED NOT NULL,
  address VARBINARY(16) NOT NULL,
  history TINYINT UNSIGNED NOT NULL,
  last_seen_s BIGINT NOT NULL,
  PRIMARY KEY (ip_version, address),
  KEY ix_reachable_seen (last_seen_s)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS probes (
  probe_id VARCHAR(128) NOT NULL,
  token_hash VARCHAR(255) NOT NULL,
  location_id BIGINT UNSIGNED NULL,
  role VARCHAR(32) NOT NULL,
  last_seen_s BIGINT NULL,
  PRIMARY KEY (probe_id),
  KEY ix_probes_location (location_id),
  CONSTRAINT fk_probes_location FOREIGN KEY (location_id)
    REFERENCES locations (location_id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS users (
  user_name VARCHAR(255) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  role VARCHAR(32) NOT NULL,
  PRIMARY KEY (user_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS location_groups (
  group_name VARCHAR(255) NOT NULL,
  location_id BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (group_name, location_id),
  KEY ix_groups_location (location_id),
  CONSTRAINT fk_groups_location FOREIGN KEY (location_id)
    REFERENCES locations (location_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS ingested_reports (
  report_id VARCHAR(128) NOT NULL,
  ingested_at_s BIGINT NOT NULL,
  PRIMARY KEY (report_id),
  KEY ix_ingested_at (ingested_at_s)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per (source, target, window): exact counts plus the serialized LatencySketch.
-- dest_location_id is resolved from address_ranges at ingest so queries can group by the
-- destination's ASN, city or location.
CREATE TABLE IF NOT EXISTS measurements (
  source VARCHAR(255) NOT NULL,
  target VARCHAR(255) NOT NULL,
  window_s INT UNSIGNED NOT NULL,
  window_start_s BIGINT NOT NULL,
  dest_location_id BIGINT UNSIGNED NULL,
  sent BIGINT UNSIGNED NOT NULL,
  received BIGINT UNSIGNED NOT NULL,
  duplicates BIGINT UNSIGNED NOT NULL,
  rtt_sum_us BIGINT NOT NULL,
  rtt_sumsq_us2 DOUBLE NOT NULL,
  rtt_min_us BIGINT NULL,
  rtt_max_us BIGINT NULL,
  jitter_sum_us BIGINT NOT NULL,
  jitter_pairs BIGINT UNSIGNED NOT NULL,
  sketch MEDIUMBLOB NOT NULL,
  PRIMARY KEY (source, target, window_s, window_start_s),
  KEY ix_measurements_time (window_s, window_start_s),
  KEY ix_measurements_dest (dest_location_id, window_start_s)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
