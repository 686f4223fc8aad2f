"""Markers by folder: every test is ``unit``, ``contract``, ``services`` or ``e2e`` by where it
lives, so ``pytest -m unit`` runs with no server at all (see README, Tests).

Further markers keep their own meaning: ``services`` also marks contract tests of backends that
need a real server, and ``runner`` marks tests that start fping or other subprocesses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
FOLDER_MARKERS = ("unit", "contract", "services", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path).resolve()
        if _HERE not in path.parents:
            continue  # e.g. infra/cdk/tests: the CDK app's own tests
        folder = path.relative_to(_HERE).parts[0]
        if folder in FOLDER_MARKERS:
            item.add_marker(folder)
