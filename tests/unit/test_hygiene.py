"""Rules the whole code base keeps, checked over every module of the core and the adapters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cloudperf_core", "adapters")
# Builtin exceptions our code must not raise: callers catch CloudperfError subclasses.
BUILTIN_ERRORS = {
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "RuntimeError",
    "OverflowError",
    "LookupError",
    "ArithmeticError",
    "OSError",
    "Exception",
}


def _raised_builtins(source: str) -> list[str]:
    """``line: raise Name`` for every ``raise`` of a builtin error in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in BUILTIN_ERRORS:
                found.append(f"{node.lineno}: raise {exc.id}")
    return found


def test_only_cloudperf_errors_are_raised() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{hit}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in _raised_builtins(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_check_sees_builtin_raises() -> None:
    source = "def f(x):\n    if x:\n        raise ValueError('x')\n    raise TypeError\n"
    assert sorted(_raised_builtins(source)) == ["3: raise ValueError", "4: raise TypeError"]
    assert _raised_builtins("def f():\n    raise\n") == []


_NO_READS = """
import builtins, importlib, io, pathlib, pkgutil
import numpy, msgspec, anyio, asyncmy, redis, aiohttp, botocore, aiobotocore.session  # noqa
reads = []
real_open = builtins.open
def spy(file, *args, **kwargs):
    reads.append(str(file))
    return real_open(file, *args, **kwargs)
builtins.open = io.open = spy
pathlib.Path.read_text = lambda self, *a, **k: reads.append(str(self)) or ""
pathlib.Path.read_bytes = lambda self, *a, **k: reads.append(str(self)) or b""
for name in {packages!r}:
    package = importlib.import_module(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(info.name)
print(reads)
"""


def test_importing_a_module_reads_no_file() -> None:
    # Import time matters (Lambda cold starts) and must not fail on a missing data file.
    # Third-party packages are imported before the spy is installed: only ours is judged.
    done = subprocess.run(
        [sys.executable, "-c", _NO_READS.format(packages=PACKAGES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
