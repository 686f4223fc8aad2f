"""The Lambda bundle, built for this machine (its architecture and Python) once per session,
unpacked the way Lambda lays it out (/var/task and /opt/python) and used from a clean
interpreter that sees nothing else: no venv, no source tree."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cloudperf_infra.bundle import (
    MAX_UNZIPPED_BYTES,
    MAX_ZIPPED_BYTES,
    Bundle,
    BundleError,
    BundleSizes,
    build_bundle,
    check_budget,
    format_sizes,
    host_arch,
    platform_tags,
    write_zip,
)

HANDLERS = ("api", "worker", "scheduler", "admin")
EXPECTED_SCHEMES = ["http", "https", "memory", "mysql", "redis", "rediss", "sqlite", "sqs"]


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    out = tmp_path_factory.mktemp("lambda-bundle")
    return build_bundle(out, arch=host_arch(), python_version=python)


@pytest.fixture(scope="session")
def unpacked(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(task, opt): function.zip as /var/task, layer.zip as /opt (so /opt/python)."""
    root = tmp_path_factory.mktemp("lambda-root")
    task, opt = root / "task", root / "opt"
    with zipfile.ZipFile(bundle.function_zip) as zf:
        zf.extractall(task)
    with zipfile.ZipFile(bundle.layer_zip) as zf:
        zf.extractall(opt)
    return task, opt


