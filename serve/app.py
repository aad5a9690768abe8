"""KaizenLap read-only API (FastAPI) and the static web build.

``uvicorn serve.app:app`` or ``python run_pipeline.py serve``. The store is ``$KAIZENLAP_STORE`` (or
``create_app(store_url=...)``); the web build directory ``$KAIZENLAP_WEB_DIR`` (default ``web/dist`` when it
has been built, else the placeholder ``serve/web``); the pipeline's executed reports (``--reports``, ``$KAIZENLAP_REPORTS``)
(default ``reports/``), served read-only under ``/reports/``. ``/docs`` is Swagger UI from the
``swagger-ui-py`` package's files (Swagger UI 5, no CDN), started by a local script (CSP ``script-src 'self'``).

Every response is read from one run: the active run named by the store's pointer (re-read at most every
``$KAIZENLAP_POINTER_TTL_S`` seconds, default 1), or for a paginated request the run its cursor names.
Store I/O runs in worker threads, never on the event loop. Responses are cached in-process, keyed by
the run, and carry ``ETag: "<data version>"``; ``If-None-Match`` answers 304. The cache is emptied when
the active run changes.

Hardening (``params/serve.yaml``): only GET and HEAD (405 otherwise); path, query and body limits (414,
413); unknown or repeated query parameters are 422 before anything else runs, and the response cache is
keyed on the canonical (sorted, validated) parameters with key bytes counted against its cap; every
response carries ``X-Content-Type-Options``, ``Referrer-Policy``, ``X-Frame-Options`` and the
Content-Security-Policy, and a ``Cache-Control`` (API as set by the route; ``/assets/*`` immutable; other
static files ``no-cache``; errors ``no-store``); server paths in documents are served relative to the data
root; an unexpected fault is a JSON 500 with no traceback (the traceback goes to the log).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import json
import re
import logging
import posixpath
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlencode

import anyio
from fastapi import FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaizenlap.core import __version__
from kaizenlap.core import params as kparams
from kaizenlap.core.settings import load as load_settings
from kaizenlap.core.ids import ID_PATTERN, doc_id, weather_track_id
from kaizenlap.store import RECOMMENDATION_COLLECTIONS, Store, StoreError, open_store
from kaizenlap.store.base import LAP_SCOPED
from kaizenlap.store.ingest_documents import lap_section_ids

from . import models as M

WEB_DIR = Path(__file__).resolve().parent / "web"
BUILT_WEB_DIR = Path(__file__).resolve().parents[1] / "web" / "dist"
DOCS_DIR = Path(__file__).resolve().parent / "docs"
API_PREFIXES = {"health", "tracks", "races", "recommendations", "runs", "docs", "redoc", "openapi.json", "api",
                "reports"}
REC_ORDER = ("section", "weather", "pattern", "coaching")
MAX_LIMIT = 1000
log = logging.getLogger("kaizenlap.serve")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        self.status, self.code, self.message, self.detail = status, code, message, detail


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def _error(status: int, code: str, message: str, detail: Any = None, headers=None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": detail}}
    return JSONResponse(body, status_code=status, headers=headers)


ERRORS = {404: {"model": M.ErrorBody, "description": "unknown id"},
          422: {"model": M.ErrorBody, "description": "invalid parameter"},
          414: {"model": M.ErrorBody, "description": "path or query over the limits of params/serve.yaml"},
          503: {"model": M.ErrorBody, "description": "store unreachable or nothing published yet"}}
CACHED = {304: {"description": "not modified (If-None-Match matched the ETag)"}}


class ResponseCache:
    """LRU of encoded responses, keyed by (run id, path, query); bounded in entries and bytes."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 256 << 20) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.data: OrderedDict[tuple, tuple[bytes, bytes | None]] = OrderedDict()
        self.size = 0
        self.run_id: str | None = None

    def get(self, key):
        hit = self.data.get(key)
        if hit is not None:
            self.data.move_to_end(key)
        return hit

    @staticmethod
    def _cost(key, entry) -> int:
        """Bytes an entry holds: body, gzip copy and its key (a long query is a long key)."""
        return len(entry[0]) + len(entry[1] or b"") + sum(len(k) for k in key) + 64

    def put(self, key, body: bytes) -> tuple[bytes, bytes | None]:
        gz = gzip.compress(body, 5) if len(body) > 2048 else None
        entry = (body, gz)
        old = self.data.pop(key, None)
        if old:
            self.size -= self._cost(key, old)
        self.data[key] = entry
        self.size += self._cost(key, entry)
        while self.data and (len(self.data) > self.max_entries or self.size > self.max_bytes):
            k, e = self.data.popitem(last=False)
            self.size -= self._cost(k, e)
        return entry

    def clear(self) -> None:
        self.data.clear()
        self.size = 0


