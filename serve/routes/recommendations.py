"""``recommendations``: every engine's recommendations filtered and paginated, each page and the pages its
cursor leads to read from one run."""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Optional

from fastapi import APIRouter, Query, Request

from kaizenlap.core.ids import ID_PATTERN
from kaizenlap.store import RECOMMENDATION_COLLECTIONS
from kaizenlap.store.base import LAP_SCOPED
from kaizenlap.store.ingest_documents import lap_section_ids

from .. import models as M
from ..caching import envelope, respond
from ..errors import CACHED, ERRORS, ApiError
from .common import store_of

REC_ORDER = ("section", "weather", "pattern", "coaching")
MAX_LIMIT = 1000

router = APIRouter(tags=["recommendations"])


@router.get("/recommendations", response_model=M.RecommendationPage,
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
    ctx, st = request.app.state.ctx, store_of(request)
    run = None
    start: tuple[int, str | None] = (0, None)
    kinds = [type] if type else list(REC_ORDER)
    if cursor:
        c = decode_cursor(cursor)
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
                        {"next_cursor": encode_cursor(rid, kinds, *nxt) if nxt else None})
    return await respond(request, M.RecommendationPage, produce, run=run)


def encode_cursor(run_id: str, kinds: list[str], i: int, after: str | None) -> str:
    raw = json.dumps({"r": run_id, "k": kinds, "i": i, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict:
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