def run_clean(unpacked: tuple[Path, Path], code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter whose sys.path is the stdlib plus the bundle only."""
    task, opt = unpacked
    prelude = (
        "import sys\n"
        "sys.path[:] = [p for p in sys.path if 'site-packages' not in p and p]\n"
        f"sys.path[:0] = [{str(task)!r}, {str(opt / 'python')!r}]\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + code],
        capture_output=True,
        text=True,
        cwd=task,
        timeout=120,
    )


def test_bundle_is_within_lambda_budgets_and_reports_its_sizes(bundle: Bundle) -> None:
    sizes = bundle.sizes
    assert sizes.layer_zip == bundle.layer_zip.stat().st_size
    assert sizes.function_zip == bundle.function_zip.stat().st_size
    assert sizes.total_zip <= MAX_ZIPPED_BYTES
    assert sizes.total_unzipped <= MAX_UNZIPPED_BYTES
    for path, zipped, unzipped in (
        (bundle.layer_zip, sizes.layer_zip, sizes.layer_unzipped),
        (bundle.function_zip, sizes.function_zip, sizes.function_unzipped),
    ):
        with zipfile.ZipFile(path) as zf:
            assert sum(i.file_size for i in zf.infolist()) == unzipped
        assert zipped < unzipped
    recorded = json.loads((bundle.out_dir / "sizes.json").read_text())
    assert (recorded["layer_zip"], recorded["function_zip"]) == (
        sizes.layer_zip,
        sizes.function_zip,
    )
    text = format_sizes(bundle)
    assert (
        f"{sizes.total_zip / 1e6:.1f} MB" in text and f"{sizes.total_unzipped / 1e6:.1f} MB" in text
    )


def test_layer_holds_dependencies_and_function_holds_the_project(bundle: Bundle) -> None:
    with zipfile.ZipFile(bundle.layer_zip) as zf:
        layer = zf.namelist()
    with zipfile.ZipFile(bundle.function_zip) as zf:
        function = zf.namelist()
    assert all(name.startswith("python/") for name in layer), "Lambda adds /opt/python"
    tops = {name.split("/")[1] for name in layer}
    assert {"numpy", "msgspec", "anyio", "asyncmy", "redis", "aiobotocore", "mangum"} <= tops
    assert "aws_lambda_powertools" in tops
    assert not {"cloudperf_core", "adapters"} & tops
    function_tops = {name.split("/")[0] for name in function}
    assert {"cloudperf_core", "adapters"} <= function_tops
    assert any(n.endswith(".dist-info/entry_points.txt") for n in function)
    assert "adapters/aurora/migrations/0001_initial.sql" in function
    for name in layer + function:
        parts = name.split("/")
        assert not name.endswith((".c", ".pyx", ".pyi", ".pyc")), name
        assert "__pycache__" not in parts and "tests" not in parts, name
        assert parts[0] != "bin" and parts[:2] != ["python", "bin"], name


def test_memory_backend_opens_through_the_bundles_entry_points(
    unpacked: tuple[Path, Path],
) -> None:
    task, opt = unpacked
    done = run_clean(
        unpacked,
        "import anyio, json\n"
        "import cloudperf_core, adapters.memory\n"
        "from cloudperf_core.backends import available_schemes, open_store\n"
        "store = anyio.run(open_store, 'memory://bundle-test')\n"
        "print(json.dumps({'schemes': available_schemes(),\n"
        "  'store': type(store).__module__ + '.' + type(store).__name__,\n"
        "  'core': cloudperf_core.__file__, 'numpy': __import__('numpy').__file__}))\n",
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["schemes"] == EXPECTED_SCHEMES
    assert seen["store"].startswith("adapters.memory")
    assert seen["core"].startswith(str(task)), "imported from the bundle, not the source tree"
    assert seen["numpy"].startswith(str(opt / "python" / "numpy"))


def test_every_backend_adapter_imports_with_the_bundled_binaries(
    unpacked: tuple[Path, Path],
) -> None:
    # Loading each entry point imports its adapter and drivers (asyncmy's compiled code,
    # redis, aiobotocore): what a missing or wrong-platform wheel would break.
    done = run_clean(
        unpacked,
        "from importlib.metadata import entry_points\n"
        "for ep in sorted(entry_points(group='cloudperf.backends'), key=lambda e: e.name):\n"
        "    assert callable(ep.load()), ep\n"
        "import asyncmy, redis.asyncio, aiobotocore.session, mangum, aws_lambda_powertools\n"
        "print('ok')\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("name", HANDLERS)
def test_handler_module_imports_from_the_bundle(unpacked: tuple[Path, Path], name: str) -> None:
    done = run_clean(
        unpacked,
        f"import importlib\nmodule = importlib.import_module('lambda_entry.{name}')\n"
        "assert callable(module.handler)\nprint(module.__file__)\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(unpacked[0]))


def test_handlers_answer_events_from_the_bundle(unpacked: tuple[Path, Path]) -> None:
    # Each handler's lazy imports (Mangum, the API app, the adapters through entry points)
    # resolve from the bundle alone: an admin action, a request and an SQS batch.
    done = run_clean(
        unpacked,
        "import json, os\n"
        "os.environ.update({f'CLOUDPERF_{port}': 'memory://bundle'\n"
        "    for port in ('STORE', 'JOBS', 'REPORTS', 'CACHE')})\n"
        "class Context:\n"
        "    function_name, memory_limit_in_mb, aws_request_id = 'cloudperf', 512, 'req-1'\n"
        "    invoked_function_arn = 'arn:aws:lambda:eu-west-1:123456789012:function:cloudperf'\n"
        "from lambda_entry import admin, api, worker\n"
        "paused = admin.handler({'action': 'pause'}, Context())\n"
        "event = {'requestContext': {'elb': {'targetGroupArn': 'arn:tg'}}, 'httpMethod': 'GET',\n"
        "    'path': '/v1/openapi.json', 'queryStringParameters': {}, 'headers': {},\n"
        "    'body': '', 'isBase64Encoded': False}\n"
        "answer = api.handler(event, Context())\n"
        "batch = worker.handler({'Records': [{'messageId': 'm1', 'body': 'junk'}]}, Context())\n"
        "print(json.dumps([paused, answer['statusCode'], batch]))\n",
    )
    assert done.returncode == 0, done.stderr
    paused, status, batch = json.loads(done.stdout.strip().splitlines()[-1])
    assert paused == {"ok": True, "action": "pause", "paused": True}
    assert status == 200
    assert batch == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_over_budget_is_an_error() -> None:
    check_budget(BundleSizes(40_000_000, 100_000_000, 100_000, 400_000))
    with pytest.raises(BundleError, match=r"zipped, over the 50\.0 MB budget"):
        check_budget(BundleSizes(50_000_000, 100_000_000, 100_000, 400_000))
    with pytest.raises(BundleError, match=r"unzipped, over Lambda's 250\.0 MB limit"):
        check_budget(BundleSizes(40_000_000, 249_900_000, 100_000, 400_000))


def test_zips_are_reproducible(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("x = 1\n")
    (src / "pkg" / "tool").write_text("#!/bin/sh\n")
    (src / "pkg" / "tool").chmod(0o755)
    write_zip(src, tmp_path / "a.zip")
    (src / "pkg" / "mod.py").touch()  # a new mtime must not change the zip
    write_zip(src, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert modes == {"pkg/mod.py": 0o100644, "pkg/tool": 0o100755}


def test_lambda_platform_tags_cover_the_runtime_glibc() -> None:
    assert platform_tags("arm64") == [
        "manylinux_2_17_aarch64",
        "manylinux_2_28_aarch64",
        "manylinux_2_34_aarch64",
        "manylinux2014_aarch64",
    ]
    assert all(t.endswith("x86_64") for t in platform_tags("x86_64"))
