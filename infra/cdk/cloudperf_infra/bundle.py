"""Build the Lambda bundle from the project's wheel, for the Lambda platform, without Docker.

The bundle is two zips: ``layer.zip`` (every dependency, under ``python/``, which Lambda puts
on ``sys.path`` from ``/opt/python``) and ``function.zip`` (the project's own packages and its
``cloudperf-*.dist-info``, whose ``entry_points.txt`` is how the core finds its backends).
Dependencies come from pip with ``--platform``/``--only-binary`` for the target architecture
and Python, so an arm64 bundle builds on an x86_64 machine. C sources, type stubs, tests and
caches are stripped; the zips are deterministic (sorted, fixed timestamps) so an unchanged
bundle keeps its CDK asset hash.

    python -m cloudperf_infra.bundle                  # arm64, Python 3.12 (the Lambda runtime)
    python -m cloudperf_infra.bundle --arch x86_64
    python -m cloudperf_infra.bundle --host           # this machine's arch and Python (tests)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from cloudperf_core.errors import CloudperfError

Arch = Literal["arm64", "x86_64"]
PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT_ROOT = PROJECT_ROOT / "infra" / "cdk" / "build"
LAMBDA_PYTHON = "3.12"
DEFAULT_EXTRAS = ("lambda",)
# Lambda's limits: 50 MB for a zip uploaded directly, 250 MB for function + layers unzipped.
MAX_ZIPPED_BYTES = 50 * 1000 * 1000
MAX_UNZIPPED_BYTES = 250 * 1000 * 1000
# Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34): any manylinux wheel up to it.
_GLIBC_TAGS = ("2_17", "2_28", "2_34")
_MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}
_STRIP_SUFFIXES = (".c", ".pyx", ".pxd", ".pyi", ".pyc")
_STRIP_DIRS = ("__pycache__", "tests")
# pycountry's translations (7.7 MB zipped): the importer needs the English names only.
_STRIP_SUBTREES = (("pycountry", "locales"),)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class BundleError(CloudperfError):
    """The bundle could not be built, or it is over Lambda's size budget."""


@dataclass(frozen=True)
class BundleSizes:
    """Bytes of each part of the bundle; ``*_zip`` are the uploaded zip files."""

    layer_zip: int
    layer_unzipped: int
    function_zip: int
    function_unzipped: int

    @property
    def total_zip(self) -> int:
        return self.layer_zip + self.function_zip

    @property
    def total_unzipped(self) -> int:
        return self.layer_unzipped + self.function_unzipped


@dataclass(frozen=True)
class Bundle:
    out_dir: Path
    arch: Arch
    python_version: str
    layer_zip: Path
    function_zip: Path
    wheel: Path
    sizes: BundleSizes


def host_arch() -> Arch:
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return "arm64"
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    raise BundleError(f"no Lambda architecture for this machine ({machine})")


def platform_tags(arch: Arch) -> list[str]:
    """pip ``--platform`` values: manylinux wheels the Lambda runtime can load."""
    machine = _MACHINE[arch]
    return [f"manylinux_{glibc}_{machine}" for glibc in _GLIBC_TAGS] + [f"manylinux2014_{machine}"]


def _run(argv: Sequence[str]) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise BundleError(f"command failed ({done.returncode}): {' '.join(argv)}\n{tail}")


# Not needed to build the wheel: kept out of the copy the wheel is built from.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "infra",
    "tests",
    "benchmarks",
    "node_modules",
)


def build_wheel(project_root: Path, staging: Path) -> Path:
    """The project's own wheel (pure Python), built the way pip builds it.

    It is built from a fresh copy of the sources: setuptools keeps a ``build/`` directory in
    the tree it builds, and a module deleted from the sources would linger there and ship.
    """
    source, wheel_dir = staging / "src", staging / "wheel"
    shutil.copytree(project_root, source, ignore=_NOT_SOURCES)
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheel_dir), str(source)])
    wheels = sorted(wheel_dir.glob("cloudperf-*.whl"))
    if len(wheels) != 1:
        raise BundleError(f"expected one cloudperf wheel in {wheel_dir}, found {len(wheels)}")
    return wheels[0]


def install_for_lambda(
    wheel: Path, target: Path, *, arch: Arch, python_version: str, extras: Sequence[str]
) -> None:
    """The wheel and its dependencies as Lambda will load them (binary wheels only)."""
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
    argv += ["--target", str(target), "--implementation", "cp"]
    argv += ["--python-version", python_version, "--only-binary=:all:"]
    for tag in platform_tags(arch):
        argv += ["--platform", tag]
    spec = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
    _run([*argv, spec])


def _project_files(site: Path) -> set[Path]:
    """Files the project's own wheel installed, from its dist-info RECORD."""
    records = list(site.glob("cloudperf-*.dist-info/RECORD"))
    if len(records) != 1:
        raise BundleError(f"expected one cloudperf dist-info in {site}, found {len(records)}")
    files = set()
    for line in records[0].read_text().splitlines():
        name = line.split(",", 1)[0]
        if name and not name.startswith(".."):
            files.add(site / name)
    return files


def split_site(site: Path, layer_python: Path, function_dir: Path) -> None:
    """Move the project's files into ``function_dir``, everything else into the layer."""
    own = _project_files(site)
    # direct_url.json names the build machine's staging path and the wheel's hash, which
    # changes with every build: drop it (and its RECORD line) so the zip is reproducible.
    for direct_url in site.glob("*.dist-info/direct_url.json"):
        direct_url.unlink()
        record = direct_url.with_name("RECORD")
        lines = record.read_text().splitlines(keepends=True)
        record.write_text(
            "".join(
                x for x in lines if not x.startswith(f"{direct_url.parent.name}/direct_url.json,")
            )
        )
    for path in sorted(site.rglob("*")):
        if not path.is_file() or path.relative_to(site).parts[0] == "bin":
            continue  # bin/: console scripts with this machine's shebang, no use on Lambda
        dest_root = function_dir if path in own else layer_python
        dest = dest_root / path.relative_to(site)
        dest.parent.mkdir(parents=True, exist_ok=True)
        path.replace(dest)


