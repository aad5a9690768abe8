"""``run_pipeline.py run``: every task of the engine registry for every race (and track), executed as
papermill notebooks in warm kernels, in parallel, incrementally.

Modules: :mod:`.scheduler` (``run``: ingest once, plan, start each task when what it reads has finished,
record), :mod:`.reuse` (reuse of earlier runs' tasks), :mod:`.kernels` (the project's kernelspec, warm
kernels and the papermill engine that uses them, HTML export), :mod:`.kernel_side` (what runs inside a warm
kernel: warm-up and reset), :mod:`.executors` (local warm-kernel pool, Dask), :mod:`.index` (``index.html``
and the printed summary), :mod:`.manifest` (``results.json``). The plan, the task model and the store side
of a run are the tasks layer's (:mod:`kaizenlap.tasks`).
"""
from __future__ import annotations

from kaizenlap.pipeline.index import render_index, summary_lines
from kaizenlap.pipeline.kernels import KERNEL_NAME, ensure_kernel, export_html
from kaizenlap.pipeline.scheduler import run

__all__ = ["run", "ensure_kernel", "export_html", "render_index", "summary_lines", "KERNEL_NAME"]
