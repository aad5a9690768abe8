"""Responses cached per run: an LRU of encoded JSON (and its gzip copy), the ETag rule, the ASGI front that
answers a cached GET before routing, and :func:`respond`, the one way a route produces a cached response."""
from __future__ import annotations

import gzip
import json
import time
from collections import OrderedDict
from typing import Any, Callable

from fastapi import Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from .paths import relative_paths


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


_ADAPTERS: dict[Any, TypeAdapter] = {}


def _adapter(model: Any) -> TypeAdapter:
    if model not in _ADAPTERS:
        _ADAPTERS[model] = TypeAdapter(model)
    return _ADAPTERS[model]


def cache_key(run_id: str, scope) -> tuple:
    """(run, path, query): the query is the canonical one QueryGuard left in the scope (known names,
    each once, sorted), so two spellings of one request share an entry and junk never makes one."""
    return run_id, scope.get("root_path", "") + scope["path"], scope.get("query_string", b"")


class CacheFront:
    """ASGI front: a GET whose response for the active run is cached is answered here, before routing
    and parameter validation (it was validated when it was cached). Anything else goes to the app."""

    def __init__(self, app, ctx, cache_control: str) -> None:
        self.app, self.ctx, self.cache_control = app, ctx, cache_control

    async def __call__(self, scope, receive, send):
        ctx = self.ctx
        if (scope["type"] == "http" and scope["method"] == "GET" and ctx._pointer
                and time.monotonic() - ctx._pointer_at < ctx.pointer_ttl_s):
            run_id = ctx._pointer["run_id"]
            entry = ctx.cache.get(cache_key(run_id, scope))
            if entry is not None:
                headers = dict((k.lower(), v) for k, v in scope["headers"] if k.lower() in
                               (b"if-none-match", b"accept-encoding"))
                etag = f'"{ctx._pointer.get("data_version") or run_id}"'
                out = [(b"etag", etag.encode()), (b"cache-control", self.cache_control.encode()),
                       (b"x-kaizenlap-run", run_id.encode()), (b"vary", b"Accept-Encoding")]
                if etag_matches(headers.get(b"if-none-match", b"").decode("latin-1") or None, etag):
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


def envelope(head: dict, items: list[tuple[str, str]], tail: dict | None = None) -> bytes:
    """``{**head, "items": [...], **tail}`` as JSON bytes, the items being stored documents' JSON text
    (``(id, text)`` pairs), passed through unchanged: :mod:`kaizenlap.store.build` made them, publishing
    checked them as JSON, and tests/test_api.py checks every one against the response models."""
    parts = [json.dumps(head, separators=(",", ":"))[:-1], ',"items":[', ",".join(t for _, t in items), "]"]
    if tail:
        parts.append("," + json.dumps(tail, separators=(",", ":"))[1:-1])
    parts.append("}")
    return "".join(parts).encode()


def etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def canonical(o: Any) -> Any:
    """``o`` with every mapping's keys sorted: a backend may return a document's fields in any order
    (Firestore does), and the fields a model does not declare are served in the order they come in; sorted,
    one run's response is one byte string under its one ETag."""
    if isinstance(o, dict):
        return {k: canonical(o[k]) for k in sorted(o)}
    if isinstance(o, list):
        return [canonical(v) for v in o]
    return o


async def respond(request: Request, model: Any, produce: Callable[[str], Any], run: dict | None = None) -> Response:
    """Cached, ETagged JSON of ``produce(run_id)`` (called in a thread) validated by ``model``, for the active
    run or ``run`` (a cursor's)."""
    ctx, cache_control = request.app.state.ctx, request.app.state.cache_control
    run = run or await ctx.active()
    run_id = run["run_id"]
    etag = f'"{run.get("data_version") or run_id}"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "X-KaizenLap-Run": run_id, "Vary": "Accept-Encoding"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    key = cache_key(run_id, request.scope)
    entry = ctx.cache.get(key)
    if entry is None:
        data = await ctx.io(produce, run_id)
        if isinstance(data, dict):       # server paths (source files in ledgers) relative to the data root
            data = canonical(relative_paths(data, await ctx.roots(run_id)))
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
