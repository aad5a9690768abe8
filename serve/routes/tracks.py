"""``tracks``: the tracks of the active run and a track's pooled composite."""
from __future__ import annotations

from fastapi import APIRouter, Request

from kaizenlap.core.ids import doc_id

from .. import models as M
from ..caching import respond
from ..errors import CACHED, ERRORS
from .common import id_path, one, store_of

router = APIRouter(tags=["tracks"], responses={**ERRORS, **CACHED})


@router.get("/tracks", response_model=M.TrackList)
async def tracks(request: Request):
    """Every track: name, length, sector lengths, map outline when known, races in the store."""
    st = store_of(request)
    return await respond(request, M.TrackList, lambda rid: {"run_id": rid, "items": st().query(rid, "tracks")})


@router.get("/tracks/{track_id}", response_model=M.Track)
async def track(request: Request, track_id: str = id_path("track id, e.g. barber")):
    return await respond(request, M.Track, one(store_of(request), "tracks", track_id, f"track {track_id!r}"))


@router.get("/tracks/{track_id}/composite", response_model=M.Composite)
async def track_composite(request: Request, track_id: str = id_path("track id")):
    """Best-case composite of a track's races pooled (only when the track has several races)."""
    return await respond(request, M.Composite, one(store_of(request), "best_case_composites",
                                                    doc_id("track", track_id), f"track composite for {track_id!r}"))
