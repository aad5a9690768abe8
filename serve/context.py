"""Per-app state the routes share: the store (opened on first use), the active-run pointer re-read at most
every ``pointer_ttl_s``, the runs a cursor may name, each run's data roots, and the response cache."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable

import anyio

from kaizenlap.core import params as kparams
from kaizenlap.store import Store, StoreError, open_store

from .caching import ResponseCache
from .errors import ApiError
from .paths import data_roots


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
