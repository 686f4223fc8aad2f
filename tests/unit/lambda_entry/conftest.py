"""Handler tests run each handler as Lambda does (a sync call with an event and a context) on
in-memory backends named for the test; the container's runtime is closed after each test."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator

import pytest

from lambda_entry import _runtime
from tests.support.lambda_events import LambdaContext

# argon2id at its cheapest: these tests are about events, not password hashing cost.
CHEAP_HASHING = {
    "CLOUDPERF_ARGON2_TIME_COST": "1",
    "CLOUDPERF_ARGON2_MEMORY_KIB": "64",
    "CLOUDPERF_ARGON2_PARALLELISM": "1",
}


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Iterator[str]:
    """A fresh container: its own memory:// backends; yields the store's URL. Its logs and
    metrics (stdout) are in ``capfd``."""
    name = uuid.uuid4().hex
    store = f"memory://store-{name}"
    for variable, value in {
        "CLOUDPERF_STORE": store,
        "CLOUDPERF_JOBS": f"memory://jobs-{name}",
        "CLOUDPERF_REPORTS": f"memory://reports-{name}",
        "CLOUDPERF_CACHE": f"memory://cache-{name}",
        **CHEAP_HASHING,
    }.items():
        monkeypatch.setenv(variable, value)
    for variable in ("CLOUDPERF_CATALOG", "CLOUDPERF_DB_SECRET_ARN", "CLOUDPERF_TRUSTED_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    _runtime.runtime.close()
    reset_api()
    _logs_to_current_stdout()
    yield store
    _runtime.runtime.close()
    reset_api()


def _logs_to_current_stdout() -> None:
    """Point the handlers' JSON log stream at this test's stdout (capfd reads it there).

    Powertools binds ``sys.stdout`` when a handler module is imported, which was another
    test's capture, maybe closed since.
    """
    for name in ("api", "worker", "scheduler", "admin"):
        for handler in logging.getLogger(f"cloudperf-{name}").handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.stream = sys.stdout  # not setStream: it flushes the closed one


def reset_api() -> None:
    """Forget the API app built over the previous test's services."""
    from lambda_entry import api

    api._adapter = None


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
