"""Hardening fronts (``params/serve.yaml``), outermost first: :class:`SecurityHeaders` on every response,
:class:`RequestLimits` (GET/HEAD only, path and body limits), :class:`QueryGuard` (unknown or repeated query
parameters are 422; the canonical query keys the response cache)."""
from __future__ import annotations

from typing import Any, Sequence
from urllib.parse import parse_qsl, urlencode

from starlette.routing import BaseRoute, Match

from kaizenlap.core import params as kparams

from .errors import send_error


def serve_config() -> dict:
    """``params/serve.yaml``: security headers, request limits, cache policy."""
    return kparams.load("serve")


def security_headers(config: dict) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (``params/serve.yaml`` ``security``), as ASGI header pairs."""
    sec = config["security"]
    return [(b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", sec["referrer_policy"].encode()),
            (b"x-frame-options", sec["frame_options"].encode()),
            (b"content-security-policy", " ".join(sec["content_security_policy"].split()).encode())]


class SecurityHeaders:
    """Outermost ASGI front: every response gets nosniff, Referrer-Policy, X-Frame-Options and the CSP,
    and a Cache-Control when the route set none: ``/assets/*`` (content-hashed) immutable, other
    successful static responses ``no-cache``, errors ``no-store``."""

    def __init__(self, app, config: dict) -> None:
        self.app = app
        cache = config["cache"]
        self.headers = security_headers(config)
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
            return await send_error(send, 405, "method_not_allowed", "the API is read-only: GET and HEAD only",
                                     extra=[(b"allow", ", ".join(sorted(self.methods)).encode())])
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        if len(raw_path) > self.max_path:
            return await send_error(send, 414, "uri_too_long", f"path longer than {self.max_path} bytes")
        headers = dict((k.lower(), v) for k, v in scope.get("headers", []))
        length = headers.get(b"content-length", b"0").strip() or b"0"
        if not length.isdigit() or int(length) > self.max_body or b"transfer-encoding" in headers:
            return await send_error(send, 413, "body_not_allowed",
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
    response cache. Routes outside the OpenAPI schema (the static web build) are passed through. ``routes``
are the routers' own routes (the app's list holds the included routers, not their routes)."""

    def __init__(self, app, routes: Sequence[BaseRoute], config: dict) -> None:
        self.app, self.routes = app, list(routes)
        self.max_query = config["limits"]["max_query_bytes"]
        self._allowed: dict[Any, frozenset] = {}

    async def _too_long(self, scope, send) -> bool:
        if len(scope.get("query_string", b"")) > self.max_query:
            await send_error(send, 414, "uri_too_long", f"query longer than {self.max_query} bytes")
            return True
        return False

    def allowed(self, scope) -> frozenset | None:
        for route in self.routes:
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
            return await send_error(send, 422, "invalid_parameter", "too many query parameters")
        names = [n for n, _ in pairs]
        unknown = sorted({n for n in names if n not in allowed})
        repeated = sorted({n for n in names if names.count(n) > 1} - set(unknown))
        if unknown or repeated:
            detail = [{"loc": ["query", _clip(n)], "msg": "unknown parameter", "type": "extra_forbidden"}
                      for n in unknown[:10]]
            detail += [{"loc": ["query", _clip(n)], "msg": "parameter given more than once", "type": "repeated"}
                       for n in repeated[:10]]
            accepted = ", ".join(sorted(allowed)) or "none"
            return await send_error(send, 422, "invalid_parameter",
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
