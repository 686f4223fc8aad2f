-- cloudperf schema v3: a digest of each ingested report's content next to its id, so that a
-- report id reused with different content is told from a resent report (a conflict, not a
-- duplicate; see cloudperf_core.reports). Rows ingested before keep NULL (never a conflict).
-- MySQL 8 has no ADD COLUMN IF NOT EXISTS (MariaDB has): the ALTER runs only while the column
-- is missing, through a prepared statement, so running this file again is harmless on both.
SET @cloudperf_0003 = (
  SELECT IF(COUNT(*) = 0,
    'ALTER TABLE ingested_reports ADD COLUMN digest VARBINARY(32) NULL',
    'DO 0')
  FROM information_schema.columns
  WHERE table_schema = DATABASE() AND table_name = 'ingested_reports'
    AND column_name = 'digest'
);
PREPARE cloudperf_0003_stmt FROM @cloudperf_0003;
EXECUTE cloudperf_0003_stmt;
DEALLOCATE PREPARE cloudperf_0003_stmt;
