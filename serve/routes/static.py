"""Routes outside the OpenAPI schema: Swagger UI served offline, the pipeline's executed reports
(read-only, sandboxed) and the web build (a deep link without an extension reloads the app). The web
build's catch-all comes last of every route."""
from __future__ import annotations

import gzip
from pathlib import Path

import anyio
import swagger_ui        # swagger-ui-py: ships Swagger UI 5 (OpenAPI 3.1)
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from ..errors import ApiError
from ..paths import safe_dir, safe_file, scrub_server_paths

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"
SWAGGER_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")
# First path segments that are the API's: never answered with the web app's index.html.
API_PREFIXES = {"health", "tracks", "races", "recommendations", "runs", "docs", "redoc", "openapi.json", "api",
                "reports", "live"}

TEXT_REPORTS = {".html": "text/html; charset=utf-8", ".json": "application/json", ".ipynb": "application/json",
                ".log": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8",
                ".md": "text/plain; charset=utf-8", ".csv": "text/plain; charset=utf-8"}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def docs():
    return FileResponse(DOCS_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs/{name}")
async def docs_asset(name: str):
    if name == "init.js":
        return FileResponse(DOCS_DIR / "init.js", headers={"Cache-Control": "no-cache"})
    if name not in SWAGGER_FILES:
        raise ApiError(404, "not_found", "no such docs asset")
    return FileResponse(Path(swagger_ui.__file__).parent / "static" / name,
                        headers={"Cache-Control": "public, max-age=86400"})


@router.api_route("/reports/{path:path}", methods=["GET", "HEAD"])
async def reports(request: Request, path: str):
    """The pipeline's executed reports, read-only. ``<run>/<race or track>/index.json`` lists a
    folder's HTML reports (the web app links them)."""
    root = request.app.state.reports_root
    if path.endswith("/index.json"):
        folder = safe_dir(root, path[:-len("/index.json")])
        if folder is None:
            raise ApiError(404, "not_found", "no such reports folder")
        names = sorted(p.name for p in folder.iterdir() if p.suffix == ".html" and p.is_file()
                       and not p.name.startswith("."))
        return JSONResponse({"items": [{"name": n[:-5], "href": f"/reports/{path[:-10]}{n}"} for n in names]},
                            headers={"Cache-Control": "no-cache"})
    target = safe_file(root, path, spa=False)
    if target is None:
        raise ApiError(404, "not_found", "no such report")
    # executed notebooks' HTML may carry inline scripts: sandboxed, they run nothing and fetch nothing
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": "sandbox; default-src 'none'; "
               "img-src 'self' data:; style-src 'self' 'unsafe-inline'"}
    media = TEXT_REPORTS.get(target.suffix.lower())
    if media is None:
        return FileResponse(target, headers=headers)
    # reports, executed notebooks, run records and logs name the server's folders: served relative
    text = await anyio.to_thread.run_sync(lambda: scrub_server_paths(
        target.read_text(encoding="utf-8", errors="replace"), [str(root)]))
    return Response(text.encode("utf-8"), media_type=media, headers=headers)


@router.api_route("/{path:path}", methods=["GET", "HEAD"])
async def web(request: Request, path: str):
    if path.split("/", 1)[0] in API_PREFIXES:
        raise ApiError(404, "not_found", "no such API endpoint")     # the path is not echoed
    target = safe_file(request.app.state.web_root, path)
    if target is None:
        raise ApiError(404, "not_found", "not found")
    # Cache-Control comes from the SecurityHeaders front (params/serve.yaml: /assets/* content-hashed and
    # immutable, everything else no-cache): one place for the rule.
    media = GZIP_TYPES.get(target.suffix.lower())
    # a Range request gets its bytes of the file as it is (ranges of a gzip copy would be ranges of other bytes)
    if media and request.method == "GET" and "range" not in request.headers \
            and "gzip" in request.headers.get("accept-encoding", ""):
        gz = await anyio.to_thread.run_sync(_gzipped, target)
        if gz is not None:
            return Response(gz, media_type=media, headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return FileResponse(target, headers={"Vary": "Accept-Encoding"} if media else None)


# The web build's text files, sent gzipped where the browser takes it (the app's code is ~3x smaller so): each
# compressed once per file version (path, size, mtime) and kept; small files as they are.
GZIP_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
              ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json",
              ".map": "application/json", ".txt": "text/plain; charset=utf-8"}
GZIP_MIN_BYTES = 1024
_GZIPPED: dict[tuple[str, int, int], bytes | None] = {}


def _gzipped(target: Path) -> bytes | None:
    st = target.stat()
    key = (str(target), st.st_size, st.st_mtime_ns)
    if key not in _GZIPPED:
        if len(_GZIPPED) > 512:
            _GZIPPED.clear()
        _GZIPPED[key] = gzip.compress(target.read_bytes(), 6, mtime=0) if st.st_size >= GZIP_MIN_BYTES else None
    return _GZIPPED[key]
