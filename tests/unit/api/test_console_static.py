"""The web console's files as the API app serves them: content types, caching, the
Content-Security-Policy, the JS+CSS budget, the vendored uPlot against its manifest, and
rules of our own code a reviewer would otherwise have to remember (no HTML built from
strings, no token in browser storage, no inline script or handler)."""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import re
import tomllib
from pathlib import Path

import httpx

from cloudperf_core.api.app import create_app
from cloudperf_core.api.context import ApiContext
from cloudperf_core.api.routes import console as console_routes
from cloudperf_core.api.routes import meta
from cloudperf_core.api.routes.console import CONTENT_SECURITY_POLICY, Console, console
from tests.unit.api.conftest import client_for

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "cloudperf_core" / "api" / "static"
UPLOT = STATIC / "vendor" / "uplot"
BUDGET_BYTES = 300 * 1024  # DESIGN.md: at most 300 KB of JS+CSS


def referenced_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/console/[^"]+)"', html)


async def test_the_page_and_every_asset_it_names_are_served_with_their_types(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache" and page.headers["etag"]
    assets = referenced_assets(page.text)
    version = console().version
    assert assets and all(a.startswith(f"/console/{version}/") for a in assets)
    kinds = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
             ".svg": "image/svg+xml"}  # fmt: skip
    for url in assets:
        got = await client.get(url)
        assert got.status_code == 200, url
        assert got.headers["content-type"] == kinds[Path(url).suffix], url
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert got.headers["x-content-type-options"] == "nosniff"
    # Modules import their siblings relatively: those are served under the same version.
    for name in sorted(p.name for p in (STATIC / "js").glob("*.js")):
        got = await client.get(f"/console/{version}/js/{name}")
        assert got.status_code == 200, name


async def test_every_answer_carries_the_strict_policy(client: httpx.AsyncClient) -> None:
    policy = CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    version = console().version
    for url in ("/", f"/console/{version}/js/main.js", f"/console/{version}/nope.js"):
        got = await client.get(url)
        assert got.headers["content-security-policy"] == policy, url
        assert got.headers["referrer-policy"] == "no-referrer"


async def test_compressed_when_asked_and_revalidated_by_etag(client: httpx.AsyncClient) -> None:
    url = f"/console/{console().version}/js/matrix.js"
    plain = (STATIC / "js" / "matrix.js").read_bytes()
    raw = await client.get(url, headers={"accept-encoding": "identity"})
    assert raw.content == plain and "content-encoding" not in raw.headers
    packed = await client.get(url, headers={"accept-encoding": "gzip, br"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.content == plain  # httpx inflates it
    assert int(packed.headers["content-length"]) < len(plain) // 2
    again = await client.get(url, headers={"if-none-match": raw.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_other_versions_and_unknown_files_are_404(client: httpx.AsyncClient) -> None:
    version = console().version
    for url in (
        "/console/0000000000000000/js/main.js",  # yesterday's name: never today's file
        f"/console/{version}/js/nope.js",
        f"/console/{version}/index.html",
        f"/console/{version}/../routes/console.py",
        f"/console/{version}/js",
    ):
        got = await client.get(url)
        assert got.status_code == 404, url
        assert got.json()["error"] == "not_found"


async def test_the_console_is_served_by_any_app_and_needs_no_login(ctx: ApiContext) -> None:
    # The page itself holds no data; everything it shows comes from /v1 under the roles.
    async with client_for(create_app(ctx, routes=meta.ROUTES)) as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.head("/")).status_code == 200
        assert (await client.get("/v1/me")).status_code == 404  # not in this app


def test_a_new_release_gets_a_new_asset_version() -> None:
    files = {"index.html": b"<p>{{ASSET_BASE}}</p>", "js/a.js": b"1"}
    first, second = Console(files), Console({**files, "js/a.js": b"2"})
    assert first.version != second.version
    assert first.assets["index.html"].body == f"<p>/console/{first.version}</p>".encode()


def test_js_and_css_stay_within_the_budget() -> None:
    shipped = console().shipped_bytes()
    on_disk = sum(p.stat().st_size for p in STATIC.rglob("*") if p.suffix in (".js", ".css"))
    assert shipped == on_disk  # every file counts, the vendored ones included
    assert shipped <= BUDGET_BYTES, f"{shipped} bytes of JS+CSS, budget {BUDGET_BYTES}"


def test_the_vendored_uplot_matches_its_manifest() -> None:
    manifest = json.loads((UPLOT / "manifest.json").read_text())
    assert manifest["name"] == "uplot" and manifest["license"] == "MIT"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert "npm" in manifest["source"]
    on_disk = {p.name for p in UPLOT.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((UPLOT / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (UPLOT / manifest["license_file"]).read_text()
    banner = (UPLOT / "uPlot.iife.min.js").read_text()[:100]
    assert f"v{manifest['version']}" in banner


def test_our_code_builds_no_html_from_strings_and_keeps_no_token() -> None:
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"localStorage|sessionStorage|setAttribute\(\s*[\"'](?:style|on)"
    )
    ours = sorted((STATIC / "js").glob("*.js"))
    assert ours
    for path in ours:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not forbidden.search(line), f"{path.name}:{number}: {line.strip()}"
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) and all(
        "src=" in tag for tag in re.findall(r"<script\b[^>]*>", html)
    ), "no inline scripts"
    assert not re.search(r"\son[a-z]+=|\sstyle=|<style", html), "no inline handlers or styles"


def test_every_static_file_is_package_data() -> None:
    # The Lambda bundle is built from the wheel: a file the globs miss would be missing there.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["cloudperf_core.api"]
    for path in STATIC.rglob("*"):
        if path.is_file():
            name = path.relative_to(STATIC.parent).as_posix()
            assert any(
                fnmatch.fnmatch(name, g) and name.count("/") == g.count("/") for g in globs
            ), name


def test_the_gzip_copy_inflates_to_the_file() -> None:
    for name, asset in console().assets.items():
        if asset.gzipped is not None:
            assert gzip.decompress(asset.gzipped) == asset.body, name
    assert console_routes.console() is console()
