"""``live``: a race replayed (or fed) live, from the store's event log (``kaizenlap.live`` writes it).

``GET /live/{race_id}/events`` is a server-sent event stream: ``retry:`` first, then an ``initial`` event (the
full state folded from the store up to the latest id), an ``update`` per crossing (the crossing and the JSON
Patch of the state) and an ``end`` when the feed ends, each with its ``id:``; a ``: keep-alive`` comment every
``live.keepalive_s`` (params/serve.yaml) of silence. With ``Last-Event-ID`` (the header a browser's EventSource
sends when it reconnects, or ``?last_event_id=``) the stream resumes with the events after that id and no
``initial``; a stream whose ``end`` the client has seen is 204 (EventSource stops reconnecting). Everything comes
from the store, so any instance, or one restarted, resumes a stream where another left it. Never cached: the
response cache only answers what :func:`serve.caching.respond` put in it, and the fronts pass a stream through
message by message.
"""
from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from kaizenlap.store.base import dumps, fold_live

from .. import models as M
from ..errors import ERRORS, not_found
from ..security import serve_config
from .common import id_path, store_of

router = APIRouter(tags=["live"], responses=ERRORS)

NO_STORE = {"Cache-Control": "no-store"}
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def live_config(request: Request) -> dict:
    """params/serve.yaml ``live`` (an app may override it: ``app.state.live_config``)."""
    return getattr(request.app.state, "live_config", None) or serve_config()["live"]


class _Fold:
    """One race's state folded from the store up to ``last_id``, shared by the app's streams."""

    def __init__(self) -> None:
        self.state: dict | None = None
        self.last_id = 0
        self.ended = False
        self.lock = asyncio.Lock()


def _folds(request: Request) -> dict[str, _Fold]:
    folds = getattr(request.app.state, "live_folds", None)
    if folds is None:
        folds = request.app.state.live_folds = {}
    return folds


async def _current(request: Request, race_id: str) -> tuple[dict | None, int, bool]:
    """(state JSON text source, last id, ended) now: the cached fold advanced by the events since."""
    ctx, st = request.app.state.ctx, store_of(request)
    fold = _folds(request).setdefault(race_id, _Fold())
    async with fold.lock:
        while True:
            events = await ctx.io(lambda: st().live_events(race_id, fold.last_id, 2000))
            if not events:
                break
            fold.state = fold_live(events, fold.state)
            fold.last_id = events[-1]["id"]
            kinds = [e["kind"] for e in events]
            if "initial" in kinds:
                fold.ended = False
            fold.ended = fold.ended or kinds[-1] == "end"
        return (json.loads(dumps(fold.state)) if fold.state is not None else None), fold.last_id, fold.ended


def _sse(event: str, event_id: int, data: dict) -> bytes:
    return f"event: {event}\nid: {event_id}\ndata: {dumps(data)}\n\n".encode()


@router.get("/live/{race_id}", response_model=M.LiveSnapshot, responses={200: {"headers": {
    "Cache-Control": {"description": "no-store", "schema": {"type": "string"}}}}})
async def live_state(request: Request, race_id: str = id_path("race id, e.g. barber-r1")):
    """The live state of a race now (the fold of its events), for a client that polls. 404: never live."""
    state, last_id, ended = await _current(request, race_id)
    if state is None:
        raise not_found(f"live events of race {race_id!r}")
    return JSONResponse({"race_id": race_id, "last_event_id": last_id, "ended": ended, "state": state},
                        headers=NO_STORE)


@router.get("/live/{race_id}/events.json", response_model=M.LiveEventPage)
async def live_events(request: Request, race_id: str = id_path("race id"),
                      after: int = Query(0, ge=0, le=2**53, description="events with an id above this"),
                      limit: int = Query(500, ge=1, le=2000)):
    """The stored events after an id, by id (the stream's events as JSON). 404: never live."""
    ctx, st = request.app.state.ctx, store_of(request)
    events = await ctx.io(lambda: st().live_events(race_id, after, limit))
    last = await ctx.io(lambda: st().live_last_id(race_id))
    if not last:
        raise not_found(f"live events of race {race_id!r}")
    return JSONResponse(json.loads(dumps({"race_id": race_id, "last_event_id": last, "items": events})),
                        headers=NO_STORE)


@router.get("/live/{race_id}/events", response_class=StreamingResponse, responses={
    200: {"description": "server-sent events (text/event-stream): `initial` (data: {race_id, state}), `update` "
                         "(data: {crossing, patch}), `end` (data: {reason, crossings}); each with `id:`; "
                         "`: keep-alive` comments", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    204: {"description": "the client has seen the end of the feed: nothing more will come"}})
async def live_stream(request: Request, race_id: str = id_path("race id, e.g. barber-r1"),
                      last_event_id: int = Query(None, ge=0, le=2**53,
                                                           description="resume after this id (as the header)"),
                      last_event_id_header: int = Header(None, alias="Last-Event-ID", ge=0, le=2**53,
                                                                   description="resume after this id (EventSource)")):
    """The race live: an initial state, then an update per crossing (server-sent events), resumable by id."""
    ctx, st = request.app.state.ctx, store_of(request)
    cfg = live_config(request)
    after = last_event_id_header if last_event_id_header is not None else last_event_id
    state, latest, ended = await _current(request, race_id)
    if latest == 0:
        raise not_found(f"live events of race {race_id!r}")
    if after is not None and after >= latest and ended:
        return Response(status_code=204, headers=NO_STORE)
    if after is not None and after > latest:
        after = None                       # an id this store never gave (another store): start again
    poll_s, keepalive_s = float(cfg["poll_s"]), float(cfg["keepalive_s"])

    async def stream():
        yield f"retry: {int(cfg['retry_ms'])}\n\n".encode()
        last = after
        if last is None:
            yield _sse("initial", latest, {"race_id": race_id, "state": state, "ended": ended})
            if ended:
                return
            last = latest
        quiet_since = time.monotonic()
        while True:
            events = await ctx.io(lambda: st().live_events(race_id, last, 500))
            for ev in events:
                kind = ev["kind"]
                data = {"race_id": race_id, "state": ev["data"]["state"], "ended": False} if kind == "initial" \
                    else ev["data"]
                yield _sse(kind, ev["id"], data)
                last = ev["id"]
                if kind == "end":
                    return
            if events:
                quiet_since = time.monotonic()
                continue
            if time.monotonic() - quiet_since >= keepalive_s:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(poll_s)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)
