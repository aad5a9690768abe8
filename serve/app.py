"""KaizenLap read-only API (FastAPI) and the static web build: the app assembled from its parts.

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

Parts: :mod:`serve.routes` (one router per OpenAPI tag, then the static routes), :mod:`serve.caching`
(response cache, ETag, :func:`~serve.caching.respond`), :mod:`serve.context` (store and active-run pointer),
:mod:`serve.security` (the hardening fronts), :mod:`serve.paths` (path redaction, safe static files),
:mod:`serve.errors` (the error shape).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaizenlap.core import __version__
from kaizenlap.core.settings import load as load_settings
from kaizenlap.store import Store

from .caching import CacheFront, envelope
from .context import Context
from .errors import ApiError, error_response
from .paths import data_roots, relative_paths
from .routes import ROUTERS
from .security import QueryGuard, RequestLimits, SecurityHeaders, serve_config

__all__ = ["app", "create_app", "data_roots", "envelope", "relative_paths"]

WEB_DIR = Path(__file__).resolve().parent / "web"
BUILT_WEB_DIR = Path(__file__).resolve().parents[1] / "web" / "dist"
log = logging.getLogger("kaizenlap.serve")


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

    app = FastAPI(title="KaizenLap API", version=__version__, docs_url=None, redoc_url=None,
                  description="Read-only driver-coaching analytics for the Toyota GR Cup. Every number that is "
                              "an estimate carries its 95% interval and sample size (Estimate).")
    app.state.ctx = ctx
    app.state.cache_control = cache_control
    app.state.web_root = Path(web_dir or cfg.web_dir
                              or (BUILT_WEB_DIR if (BUILT_WEB_DIR / "index.html").is_file() else WEB_DIR)).resolve()
    app.state.reports_root = Path(reports_dir or cfg.reports).resolve()

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return error_response(422, "invalid_parameter", "invalid request parameter(s)", json.loads(json.dumps(
            detail, default=str)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "not found" if exc.status_code == 404 else str(exc.detail)   # never the requested path
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        """An unexpected fault: the traceback to the log, a JSON 500 without it (or any detail) to the client."""
        log.error("unexpected fault serving %s", request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal server error")

    for router in ROUTERS:
        app.include_router(router)

    config = serve_config()
    app.add_middleware(CacheFront, ctx=ctx, cache_control=cache_control)     # innermost of the fronts
    app.add_middleware(QueryGuard, routes=[r for router in ROUTERS for r in router.routes], config=config)
    app.add_middleware(RequestLimits, config=config)
    app.add_middleware(SecurityHeaders, config=config)                      # outermost: every response
    return app


app = create_app()
