"""``run_pipeline.py run``: every task of the engine registry for every race (and track), executed as
papermill notebooks in warm kernels, in parallel, incrementally.

Modules: :mod:`.scheduler` (``run``: ingest once, plan, start each task when what it reads has finished,
record), :mod:`.fingerprints` (the plan, fingerprints, reuse of earlier runs), :mod:`.kernels` (the
project's kernelspec, warm kernels and the papermill engine that uses them, HTML export),
:mod:`.kernel_side` (what runs inside a warm kernel: warm-up and reset), :mod:`.executors` (local
warm-kernel pool, Dask), :mod:`.index` (``index.html`` and the printed summary), :mod:`.tasks` (``Task``,
``TaskError``, ``RunResult``). The store side of a run is :class:`kaizenlap.store.run.StoreRun`.
"""
from __future__ import annotations

from ..engines.registry import race_tasks, registry, task_names, track_tasks
from .fingerprints import library_hash, notebook_hash, plan, race_hash
from .index import render_index, summary_lines
from .kernels import KERNEL_NAME, ensure_kernel, export_html
from .scheduler import run
from .tasks import OK_STATUSES, RunResult, Task, TaskError


def __getattr__(name: str):
    # Derived from the engine registry (kept for callers of the old module-level constants).
    if name == "NOTEBOOKS":
        return {n: s.notebook for n, s in registry().items() if s.scope == "race"}
    if name == "RACE_ENGINES":
        return race_tasks()
    if name == "TRACK_TASKS":
        return {n: s.engine for n, s in registry().items() if s.scope == "track"}
    if name == "ALL_TASKS":
        return task_names()
    if name == "StoreRun":
        from ..store.run import StoreRun
        return StoreRun
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["run", "plan", "ensure_kernel", "export_html", "render_index", "summary_lines", "RunResult", "Task",
           "TaskError", "library_hash", "notebook_hash", "race_hash", "KERNEL_NAME", "OK_STATUSES"]
