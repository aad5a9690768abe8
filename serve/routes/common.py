"""What the data routes share: the store of the request's app, the id path parameter, and producers that
read one document or 404 naming what is missing."""
from __future__ import annotations

from typing import Callable

from fastapi import Path as PathParam, Request

from kaizenlap.core.ids import ID_PATTERN
from kaizenlap.store import Store

from ..errors import not_found


def store_of(request: Request) -> Callable[[], Store]:
    """The app's store, opened on first use (in the worker thread that first reads it)."""
    ctx = request.app.state.ctx
    return lambda: ctx.store


def id_path(description: str):
    return PathParam(..., pattern=ID_PATTERN, max_length=200, description=description)


def race_doc(st: Callable[[], Store], rid: str, race_id: str) -> dict:
    doc = st().get(rid, "races", race_id)
    if doc is None:
        raise not_found(f"race {race_id!r}")
    return doc


def one(st: Callable[[], Store], collection: str, doc_key: str, what: str, race_id: str | None = None):
    """A producer for one document by id: 404 naming ``what`` when it is absent (naming the race
    instead when ``race_id`` is given and the race itself is unknown)."""
    def produce(rid):
        doc = st().get(rid, collection, doc_key)
        if doc is None:
            if race_id is not None:
                race_doc(st, rid, race_id)
            raise not_found(what)
        return doc
    return produce