def strip_tree(root: Path) -> int:
    """Remove C/Cython sources, stubs, tests, caches and unused data (translations);
    returns the bytes removed."""
    removed = 0
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        subtree = path.relative_to(root).parts[-2:]
        if path.is_dir() and (
            (path.name in _STRIP_DIRS and ".dist-info" not in str(path))
            or subtree in _STRIP_SUBTREES
        ):
            removed += _tree_bytes(path)
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in _STRIP_SUFFIXES:
            removed += path.stat().st_size
            path.unlink()
    return removed


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _walk_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def write_zip(src: Path, dest: Path, *, prefix: str = "") -> int:
    """A deterministic zip of ``src`` (sorted, fixed dates, normalized modes); its size."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in _walk_files(src):
            info = zipfile.ZipInfo(prefix + path.relative_to(src).as_posix(), _ZIP_DATE)
            executable = path.stat().st_mode & 0o111
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as fh:
                zf.writestr(info, fh.read(), compresslevel=6)
    return dest.stat().st_size


def check_budget(sizes: BundleSizes) -> None:
    if sizes.total_zip > MAX_ZIPPED_BYTES:
        raise BundleError(
            f"bundle is {_mb(sizes.total_zip)} zipped, over the {_mb(MAX_ZIPPED_BYTES)} budget"
        )
    if sizes.total_unzipped > MAX_UNZIPPED_BYTES:
        raise BundleError(
            f"bundle is {_mb(sizes.total_unzipped)} unzipped, over Lambda's "
            f"{_mb(MAX_UNZIPPED_BYTES)} limit"
        )


def build_bundle(
    out_dir: Path,
    *,
    arch: Arch = "arm64",
    python_version: str = LAMBDA_PYTHON,
    extras: Sequence[str] = DEFAULT_EXTRAS,
    project_root: Path = PROJECT_ROOT,
) -> Bundle:
    """Build ``layer.zip``, ``function.zip`` and the project wheel into ``out_dir``."""
    staging = out_dir / "staging"
    if staging.exists():
        shutil.rmtree(staging)
    site, layer_python, function_dir = staging / "site", staging / "layer/python", staging / "fn"
    for d in (site, layer_python, function_dir):
        d.mkdir(parents=True)
    wheel = build_wheel(project_root, staging)
    install_for_lambda(wheel, site, arch=arch, python_version=python_version, extras=extras)
    split_site(site, layer_python, function_dir)
    strip_tree(layer_python)
    strip_tree(function_dir)
    layer_zip, function_zip = out_dir / "layer.zip", out_dir / "function.zip"
    sizes = BundleSizes(
        layer_zip=write_zip(layer_python.parent, layer_zip),
        layer_unzipped=_tree_bytes(layer_python),
        function_zip=write_zip(function_dir, function_zip),
        function_unzipped=_tree_bytes(function_dir),
    )
    final_wheel = out_dir / wheel.name
    for old in out_dir.glob("cloudperf-*.whl"):
        old.unlink()
    wheel.replace(final_wheel)
    shutil.rmtree(staging)
    (out_dir / "sizes.json").write_text(
        json.dumps({"arch": arch, "python": python_version, **asdict(sizes)}, indent=2) + "\n"
    )
    check_budget(sizes)
    return Bundle(out_dir, arch, python_version, layer_zip, function_zip, final_wheel, sizes)


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def format_sizes(bundle: Bundle) -> str:
    s = bundle.sizes
    rows = [
        ("layer (dependencies)", s.layer_zip, s.layer_unzipped),
        ("function (cloudperf)", s.function_zip, s.function_unzipped),
        ("total", s.total_zip, s.total_unzipped),
    ]
    lines = [f"Lambda bundle for {bundle.arch}, Python {bundle.python_version}: {bundle.out_dir}"]
    lines.append(f"{'part':<22}{'zipped':>10}{'unzipped':>12}")
    lines += [f"{name:<22}{_mb(z):>10}{_mb(u):>12}" for name, z, u in rows]
    budget = f"{_mb(MAX_ZIPPED_BYTES)} zipped, {_mb(MAX_UNZIPPED_BYTES)} unzipped"
    lines.append(f"budget: {budget} (Lambda's limit)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudperf_infra.bundle", description=__doc__)
    parser.add_argument("--arch", choices=["arm64", "x86_64"], default="arm64")
    parser.add_argument("--python", dest="python_version", default=LAMBDA_PYTHON)
    parser.add_argument(
        "--host", action="store_true", help="this machine's architecture and Python (for tests)"
    )
    parser.add_argument("--out", type=Path, help="default: infra/cdk/build/lambda-ARCH")
    args = parser.parse_args(argv)
    arch: Arch = host_arch() if args.host else args.arch
    python_version = (
        f"{sys.version_info[0]}.{sys.version_info[1]}" if args.host else args.python_version
    )
    out_dir = args.out or DEFAULT_OUT_ROOT / f"lambda-{arch}"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        bundle = build_bundle(out_dir, arch=arch, python_version=python_version)
    except BundleError as exc:
        sys.stderr.write(f"bundle: error: {exc}\n")
        return 1
    sys.stdout.write(format_sizes(bundle) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
