"""Aurora MySQL / MySQL 8 / MariaDB 10.11 over asyncmy (``mysql://``): store and catalogue.

``store`` (MeasurementStore, retention), ``catalog`` (Catalog), ``db`` (pool, transactions,
retries, error mapping), ``migrate`` (versioned ``migrations/*.sql``), ``retention``
(roll-ups), ``rows``/``sql``/``catalog_sql`` (statements as constants).
"""

from __future__ import annotations

from adapters.aurora.store import AuroraCatalog, AuroraMeasurementStore, open_backend

__all__ = ["AuroraCatalog", "AuroraMeasurementStore", "open_backend"]
