"""The web console: static files (``cloudperf_core/api/static/``) served by the API app itself,
the same on Lambda and under ``cloudperf serve``; nothing is built at install time.

``GET /`` answers the console's page; its assets live under ``/console/<version>/...`` where
``<version>`` is a digest of every static file, so they are cached for a year (immutable) and a
new release can never be served from an old cache; the page itself is revalidated at every
visit (``no-cache`` with an ETag). An asset of another version is a 404, never today's file
under yesterday's name.

Every answer carries a strict Content-Security-Policy (scripts, styles and data only from this
origin; no inline script or style, no frames, no plugins), ``nosniff`` and no referrer. The
page itself holds no data: everything it shows comes from the ``/v1`` API with the session
cookie, under the same roles as any other client.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloudperf_core.api.errors import error_response

__all__ = ["ASSET_PREFIX", "CONTENT_SECURITY_POLICY", "ROUTES", "Asset", "Console", "console"]

ASSET_PREFIX = "/console"
_INDEX = "index.html"
_ASSET_BASE_MARK = "{{ASSET_BASE}}"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_COMPRESSIBLE = (".html", ".js", ".css", ".json", ".svg", "LICENSE")


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, gzipped bytes (when smaller), type and ETag."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def _content_type(name: str) -> str | None:
    for suffix, kind in CONTENT_TYPES.items():
        if name.endswith(suffix):
            return kind
    return None


def _asset(body: bytes, content_type: str, name: str) -> Asset:
    packed = gzip.compress(body, compresslevel=9, mtime=0) if name.endswith(_COMPRESSIBLE) else b""
    return Asset(
        body=body,
        gzipped=packed if packed and len(packed) < len(body) else None,
        content_type=content_type,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    )


def _walk(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            out.update(_walk(entry, name + "/"))
        elif _content_type(entry.name) is not None:
            out[name] = entry.read_bytes()
    return out


class Console:
    """The static files of one release, read once, keyed by path below ``static/``."""

    def __init__(self, files: dict[str, bytes]) -> None:
        digest = hashlib.sha256()
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
        self.version = digest.hexdigest()[:16]
        self.base = f"{ASSET_PREFIX}/{self.version}"
        self.assets: dict[str, Asset] = {}
        for name, body in files.items():
            kind = _content_type(name)
            assert kind is not None
            if name == _INDEX:
                body = body.replace(_ASSET_BASE_MARK.encode(), self.base.encode())
            self.assets[name] = _asset(body, kind, name)

    @classmethod
    def from_package(cls) -> Console:
        return cls(_walk(resources.files("cloudperf_core.api").joinpath("static")))

    def shipped_bytes(self, suffixes: tuple[str, ...] = (".js", ".css")) -> int:
        """Bytes of the files with these suffixes as stored (uncompressed)."""
        return sum(len(a.body) for n, a in self.assets.items() if n.endswith(suffixes))


@cache
def console() -> Console:
    """The packaged console (read on first use, then kept for the process's life)."""
    return Console.from_package()


def _not_found() -> Response:
    response = error_response(404, "not_found", "no such route")
    response.headers.update(SECURITY_HEADERS)
    return response


def _serve(request: Request, asset: Asset, cache_control: str) -> Response:
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": cache_control,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = asset.body
    accepted = request.headers.get("accept-encoding", "")
    if asset.gzipped is not None and "gzip" in accepted.lower():
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, media_type=asset.content_type)


async def index(request: Request) -> Response:
    return _serve(request, console().assets[_INDEX], REVALIDATE)


async def asset(request: Request) -> Response:
    files = console()
    path = request.path_params["path"]
    found = None if path == _INDEX else files.assets.get(path)
    if request.path_params["version"] != files.version or found is None:
        return _not_found()
    return _serve(request, found, IMMUTABLE)


ROUTES: list[Route] = [
    Route("/", index, methods=["GET"], name="console"),
    Route(f"{ASSET_PREFIX}/{{version}}/{{path:path}}", asset, methods=["GET"], name="asset"),
]