class Context:
    def __init__(self, store_url: str | None, pointer_ttl_s: float) -> None:
        self.store_url = store_url
        self.pointer_ttl_s = pointer_ttl_s
        self._store: Store | None = None
        self._open_lock = threading.Lock()
        self._pointer: dict | None = None
        self._pointer_at = -1e9
        self._pointer_lock: asyncio.Lock | None = None
        cache_cfg = kparams.load("serve")["cache"]
        self.cache = ResponseCache(cache_cfg["max_entries"], cache_cfg["max_bytes"])
        self.runs: dict[str, dict] = {}      # complete runs seen (for cursors)
        self._roots: dict[str, list[str]] = {}

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._open_lock:
                if self._store is None:
                    self._store = open_store(self.store_url)
        return self._store

    async def io(self, fn: Callable, *args):
        """Run blocking store I/O in a worker thread; store failures become 503."""
        try:
            return await anyio.to_thread.run_sync(fn, *args)
        except StoreError as exc:
            raise ApiError(503, "store_unavailable", str(exc)) from exc

    async def pointer(self, force: bool = False) -> dict | None:
        if self._pointer_lock is None:
            self._pointer_lock = asyncio.Lock()
        now = time.monotonic()
        if not force and now - self._pointer_at < self.pointer_ttl_s:
            return self._pointer
        async with self._pointer_lock:
            if not force and time.monotonic() - self._pointer_at < self.pointer_ttl_s:
                return self._pointer
            ptr = await self.io(lambda: self.store.active())
            key = ptr and (ptr.get("run_id"), ptr.get("data_version"))
            old = self._pointer and (self._pointer.get("run_id"), self._pointer.get("data_version"))
            if key != old:
                self.cache.clear()           # the run changed: nothing cached is current
                self.runs.clear()            # and an older run may have been pruned
            self._pointer, self._pointer_at = ptr, time.monotonic()
            return ptr

    async def active(self) -> dict:
        ptr = await self.pointer()
        if not ptr:
            raise ApiError(503, "no_data", "nothing has been published to the store yet")
        return ptr

    async def run(self, run_id: str) -> dict:
        """A complete run (for a cursor): its run document."""
        if run_id not in self.runs:
            run = await self.io(lambda: self.store.get_run(run_id))
            if not run:
                raise ApiError(410, "stale_cursor", f"the cursor's run {run_id} is no longer stored: "
                                                    "start again without a cursor")
            status = run.get("status")
            if status != "complete":
                if status == "writing":
                    raise ApiError(409, "run_incomplete", f"the cursor's run {run_id} is still being written "
                                   f"(status {status}); it cannot be paged until it is published: start again "
                                   "without a cursor")
                raise ApiError(410, "stale_cursor", f"the cursor's run {run_id} was never published (status "
                               f"{status}): start again without a cursor")
            self.runs[run_id] = run
        return self.runs[run_id]

    async def roots(self, run_id: str) -> list[str]:
        """The data roots of a run (its ``meta.data``), for serving paths relative to them."""
        if run_id not in self._roots:
            try:
                run = await self.io(lambda: self.store.get_run(run_id))
            except ApiError:
                run = None
            self._roots[run_id] = data_roots(((run or {}).get("meta") or {}).get("data") or [])
        return self._roots[run_id]


_ADAPTERS: dict[Any, TypeAdapter] = {}


def _adapter(model: Any) -> TypeAdapter:
    if model not in _ADAPTERS:
        _ADAPTERS[model] = TypeAdapter(model)
    return _ADAPTERS[model]


def _cache_key(run_id: str, scope) -> tuple:
    """(run, path, query): the query is the canonical one QueryGuard left in the scope (known names,
    each once, sorted), so two spellings of one request share an entry and junk never makes one."""
    return run_id, scope.get("root_path", "") + scope["path"], scope.get("query_string", b"")


class CacheFront:
    """ASGI front: a GET whose response for the active run is cached is answered here, before routing
    and parameter validation (it was validated when it was cached). Anything else goes to the app."""

    def __init__(self, app, ctx: "Context", cache_control: str) -> None:
        self.app, self.ctx, self.cache_control = app, ctx, cache_control

    async def __call__(self, scope, receive, send):
        ctx = self.ctx
        if (scope["type"] == "http" and scope["method"] == "GET" and ctx._pointer
                and time.monotonic() - ctx._pointer_at < ctx.pointer_ttl_s):
            run_id = ctx._pointer["run_id"]
            entry = ctx.cache.get(_cache_key(run_id, scope))
            if entry is not None:
                headers = dict((k.lower(), v) for k, v in scope["headers"] if k.lower() in
                               (b"if-none-match", b"accept-encoding"))
                etag = f'"{ctx._pointer.get("data_version") or run_id}"'
                out = [(b"etag", etag.encode()), (b"cache-control", self.cache_control.encode()),
                       (b"x-kaizenlap-run", run_id.encode()), (b"vary", b"Accept-Encoding")]
                if _etag_matches(headers.get(b"if-none-match", b"").decode("latin-1") or None, etag):
                    await send({"type": "http.response.start", "status": 304, "headers": out})
                    await send({"type": "http.response.body", "body": b""})
                    return
                body, gz = entry
                if gz is not None and b"gzip" in headers.get(b"accept-encoding", b""):
                    body = gz
                    out.append((b"content-encoding", b"gzip"))
                out += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": out})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


# ---------------------------------------------------------------------------------------------- hardening

