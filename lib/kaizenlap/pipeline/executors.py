"""Where tasks execute: one interface, two executors.

:class:`LocalPool` (default): a pool of worker processes on this machine, each with its own warm kernel
(or, ``fresh=True``, a kernel per notebook). :class:`DaskExecutor` (``run --scheduler tcp://HOST:PORT``):
the same tasks on a Dask ``distributed`` cluster, each Dask worker thread keeping its own warm kernel.
Either way a task is :func:`kaizenlap.pipeline.kernels.execute_task` on a spec of plain values (paths
the workers can reach, parameters); its result says ``ok``/``failed`` and which files it wrote.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os

from kaizenlap.pipeline.kernels import die_with_parent, execute_task, shutdown_kernels
from kaizenlap.tasks.model import TaskError


def _failed(exc: BaseException) -> dict:
    return {"status": "failed", "duration_s": None, "files": {}, "error": TaskError.from_exception(exc), "worker": {}}


class Executor:
    """``submit(key, spec)``; ``wait(timeout)`` -> ``[(key, result)]`` finished since the last call;
    ``pending``; ``close()``."""
    description = ""

    def submit(self, key: str, spec: dict) -> None:
        raise NotImplementedError

    def wait(self, timeout: float) -> list[tuple[str, dict]]:
        raise NotImplementedError

    futures: dict                               # future -> task key, of the tasks still running

    @property
    def pending(self) -> int:
        return len(self.futures)

    def close(self) -> None:
        pass

    def _collect(self, done) -> list[tuple[str, dict]]:
        """The results of the finished futures ``done``; a future that raised (its worker died, the task
        was lost) is a failed task, never an exception out of the scheduler."""
        out = []
        for fut in done:
            key = self.futures.pop(fut)
            try:
                out.append((key, fut.result()))
            except BaseException as exc:  # noqa: BLE001
                out.append((key, _failed(exc)))
        return out


def _init_worker(log_path: str) -> None:
    """A local pool worker: its noise (and its kernels') goes to the run's log; it dies with the pipeline
    process, even on ``kill -9``, and its kernel with it; a normal exit shuts its kernel down."""
    from multiprocessing.util import Finalize

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    die_with_parent()
    Finalize(None, shutdown_kernels, exitpriority=100)


class LocalPool(Executor):
    def __init__(self, workers: int, log_path: str) -> None:
        ctx = multiprocessing.get_context("spawn")   # no fork of a process with threads (tqdm, pandas)
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                           initargs=(log_path,))
        self.futures: dict[cf.Future, str] = {}
        self.description = f"local pool of {workers} worker process(es)"

    def submit(self, key: str, spec: dict) -> None:
        self.futures[self.pool.submit(execute_task, spec)] = key

    def wait(self, timeout: float) -> list[tuple[str, dict]]:
        done, _ = cf.wait(list(self.futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return self._collect(done)

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """Tasks on a Dask ``distributed`` cluster at ``address`` (``tcp://HOST:PORT``). The workers must
    reach the same paths (reports folder, data) and the same store as this process."""

    def __init__(self, address: str, run_id: str) -> None:
        from distributed import Client
        self.client = Client(address, timeout="30s")
        self.run_id = run_id
        self.futures: dict = {}
        n = len(self.client.scheduler_info().get("workers", {}))
        self.description = f"Dask cluster {address} ({n} worker(s))"

    def submit(self, key: str, spec: dict) -> None:
        fut = self.client.submit(execute_task, spec, key=f"kaizenlap-{self.run_id}-{key}", pure=False, retries=0)
        self.futures[fut] = key

    def wait(self, timeout: float) -> list[tuple[str, dict]]:
        from distributed import wait
        from distributed.utils import TimeoutError as DaskTimeout
        try:
            done, _ = wait(list(self.futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except (DaskTimeout, TimeoutError):
            return []
        return self._collect(done)

    def close(self, cancel: bool = False) -> None:
        try:
            if self.futures:
                self.client.cancel(list(self.futures))
        finally:
            self.client.close()
