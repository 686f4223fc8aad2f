"""What every handler shares in one Lambda container: the event loop, the config, the services.

A container serves one invocation at a time and lives for many, so it keeps:

- one event loop (an :class:`asyncio.Runner` for the container's life): pools, clients and
  their sockets stay bound to it, and every invocation runs on it;
- one :class:`~cloudperf_core.bootstrap.Config` from the environment, with the store's URL
  built from the database secret (fetched once, on the first invocation, never logged);
- one :class:`~cloudperf_core.bootstrap.Services`, each port opened on first use.

Nothing here runs at import time except building the loggers: a cold start pays for the
adapters only when the first invocation opens them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from cloudperf_core.bootstrap import Config, Services
from cloudperf_core.errors import BackendConfigError, BackendUnavailableError

__all__ = ["Runtime", "fetch_secret_string", "make_logger", "metrics", "runtime"]

T = TypeVar("T")
NAMESPACE = "cloudperf"  # what the CDK app sets as POWERTOOLS_METRICS_NAMESPACE

# One Metrics object: Powertools keeps the metric set per process and flushes it (EMF) at the
# end of a decorated handler.
metrics = Metrics()
if metrics.namespace is None:  # POWERTOOLS_METRICS_NAMESPACE unset (tests, a local run)
    metrics.namespace = NAMESPACE


# Loggers that write through the handler's: the core, the adapters, and Mangum's request lines.
_LIBRARY_LOGGERS = ("cloudperf_core", "adapters", "mangum")


def make_logger(function: str) -> Logger:
    """The handler's JSON logger; the core's and the adapters' loggers write through it.

    ``service`` is what the CDK app sets as ``POWERTOOLS_SERVICE_NAME`` for the function.
    """
    logger = Logger(service=f"cloudperf-{function}")
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name)  # registered now, so the copy below finds it
    copy_config_to_registered_loggers(source_logger=logger, include=set(_LIBRARY_LOGGERS))
    return logger


async def fetch_secret_string(arn: str) -> str:
    """The text of a Secrets Manager secret (aiobotocore; region from the ARN, endpoint and
    credentials as botocore finds them, e.g. ``AWS_ENDPOINT_URL_SECRETS_MANAGER``)."""
    import aiobotocore.session
    import botocore.exceptions as bex

    parts = arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[0] == "arn" and parts[3] else None
    try:
        session = aiobotocore.session.get_session()
        async with session.create_client("secretsmanager", region_name=region) as client:
            reply = await client.get_secret_value(SecretId=arn)
    except bex.ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = f"database secret {arn}: {error.get('Code', '')}: {error.get('Message', '')}"
        if status >= 500 or error.get("Code") in ("InternalServiceError", "ThrottlingException"):
            raise BackendUnavailableError(message) from exc
        raise BackendConfigError(message) from exc
    except (bex.NoCredentialsError, bex.PartialCredentialsError, bex.NoRegionError) as exc:
        raise BackendConfigError(f"database secret {arn}: {exc}") from exc
    except (bex.BotoCoreError, OSError) as exc:
        raise BackendUnavailableError(f"database secret {arn}: cannot reach it: {exc}") from exc
    text = reply.get("SecretString")
    if not isinstance(text, str):
        raise BackendConfigError(f"database secret {arn} has no SecretString")
    return text


SecretFetcher = Callable[[str], Awaitable[str]]


class Runtime:
    """The container's event loop, config and services, each made once, on first use."""

    def __init__(self, fetch_secret: SecretFetcher = fetch_secret_string) -> None:
        self._fetch_secret = fetch_secret
        self._runner: asyncio.Runner | None = None
        self._services: Services | None = None
        self._lock: asyncio.Lock | None = None

    def _runner_now(self) -> asyncio.Runner:
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The container's event loop (also the thread's current loop, which Mangum uses)."""
        return self._runner_now().get_loop()

    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work()`` to completion on the container's loop."""

        async def main() -> T:
            return await work()

        return self._runner_now().run(main())

    async def services(self) -> Services:
        """The container's services; the first call reads the config (and the secret)."""
        if self._services is not None:
            return self._services
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._services is None:
                config = Config.from_env()
                if config.needs_db_secret:
                    assert config.db_secret_arn is not None
                    config = config.with_db_secret(await self._fetch_secret(config.db_secret_arn))
                self._services = Services(config)
            return self._services

    def close(self) -> None:
        """Close the services and the loop (tests; Lambda just freezes the container)."""
        services, self._services, self._lock = self._services, None, None
        try:
            if services is not None and self._runner is not None:
                self._runner.run(services.aclose())
        finally:
            if self._runner is not None:
                self._runner.close()
                self._runner = None


# The one runtime of this process, shared by whichever handler modules it imported.
runtime = Runtime()


def call(work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work(services)`` on the container's loop with the container's services."""

    async def with_services() -> T:
        return await work(await runtime.services())

    return runtime.run(with_services)


def jsonable(value: Any) -> Any:
    """A msgspec Struct (or anything msgspec knows) as plain JSON-able values."""
    import msgspec

    return msgspec.to_builtins(value)