def serve_config() -> dict:
    """``params/serve.yaml``: security headers, request limits, cache policy."""
    return kparams.load("serve")


def _json_error(status: int, code: str, message: str, detail: Any = None) -> tuple[bytes, list]:
    body = json.dumps({"error": {"code": code, "message": message, "detail": detail}}).encode()
    return body, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


async def _send_error(send, status: int, code: str, message: str, detail: Any = None, extra=()) -> None:
    body, headers = _json_error(status, code, message, detail)
    await send({"type": "http.response.start", "status": status, "headers": headers + list(extra)})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Outermost ASGI front: every response gets nosniff, Referrer-Policy, X-Frame-Options and the CSP,
    and a Cache-Control when the route set none: ``/assets/*`` (content-hashed) immutable, other
    successful static responses ``no-cache``, errors ``no-store``."""

    def __init__(self, app, config: dict) -> None:
        self.app = app
        sec, cache = config["security"], config["cache"]
        self.headers = [(b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", sec["referrer_policy"].encode()),
                        (b"x-frame-options", sec["frame_options"].encode()),
                        (b"content-security-policy", " ".join(sec["content_security_policy"].split()).encode())]
        self.assets, self.html, self.errors = (cache["assets"].encode(), cache["html"].encode(),
                                               cache["errors"].encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")

        async def wrapped(message):
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                # A route that sets its own CSP (the sandboxed executed reports) keeps it; the rest are ours.
                keep_csp = any(k.lower() == b"content-security-policy" for k, _ in own)
                ours = [(k, v) for k, v in self.headers if not (keep_csp and k == b"content-security-policy")]
                headers = [(k, v) for k, v in own if k.lower() not in {h for h, _ in ours}]
                headers += ours
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    status = message["status"]
                    if status >= 400:
                        value = self.errors
                    elif path.startswith("/assets/"):
                        value = self.assets
                    else:
                        value = self.html
                    headers.append((b"cache-control", value))
                message = {**message, "headers": headers}
            await send(message)
        await self.app(scope, receive, wrapped)


class RequestLimits:
    """Read-only and bounded: a method other than GET/HEAD is 405 (``Allow: GET, HEAD``), a path over its
    limit 414, a request body 413 (the query's limit is checked by :class:`QueryGuard`). HEAD is answered
    as GET without the body."""

    def __init__(self, app, config: dict) -> None:
        self.app = app
        lim = config["limits"]
        self.methods = {m.upper() for m in lim["methods"]}
        self.max_path, self.max_body = lim["max_path_bytes"], lim["max_body_bytes"]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"].upper()
        if method not in self.methods:
            return await _send_error(send, 405, "method_not_allowed", "the API is read-only: GET and HEAD only",
                                     extra=[(b"allow", ", ".join(sorted(self.methods)).encode())])
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        if len(raw_path) > self.max_path:
            return await _send_error(send, 414, "uri_too_long", f"path longer than {self.max_path} bytes")
        headers = dict((k.lower(), v) for k, v in scope.get("headers", []))
        length = headers.get(b"content-length", b"0").strip() or b"0"
        if not length.isdigit() or int(length) > self.max_body or b"transfer-encoding" in headers:
            return await _send_error(send, 413, "body_not_allowed",
                                     "a read-only API takes no request body" if self.max_body == 0 else
                                     f"request body over {self.max_body} bytes")
        if method == "HEAD":
            scope = {**scope, "method": "GET"}

            async def no_body(message):
                if message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await send(message)
            return await self.app(scope, receive, no_body)
        await self.app(scope, receive, send)


class QueryGuard:
    """Before the cache and routing: on an API route, an unknown or repeated query parameter is 422; the
    query string left in the scope is the canonical one (sorted ``name=value`` pairs), which keys the
    response cache. Routes outside the OpenAPI schema (the static web build) are passed through."""

    def __init__(self, app, fastapi_app: FastAPI, config: dict) -> None:
        self.app, self.fastapi_app = app, fastapi_app
        self.max_query = config["limits"]["max_query_bytes"]
        self._allowed: dict[Any, frozenset] = {}

    async def _too_long(self, scope, send) -> bool:
        if len(scope.get("query_string", b"")) > self.max_query:
            await _send_error(send, 414, "uri_too_long", f"query longer than {self.max_query} bytes")
            return True
        return False

    def allowed(self, scope) -> frozenset | None:
        from starlette.routing import Match
        for route in self.fastapi_app.router.routes:
            if getattr(route, "include_in_schema", False) and hasattr(route, "dependant"):
                match, _ = route.matches(scope)
                if match == Match.FULL:
                    key = id(route)
                    if key not in self._allowed:
                        self._allowed[key] = frozenset(q.alias or q.name for q in route.dependant.query_params)
                    return self._allowed[key]
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        allowed = self.allowed(scope)
        if allowed is None:
            if not await self._too_long(scope, send):
                await self.app(scope, receive, send)
            return
        try:
            pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True,
                              strict_parsing=False, max_num_fields=64)
        except ValueError:
            return await _send_error(send, 422, "invalid_parameter", "too many query parameters")
        names = [n for n, _ in pairs]
        unknown = sorted({n for n in names if n not in allowed})
        repeated = sorted({n for n in names if names.count(n) > 1} - set(unknown))
        if unknown or repeated:
            detail = [{"loc": ["query", _clip(n)], "msg": "unknown parameter", "type": "extra_forbidden"}
                      for n in unknown[:10]]
            detail += [{"loc": ["query", _clip(n)], "msg": "parameter given more than once", "type": "repeated"}
                       for n in repeated[:10]]
            accepted = ", ".join(sorted(allowed)) or "none"
            return await _send_error(send, 422, "invalid_parameter",
                                     f"unknown or repeated query parameter(s); this endpoint accepts: {accepted}",
                                     detail)
        if await self._too_long(scope, send):      # after the 422s: a bad name is reported as such
            return
        canonical = urlencode(sorted(pairs)).encode("latin-1", "replace")
        await self.app({**scope, "query_string": canonical}, receive, send)


def _clip(name: str) -> str:
    """A parameter name safe to echo: printable ASCII, at most 40 characters."""
    name = "".join(ch if " " < ch < "\x7f" else "?" for ch in name)
    return name if len(name) <= 40 else name[:40] + "..."


def data_roots(data: list[str]) -> list[str]:
    """Directories that server paths are made relative to: a folder input itself, a file (zip) input's
    folder; longest first."""
    roots = set()
    for d in data:
        d = posixpath.normpath(str(d))
        if not d.startswith("/"):
            continue
        roots.add(posixpath.dirname(d) if posixpath.splitext(d)[1] else d)
    return sorted(roots, key=len, reverse=True)


_ABS_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"!;,()]+/)+")


def relative_paths(obj: Any, roots: list[str]) -> Any:
    """``obj`` (JSON-like) with every absolute server path made relative: a path under a data root loses
    the root; any other absolute directory prefix is dropped (the file name stays). When ``roots`` is
    empty the common folder of the document's absolute paths is the root."""
    if not roots:
        found: list[str] = []
        _collect(obj, found)
        if found:
            common = posixpath.commonpath([posixpath.dirname(f) for f in found])
            roots = [common] if common not in ("", "/") else []
    prefixes = [r.rstrip("/") + "/" for r in roots]

    def fix(text: str) -> str:
        if "/" not in text:
            return text
        for prefix in prefixes:
            text = text.replace(prefix, "")
        return _ABS_PATH.sub("", text)

    def walk(o):
        if isinstance(o, str):
            return fix(o)
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o
    return walk(obj)


def _collect(o: Any, out: list[str]) -> None:
    if isinstance(o, str):
        if o.startswith("/"):
            out.append(o.split("!", 1)[0])
    elif isinstance(o, dict):
        for v in o.values():
            _collect(v, out)
    elif isinstance(o, list):
        for v in o:
            _collect(v, out)


def envelope(head: dict, items: list[tuple[str, str]], tail: dict | None = None) -> bytes:
    """``{**head, "items": [...], **tail}`` as JSON bytes, the items being stored documents' JSON text
    (``(id, text)`` pairs), passed through unchanged: :mod:`kaizenlap.store.build` made them, publishing
    checked them as JSON, and tests/test_api.py checks every one against the response models."""
    parts = [json.dumps(head, separators=(",", ":"))[:-1], ',"items":[', ",".join(t for _, t in items), "]"]
    if tail:
        parts.append("," + json.dumps(tail, separators=(",", ":"))[1:-1])
    parts.append("}")
    return "".join(parts).encode()


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def create_app(store_url: str | None = None, web_dir: str | Path | None = None,
               pointer_ttl_s: float | None = None, max_age_s: int | None = None,
               store: Store | None = None, reports_dir: str | Path | None = None) -> FastAPI:
    """The app over ``store`` (an open store) or the store at ``store_url`` (opened on first use). Every
    default comes from the settings (kaizenlap.core.settings): the reports folder is the one ``run`` writes
    (``--reports``, ``$KAIZENLAP_REPORTS``), resolved from the current folder as ``run`` resolves it."""
    cfg = load_settings()
    ttl = cfg.pointer_ttl_s if pointer_ttl_s is None else pointer_ttl_s
    max_age = cfg.api_max_age_s if max_age_s is None else max_age_s
    cache_control = f"public, max-age={max_age}, must-revalidate"
    ctx = Context(store_url or (store.url if store is not None else None), ttl)
    ctx._store = store
    web_root = Path(web_dir or cfg.web_dir
                    or (BUILT_WEB_DIR if (BUILT_WEB_DIR / "index.html").is_file() else WEB_DIR)).resolve()
    reports_root = Path(reports_dir or cfg.reports).resolve()

    app = FastAPI(title="KaizenLap API", version=__version__, docs_url=None, redoc_url=None,
                  description="Read-only driver-coaching analytics for the Toyota GR Cup. Every number that is "
                              "an estimate carries its 95% interval and sample size (Estimate).")
    app.state.ctx = ctx

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return _error(422, "invalid_parameter", "invalid request parameter(s)", json.loads(json.dumps(
            detail, default=str)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "not found" if exc.status_code == 404 else str(exc.detail)   # never the requested path
        return _error(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        """An unexpected fault: the traceback to the log, a JSON 500 without it (or any detail) to the client."""
        log.error("unexpected fault serving %s", request.url.path, exc_info=exc)
        return _error(500, "internal_error", "internal server error")

    async def respond(request: Request, model: Any, produce: Callable[[str], Any], run: dict | None = None) -> Response:
        """Cached, ETagged JSON of ``produce(run_id)`` (called in a thread) validated by ``model``."""
        run = run or await ctx.active()
        run_id = run["run_id"]
        etag = f'"{run.get("data_version") or run_id}"'
        headers = {"ETag": etag, "Cache-Control": cache_control, "X-KaizenLap-Run": run_id, "Vary": "Accept-Encoding"}
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        key = _cache_key(run_id, request.scope)
        entry = ctx.cache.get(key)
        if entry is None:
            data = await ctx.io(produce, run_id)
            if isinstance(data, dict):       # server paths (source files in ledgers) relative to the data root
                data = relative_paths(data, await ctx.roots(run_id))
            if isinstance(data, bytes):      # a list of stored documents passed through as JSON text
                body = data
            else:
                adapter = _adapter(model)
                # exclude_unset: a document is served as stored, without the null fields of other kinds
                body = adapter.dump_json(adapter.validate_python(data), by_alias=True, exclude_unset=True)
            entry = ctx.cache.put(key, body)
        body, gz = entry
        if gz is not None and "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            body = gz
        return Response(body, media_type="application/json", headers=headers)

    st = lambda: ctx.store  # noqa: E731

    # ------------------------------------------------------------------ health and runs
    @app.get("/health", response_model=M.Health, tags=["service"], responses={503: {"model": M.Health}})
    async def health():
        """Service status: store reachable, active run, data version. Never cached."""
        store_info = {"backend": "unknown", "url": ctx.store_url or "", "reachable": False, "error": None}
        ptr = None
        try:
            store = await anyio.to_thread.run_sync(lambda: ctx.store)
            store_info.update(backend=store.backend, url=_redact(store.url))
            await anyio.to_thread.run_sync(store.ping)
            store_info["reachable"] = True
            ptr = await ctx.pointer(force=True)
        except (StoreError, ApiError, ValueError, OSError) as exc:
            store_info["error"] = str(getattr(exc, "message", exc))
        status = "unavailable" if not store_info["reachable"] else ("ok" if ptr else "no_data")
        body = M.Health(status=status, store=M.StoreHealth(**store_info), active_run_id=(ptr or {}).get("run_id"),
                        data_version=(ptr or {}).get("data_version"), published_at=(ptr or {}).get("published_at"),
                        version=__version__)
        return JSONResponse(body.model_dump(), status_code=200 if store_info["reachable"] else 503,
                            headers={"Cache-Control": "no-store"})

    @app.get("/runs", response_model=M.RunList, tags=["service"], responses=ERRORS)
    async def runs():
        """Runs in the store (status, counts, failed tasks) and the active run id."""
        ptr = await ctx.pointer()
        items = [_public_run(r) for r in await ctx.io(lambda: st().list_runs())]
        body = M.RunList(active_run_id=(ptr or {}).get("run_id"), items=items)
        return JSONResponse(json.loads(body.model_dump_json(by_alias=True)), headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------ tracks and races
    @app.get("/tracks", response_model=M.TrackList, tags=["tracks"], responses={**ERRORS, **CACHED})
    async def tracks(request: Request):
        """Every track: name, length, sector lengths, map outline when known, races in the store."""
        return await respond(request, M.TrackList,
                             lambda rid: {"run_id": rid, "items": st().query(rid, "tracks")})

    IdPath = lambda desc: PathParam(..., pattern=ID_PATTERN, max_length=200, description=desc)  # noqa: E731

    def one(collection: str, doc_key: str, what: str, race_id: str | None = None):
        """A producer for one document by id: 404 naming ``what`` when it is absent (naming the race
        instead when ``race_id`` is given and the race itself is unknown)."""
        def produce(rid):
            doc = st().get(rid, collection, doc_key)
            if doc is None:
                if race_id is not None:
                    _race(rid, race_id)
                raise not_found(what)
            return doc
        return produce

    @app.get("/tracks/{track_id}", response_model=M.Track, tags=["tracks"], responses={**ERRORS, **CACHED})
    async def track(request: Request, track_id: str = IdPath("track id, e.g. barber")):
        return await respond(request, M.Track, one("tracks", track_id, f"track {track_id!r}"))

    @app.get("/tracks/{track_id}/composite", response_model=M.Composite, tags=["tracks"],
             responses={**ERRORS, **CACHED})
    async def track_composite(request: Request, track_id: str = IdPath("track id")):
        """Best-case composite of a track's races pooled (only when the track has several races)."""

        return await respond(request, M.Composite, one("best_case_composites", doc_id("track", track_id),
                                                        f"track composite for {track_id!r}"))

    def _summary(doc: dict) -> dict:
        return {k: v for k, v in doc.items() if k not in ("cars", "files")}

    @app.get("/races", response_model=M.RaceList, tags=["races"], responses={**ERRORS, **CACHED})
    async def all_races(request: Request):
        """Every race of the active run."""
        return await respond(request, M.RaceList, lambda rid: {
            "run_id": rid, "items": [_summary(d) for d in st().query(rid, "races")]})

    @app.get("/races/{track_id}", response_model=M.RaceList, tags=["races"], responses={**ERRORS, **CACHED})
    async def races(request: Request, track_id: str = IdPath("track id, e.g. barber")):
        """The races of one track."""
        def produce(rid):
            if st().get(rid, "tracks", track_id) is None:
                raise not_found(f"track {track_id!r}")
            return {"run_id": rid, "track_id": track_id,
                    "items": [_summary(d) for d in st().query(rid, "races", {"track_id": track_id})]}
        return await respond(request, M.RaceList, produce)

    def _race(rid: str, race_id: str) -> dict:
        doc = st().get(rid, "races", race_id)
        if doc is None:
            raise not_found(f"race {race_id!r}")
        return doc

    @app.get("/races/{race_id}/summary", response_model=M.Race, tags=["races"], responses={**ERRORS, **CACHED})
    async def race(request: Request, race_id: str = IdPath("race id, e.g. barber-r1")):
        """One race: date, counts, cars, source files and the results used."""
        return await respond(request, M.Race, lambda rid: _race(rid, race_id))

    @app.get("/races/{race_id}/cars", response_model=M.CarList, tags=["races"], responses={**ERRORS, **CACHED})
    async def cars(request: Request, race_id: str = IdPath("race id")):
        """The cars of a race, from its lap data (laps, clean laps, best laps)."""
        return await respond(request, M.CarList, lambda rid: {
            "run_id": rid, "race_id": race_id, "items": _race(rid, race_id)["cars"]})

    @app.get("/races/{race_id}/cars/{car}", response_model=M.CarDetail, tags=["races"],
             responses={**ERRORS, **CACHED})
    async def car_detail(request: Request, race_id: str = IdPath("race id"), car: str = IdPath("car id")):
        """One car: its summary, composite entry, consistency pattern and ranked section losses."""

        def produce(rid):
            race_doc = _race(rid, race_id)
            entry = next((c for c in race_doc["cars"] if c["car"] == car), None)
            if entry is None:
                raise not_found(f"car {car!r} in race {race_id!r}")
            comp = st().get(rid, "best_case_composites", race_id) or {}
            secs = [d for d in st().query(rid, "ml_section_recommendations", {"race_id": race_id, "car": car},
                                          limit=200) if d.get("scope") == "car"]
            secs.sort(key=lambda d: (d.get("section_set") or "", d.get("rank") or 0))
            return {"run_id": rid, "race_id": race_id, "car": entry,
                    "composite": next((c for c in comp.get("cars", []) if c.get("car") == car), None),
                    "pattern": st().get(rid, "ml_pattern_recommendations", doc_id(race_id, car, "pattern")),
                    "sections": secs}
        return await respond(request, M.CarDetail, produce)

    @app.get("/races/{race_id}/cars/{car}/laps", response_model=M.LapList, tags=["races"],
             responses={**ERRORS, **CACHED})
    async def laps(request: Request, race_id: str = IdPath("race id"), car: str = IdPath("car id")):
        """Every lap of a car: lap and sub-section times, flags, clean or the reasons it is excluded."""
        def produce(rid):
            items = st().query_json(rid, "laps", {"race_id": race_id, "car": car})
            if not items:
                race_doc = _race(rid, race_id)
                if not any(c["car"] == car for c in race_doc["cars"]):
                    raise not_found(f"car {car!r} in race {race_id!r}")
            return envelope({"run_id": rid, "race_id": race_id, "car": car}, items)
        return await respond(request, M.LapList, produce)

    @app.get("/races/{race_id}/composite", response_model=M.Composite, tags=["races"],
             responses={**ERRORS, **CACHED})
    async def composite(request: Request, race_id: str = IdPath("race id")):
        """Best-case composite lap of the race (field, per class, sectors and sub-sections) and per car."""
        produce = one("best_case_composites", race_id,
                      f"composite of race {race_id!r} (the engine did not run for it)", race_id)
        return await respond(request, M.Composite, produce)

    @app.get("/races/{race_id}/quality", response_model=M.Quality, tags=["races"], responses={**ERRORS, **CACHED})
    async def quality(request: Request, race_id: str = IdPath("race id")):
        """The race's quality ledger, lap exclusion summary and reconciliation with the official files."""
        return await respond(request, M.Quality, one("data_quality", race_id, f"race {race_id!r}"))

    @app.get("/races/{race_id}/weather", response_model=M.Weather, tags=["races"],
             responses={**ERRORS, **CACHED})
    async def race_weather(request: Request, race_id: str = IdPath("race id")):
        """Weather through the race and its effect on pace, with the track's pooled model as
        ``track_model`` (null when the track task did not run)."""

        race_doc = one("ml_weather_recommendations", doc_id(race_id, "weather"),
                       f"weather analysis of race {race_id!r}", race_id)

        def produce(rid):
            doc = race_doc(rid)
            track = st().get(rid, "ml_weather_recommendations", weather_track_id(race_id))
            return {**doc, "track_model": track}
        return await respond(request, M.Weather, produce)

    @app.get("/races/{race_id}/cars/{car}/coaching", response_model=M.Coaching, tags=["races"],
             responses={**ERRORS, **CACHED})
    async def car_coaching(request: Request, race_id: str = IdPath("race id"), car: str = IdPath("car id")):
        """Coaching for one car in one race: headline, the cited facts (with n and intervals), hypotheses with
        a confidence derived from those facts, testable actions, and which generator wrote it (the
        deterministic one unless a language model is configured; schema: serve/schemas/coaching.schema.json)."""

        def produce(rid):
            doc = st().get(rid, "coaching_insights", doc_id(race_id, car, "coaching"))
            if doc is None:
                race_doc = _race(rid, race_id)
                if not any(c["car"] == car for c in race_doc["cars"]):
                    raise not_found(f"car {car!r} in race {race_id!r}")
                raise not_found(f"coaching for car {car!r} in race {race_id!r} (the coaching task did not run)")
            return doc
        return await respond(request, M.Coaching, produce)

    # ------------------------------------------------------------------ recommendations
    @app.get("/recommendations", response_model=M.RecommendationPage, tags=["recommendations"],
             responses={**ERRORS, **CACHED, 410: {"model": M.ErrorBody, "description": "the cursor's run is gone"},
                        409: {"model": M.ErrorBody, "description": "the cursor's run is still being written"}})
    async def recommendations(
            request: Request,
            race_id: Optional[str] = Query(None, pattern=ID_PATTERN, max_length=200, description="race id"),
            car: Optional[str] = Query(None, pattern=ID_PATTERN, max_length=200, description="car id in the race"),
            lap: Optional[int] = Query(None, ge=0, le=100000, description="lap number (lap-scope documents only)"),
            section: Optional[M.SectionName] = Query(None, description="s1..s3 or a sub-section"),
            type: Optional[M.RecType] = Query(None, description="one kind only"),
            limit: int = Query(100, ge=1, le=MAX_LIMIT),
            cursor: Optional[str] = Query(None, max_length=1000, pattern=r"^[A-Za-z0-9_-]+$",
                                          description="next_cursor of the previous page")):
        """Recommendations filtered by race, car, lap, section and type, in id order, paginated.

        A page and the pages its cursor leads to all come from one run."""
        run = None
        start: tuple[int, str | None] = (0, None)
        kinds = [type] if type else list(REC_ORDER)
        if cursor:
            c = _decode_cursor(cursor)
            await ctx.pointer()              # notice a new run (and so pruned ones) before trusting the cursor
            if c.get("k") != kinds:
                raise ApiError(422, "invalid_parameter", "the cursor belongs to a query of another type")
            run = await ctx.run(c["r"])
            start = (int(c["i"]), c["a"])
            if not 0 <= start[0] < len(kinds):
                raise ApiError(422, "invalid_parameter", "invalid cursor")
        filters = {k: v for k, v in (("race_id", race_id), ("car", car), ("lap", lap), ("section", section))
                   if v is not None}


        def fetch(rid: str, coll: str, n: int, after: str | None) -> list[tuple[str, str]]:
            if lap is not None and coll not in LAP_SCOPED:
                return []                          # race- and car-scope documents have no lap
            if coll == "ml_section_recommendations" and race_id and car and lap is not None:
                ids = [i for i in lap_section_ids(race_id, car, lap, section) if after is None or i > after]
                return st().get_many_json(rid, coll, ids[:n])     # ids are known: point lookups, no query
            return st().query_json(rid, coll, filters, limit=n, start_after=after)

        def produce(rid):
            items: list[tuple[str, str]] = []
            i, after = start
            nxt = None
            while i < len(kinds):
                coll = RECOMMENDATION_COLLECTIONS[kinds[i]]
                want = limit - len(items)
                got = fetch(rid, coll, want + 1, after)
                items += got[:want]
                if len(got) > want:       # more in this collection
                    nxt = (i, items[-1][0])
                    break
                i, after = i + 1, None
                if len(items) == limit:
                    if i < len(kinds):
                        nxt = (i, None)  # the next page may be empty: cheap to find out, honest to say
                    break
            return envelope({"run_id": rid, "count": len(items)}, items,
                            {"next_cursor": _encode_cursor(rid, kinds, *nxt) if nxt else None})
        return await respond(request, M.RecommendationPage, produce, run=run)

    # ------------------------------------------------------------------ docs (offline), reports, web build
    @app.get("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(DOCS_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs/{name}", include_in_schema=False)
    async def docs_asset(name: str):
        if name == "init.js":
            return FileResponse(DOCS_DIR / "init.js", headers={"Cache-Control": "no-cache"})
        import swagger_ui        # swagger-ui-py: ships Swagger UI 5 (OpenAPI 3.1)
        if name not in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                        "favicon-32x32.png"):
            raise ApiError(404, "not_found", "no such docs asset")
        return FileResponse(Path(swagger_ui.__file__).parent / "static" / name,
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.api_route("/reports/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def reports(path: str):
        """The pipeline's executed reports, read-only. ``<run>/<race or track>/index.json`` lists a
        folder's HTML reports (the web app links them)."""
        if path.endswith("/index.json"):
            folder = _safe_dir(reports_root, path[:-len("/index.json")])
            if folder is None:
                raise ApiError(404, "not_found", "no such reports folder")
            names = sorted(p.name for p in folder.iterdir() if p.suffix == ".html" and p.is_file()
                           and not p.name.startswith("."))
            return JSONResponse({"items": [{"name": n[:-5], "href": f"/reports/{path[:-10]}{n}"} for n in names]},
                                headers={"Cache-Control": "no-cache"})
        target = _safe_file(reports_root, path, spa=False)
        if target is None:
            raise ApiError(404, "not_found", "no such report")
        # executed notebooks' HTML may carry inline scripts: sandboxed, they run nothing and fetch nothing
        return FileResponse(target, headers={"Cache-Control": "no-cache",
                                             "Content-Security-Policy": "sandbox; default-src 'none'; "
                                             "img-src 'self' data:; style-src 'self' 'unsafe-inline'"})

    @app.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def web(path: str):
        first = path.split("/", 1)[0]
        if first in API_PREFIXES:
            raise ApiError(404, "not_found", "no such API endpoint")     # the path is not echoed
        target = _safe_file(web_root, path)
        if target is None:
            raise ApiError(404, "not_found", "not found")
        # Cache-Control comes from the SecurityHeaders front (params/serve.yaml: /assets/* content-hashed and
        # immutable, everything else no-cache): one place for the rule.
        return FileResponse(target)

    config = serve_config()
    app.add_middleware(CacheFront, ctx=ctx, cache_control=cache_control)     # innermost of the fronts
    app.add_middleware(QueryGuard, fastapi_app=app, config=config)
    app.add_middleware(RequestLimits, config=config)
    app.add_middleware(SecurityHeaders, config=config)                      # outermost: every response
    return app


def _public_run(run: dict) -> dict:
    """A run document as served: the reports folder by its run folder name only, input paths relative."""
    run = dict(run)
    meta = dict(run.get("meta") or {})
    roots = data_roots(meta.get("data") or [])
    if "reports" in meta:
        meta["reports"] = posixpath.basename(str(meta["reports"]).rstrip("/"))
    if "data" in meta:
        meta["data"] = [posixpath.basename(posixpath.normpath(str(d))) for d in meta["data"]]
    run["meta"] = meta
    return relative_paths(run, roots)


def _safe_parts(path: str) -> list[str] | None:
    raw = path.split("/")
    if "" in raw[:-1]:                     # '//x', 'a//b': an absolute path or a smuggled one
        return None
    parts = [p for p in raw if p]
    for p in parts:
        if (p in (".", "..") or p.startswith(".") or any(ch in "\\%:\ufffd" or ord(ch) < 32 for ch in p)
                or len(p) > 255):
            return None
    return parts


def _safe_dir(root: Path, path: str) -> Path | None:
    """The folder under ``root`` that ``path`` names (same refusals as :func:`_safe_file`), or None."""
    parts = _safe_parts(path)
    if parts is None:
        return None
    try:
        cand = (root / Path(*parts)).resolve() if parts else root
        return cand if cand.is_dir() and cand.is_relative_to(root) else None
    except (OSError, ValueError):
        return None


def _safe_file(root: Path, path: str, spa: bool = True) -> Path | None:
    """The file under ``root`` that ``path`` (already URL-decoded once) names, or None. Anything that
    looks like an escape (dot segments, backslashes, NUL, '%' left after decoding, hidden files,
    symlinks leading out) is refused; with ``spa``, a path with no extension falls back to index.html
    (client routing: a deep link such as /race/barber-r1 reloads the app)."""
    parts = _safe_parts(path)
    if parts is None:
        return None
    try:
        cand = (root / Path(*parts)).resolve() if parts else root
        if not cand.is_relative_to(root):
            return None
        if cand.is_dir():
            cand = cand / "index.html"
        if cand.is_file() and cand.resolve().is_relative_to(root):
            return cand
    except (OSError, ValueError):
        return None
    if spa and (not parts or "." not in parts[-1]):
        index = root / "index.html"
        if index.is_file() and index.resolve().is_relative_to(root):
            return index
    return None


def _encode_cursor(run_id: str, kinds: list[str], i: int, after: str | None) -> str:
    raw = json.dumps({"r": run_id, "k": kinds, "i": i, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        c = json.loads(raw)
        if (isinstance(c, dict) and isinstance(c.get("r"), str) and re.match(ID_PATTERN, c["r"])
                and isinstance(c.get("k"), list)
                and isinstance(c.get("i"), int) and (c.get("a") is None or isinstance(c.get("a"), str))):
            return c
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise ApiError(422, "invalid_parameter", "invalid cursor: pass next_cursor from the previous page unchanged")


def _redact(url: str) -> str:
    return url.split("@")[-1] if "://" in url and "@" in url else url


app = create_app()
