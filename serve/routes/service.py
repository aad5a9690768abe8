"""``service``: health and the runs in the store. Never cached."""
from __future__ import annotations

import json

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kaizenlap.core import __version__
from kaizenlap.store import StoreError

from .. import models as M
from ..errors import ERRORS, ApiError
from ..paths import public_run, redact_url, relative_paths

router = APIRouter(tags=["service"])


@router.get("/health", response_model=M.Health, responses={503: {"model": M.Health}})
async def health(request: Request):
    """Service status: store reachable, active run, data version. Never cached."""
    ctx = request.app.state.ctx
    store_info = {"backend": "unknown", "url": redact_url(ctx.store_url or ""), "reachable": False, "error": None}
    ptr = None
    try:
        store = await anyio.to_thread.run_sync(lambda: ctx.store)
        store_info.update(backend=store.backend, url=redact_url(store.url))
        await anyio.to_thread.run_sync(store.ping)
        store_info["reachable"] = True
        ptr = await ctx.pointer(force=True)
    except (StoreError, ApiError, ValueError, OSError) as exc:
        store_info["error"] = relative_paths(str(getattr(exc, "message", exc)), [])   # no server folder named
    status = "unavailable" if not store_info["reachable"] else ("ok" if ptr else "no_data")
    failed = []
    if ptr:
        try:
            failed = failed_tasks(await ctx.run(ptr["run_id"]))
        except ApiError:                 # pruned between the two reads: the next call sees the new run
            pass
    body = M.Health(status=status, store=M.StoreHealth(**store_info), active_run_id=(ptr or {}).get("run_id"),
                    data_version=(ptr or {}).get("data_version"), published_at=(ptr or {}).get("published_at"),
                    failed_tasks=failed, version=__version__)
    return JSONResponse(body.model_dump(), status_code=200 if store_info["reachable"] else 503,
                        headers={"Cache-Control": "no-store"})


def failed_tasks(run: dict) -> list[dict]:
    """The run's failed tasks, each with the run whose documents the app serves for it (carried forward when
    the run was published) or why none are."""
    carried = {r["task"]: r for r in ((run.get("carried") or {}).get("for_failed") or [])}
    out = []
    for f in run.get("failed_tasks") or []:
        c = carried.get(f.get("task"), {})
        out.append({"task": f.get("task"), "served_from_run": c.get("from_run") if c.get("carried") else None,
                    "reason": None if c.get("carried") else c.get("reason", "the task failed")})
    return out


@router.get("/runs", response_model=M.RunList, responses=ERRORS)
async def runs(request: Request):
    """Runs in the store (status, counts, failed tasks) and the active run id."""
    ctx = request.app.state.ctx
    ptr = await ctx.pointer()
    items = [public_run(r) for r in await ctx.io(lambda: ctx.store.list_runs())]
    body = M.RunList(active_run_id=(ptr or {}).get("run_id"), items=items)
    return JSONResponse(json.loads(body.model_dump_json(by_alias=True)), headers={"Cache-Control": "no-store"})
