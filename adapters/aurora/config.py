"""``mysql://`` URLs: connection identity, query options (ranged, unknown ones refused), TLS,
and which upsert syntax the server wants.

``mysql://user:pass@host:3306/db?pool_size=2&connect_timeout_s=5&ssl_ca=/path/rds-ca.pem``.
The password is percent-decoded (encode ``@ : / ? #`` in it) and never appears in messages.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import unquote

import msgspec
from msgspec import Meta

from adapters._options import parse_options, split_url
from adapters._retry import RetryPolicy
from cloudperf_core.errors import BackendConfigError

__all__ = ["AuroraConfig", "AuroraOptions", "Dialect", "dialect_of"]

# How ON DUPLICATE KEY UPDATE refers to the row being inserted: MariaDB (every version) and
# MySQL before 8.0.19 say VALUES(col); MySQL 8.0.19+ has row aliases and deprecates VALUES()
# from 8.0.20 (Aurora MySQL 3 is 8.0.23+).
Dialect = Literal["values", "alias"]
BACKOFF_CAP_S = 2.0

Seconds = Annotated[float, Meta(gt=0, le=3600)]


class AuroraOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The query options of a ``mysql://`` URL, with their ranges and defaults.

    ``pool_size`` defaults to 2: on Lambda every container keeps its own pool, so the database
    sees pool_size x concurrency connections, and Aurora Serverless v2 allows few at low ACU.
    """

    pool_size: Annotated[int, Meta(ge=1, le=100)] = 2
    pool_min: Annotated[int, Meta(ge=0, le=100)] = 0
    pool_recycle_s: Annotated[int, Meta(ge=1, le=86_400)] = 3600
    connect_timeout_s: Seconds = 5.0  # TCP connect + TLS + handshake + login, per connection
    statement_timeout_s: Seconds = 30.0  # one transaction attempt, all its statements
    max_attempts: Annotated[int, Meta(ge=1, le=20)] = 4
    backoff_s: Annotated[float, Meta(ge=0, le=60)] = 0.05
    deadline_s: Seconds = 60.0  # one operation including every retry and wait
    ssl: bool = False  # TLS with the system's CA certificates
    ssl_ca: str | None = None  # TLS, trusting this CA bundle (e.g. the RDS global bundle)
    ssl_verify: bool = True  # check the server's certificate and host name


@dataclass(frozen=True, kw_only=True)
class AuroraConfig:
    """Where the database is and how to talk to it; ``password`` stays out of ``repr``."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    options: AuroraOptions
    redacted_url: str
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> AuroraConfig:
        parts = split_url(url)
        safe = parts.safe_url
        if parts.scheme.split("+", 1)[0] != "mysql":
            raise BackendConfigError(f"not a mysql:// URL: {safe}")
        database = unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            raise BackendConfigError(f"the mysql URL needs a database name: {safe}")
        options = parse_options(parts, AuroraOptions)
        if options.pool_min > options.pool_size:
            raise BackendConfigError(f"mysql:// option pool_min must be <= pool_size ({safe})")
        return cls(
            host=parts.host or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            database=database,
            options=options,
            redacted_url=safe,
            ssl_context=_ssl_context(options, safe),
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        o = self.options
        return RetryPolicy(
            max_attempts=o.max_attempts,
            attempt_timeout_s=o.connect_timeout_s + o.statement_timeout_s,
            backoff_s=o.backoff_s,
            backoff_cap_s=BACKOFF_CAP_S,
            deadline_s=o.deadline_s,
        )

    def connect_kwargs(self, *, database: bool = True) -> dict[str, Any]:
        o = self.options
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "connect_timeout": o.connect_timeout_s,
            "read_timeout": o.statement_timeout_s,
            "charset": "utf8mb4",
            "autocommit": False,
            # Both servers honour this; it keeps sessions identical on MySQL 8 and MariaDB.
            "init_command": "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE'",
        }
        if self.ssl_context is not None:
            kwargs["ssl"] = self.ssl_context
        if database:
            kwargs["database"] = self.database
        return kwargs


def _ssl_context(options: AuroraOptions, safe_url: str) -> ssl.SSLContext | None:
    if not (options.ssl or options.ssl_ca):
        if not options.ssl_verify:
            raise BackendConfigError(f"mysql:// ssl_verify=0 needs ssl=1 or ssl_ca ({safe_url})")
        return None
    try:
        context = ssl.create_default_context(cafile=options.ssl_ca)
    except (OSError, ssl.SSLError) as exc:
        raise BackendConfigError(
            f"mysql:// ssl_ca={options.ssl_ca!r} cannot be loaded ({exc}) ({safe_url})"
        ) from exc
    if not options.ssl_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)?")


def dialect_of(server_version: str) -> Dialect:
    """The upsert syntax for a server, from its version string (``SELECT VERSION()``).

    >>> dialect_of("10.11.6-MariaDB-0+deb12u1"), dialect_of("8.0.36"), dialect_of("5.7.44")
    ('values', 'alias', 'values')
    """
    if "mariadb" in server_version.lower():
        return "values"
    match = _VERSION.match(server_version)
    if match is None:
        return "values"
    major, minor = int(match.group(1)), int(match.group(2))
    if "mysql_aurora" in server_version:  # "8.0.mysql_aurora.3.05.2": MySQL 8.0.23 and later
        return "alias" if major >= 8 else "values"
    patch = int(match.group(3) or 0)
    return "alias" if (major, minor, patch) >= (8, 0, 19) else "values"
